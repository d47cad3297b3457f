//! `zoe chat`: typed lines from stdin, each one turn through the [`Engine`](crate::dialogue::turn::Engine).
//! The session (speech thread, store, warm start, scheduler) comes from [`Session::start`]; this
//! task is the turn loop, and the `zoe-stdin` thread reads lines. Shutdown is an argument
//! (Ctrl-C in production), so tests and the benchmark can pass their own.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::app::input::{spawn_stdin, InputLine};
use crate::app::session::{Session, SessionOptions};
use crate::config::Config;
use crate::dialogue::turn::TurnInput;
use crate::dialogue::Ended;
use crate::shutdown::Shutdown;

/// Runs `zoe chat` until end of input or `shutdown`.
pub async fn run(
    cfg: Arc<Config>,
    opts: SessionOptions,
    shutdown: Shutdown,
) -> anyhow::Result<Ended> {
    let (session, mut engine, mut announcements) = Session::start(cfg.clone(), &opts, &shutdown)?;
    // The first line is read once the first reply can be as fast as the tenth.
    session.ready(&engine).await;
    let (tx, mut rx) = mpsc::channel(64);
    // The stdin thread blocks in `read`; it is not joined (a blocked read cannot be woken) and
    // ends with the process.
    spawn_stdin(cfg.chat.max_input_chars, tx);
    let ended = loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.wait() => break Ended::Interrupted,
            Some(a) = announcements.recv() => {
                engine.announce(&a);
                continue;
            }
            next = rx.recv() => next,
        };
        let Some((line, at)) = next else {
            break Ended::EndOfInput;
        };
        let turn = async {
            match line {
                InputLine::Line(text) if text.trim().is_empty() => {}
                InputLine::Line(text) => {
                    engine.turn(TurnInput::text(text.trim(), at)).await;
                }
                InputLine::TooLong(bytes) => {
                    let msg = format!(
                        "That's too long for me. Please keep it under {} characters.",
                        cfg.chat.max_input_chars
                    );
                    let input = TurnInput::text(format!("<{bytes} bytes>"), at);
                    engine.refuse(input, &msg, "input_too_long").await;
                }
                InputLine::Error(e) => eprintln!("zoe: reading input failed: {e}"),
            }
        };
        tokio::select! {
            _ = shutdown.wait() => break Ended::Interrupted,
            _ = turn => {}
        }
    };
    session.finish(engine, ended).await;
    Ok(ended)
}
