//! The commands: everything a user starts, and the only place that prints to the terminal
//! (replies go to stdout through the engine; one-line problems to stderr). Each command builds a
//! session with [`session`] and runs until its input ends or the shutdown signal.
//!
//! - [`cli`]: clap definitions → config overrides and session options.
//! - [`session`]: the one session setup (engine, speech, store, warm start, scheduler, STT,
//!   pipeline) and its ordered end.
//! - [`chat`], [`listen`], [`replay`]: the three ways in (typed text, the microphone, WAV files).
//! - [`input`]: bounded line reading from stdin (the `zoe-stdin` thread).
//! - [`doctor`]: `zoe doctor`, the set-up checks.
//! - [`models`]: the model catalogue and the resumable, verified downloader.
//! - [`wake`]: `zoe wake train|enroll|scores`.
//! - [`serve`]: `zoe serve`, the Wyoming server for Home Assistant; [`rooms`]: the satellites it
//!   answers, each a room with its own voice session.
//! - [`calendar`]: `zoe calendar export|import` (iCalendar files).
//! - [`bench`]: `zoe bench chat|actions|wake|stt`.

#[cfg(feature = "doubles")]
pub mod bench;
pub mod calendar;
pub mod chat;
pub mod cli;
pub mod doctor;
pub mod input;
pub mod jetson;
pub mod listen;
pub mod models;
pub mod replay;
pub mod rooms;
pub mod serve;
pub mod session;
pub mod wake;

/// `zoe devices`: input and output devices with their default formats, on stdout.
pub fn print_devices() {
    let (inputs, outputs) = crate::audio::devices::list();
    for (kind, devices) in [("input", inputs), ("output", outputs)] {
        println!("{kind} devices:");
        match devices {
            Err(e) => println!("  (cannot list: {e})"),
            Ok(list) if list.is_empty() => println!("  (none)"),
            Ok(list) => {
                for d in list {
                    let mark = if d.is_default { " (default)" } else { "" };
                    println!("  {}{mark}: {}", d.name, d.format);
                }
            }
        }
    }
}

/// Names of the threads still running besides the calling one (Linux: `/proc/self/task`; empty
/// elsewhere).
pub fn threads_left() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    // /proc/thread-self links to "PID/task/TID": the calling thread's own entry.
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_owned()));
    let mut names = Vec::new();
    for t in tasks.flatten() {
        if Some(t.file_name()) == me {
            continue;
        }
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        names.push(name.trim().to_string());
    }
    names.sort();
    names
}

/// At exit, after the runtime is shut down: says (at info) that every thread was joined, or warns
/// naming the ones still running. `zoe-stdin`, blocked in a `read` nothing can wake, is the one
/// thread left on purpose (`zoe chat`).
pub fn report_threads_left() {
    let left: Vec<String> = threads_left()
        .into_iter()
        .filter(|n| n != "zoe-stdin")
        .collect();
    if left.is_empty() {
        tracing::info!("every thread joined");
    } else {
        tracing::warn!("threads still running at exit: {}", left.join(", "));
    }
}
