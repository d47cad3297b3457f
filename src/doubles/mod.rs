//! Test doubles that `zoe bench` also uses, so they live in the library behind the `doubles`
//! feature (on by default; a deployment can build with `--no-default-features`):
//!
//! - [`standin`]: an Ollama stand-in speaking the `/api/chat` wire format, with scripted timing
//!   and faults (the one stand-in: no Ollama runs in tests).
//! - [`model_gen`]: random-weight whisper models, for tests that must run whisper but ignore what
//!   it writes.

pub mod model_gen;
pub mod standin;
