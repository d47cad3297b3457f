//! The one integration test binary: every end-to-end test, sharing the helpers in `support/`.

mod support;

mod actions;
mod chat;
mod devices;
mod layout;
mod models;
mod real_llm;
mod recognition;
mod serve;
mod service;
mod turn;
mod voice;
mod wake;
