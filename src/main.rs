//! The `zoe` binary: parse the command line, set up logging, load the config, run the subcommand.
//! Everything else lives in the library.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
#[cfg(feature = "doubles")]
use zoe::app::cli::BenchCommand;
use zoe::app::cli::{CalendarCommand, Cli, Command, ModelsCommand, WakeCommand};
use zoe::config::Config;
use zoe::dialogue::Ended;
use zoe::shutdown::Shutdown;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zoe: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The one shutdown signal: Ctrl-C or SIGTERM (systemd stopping the service).
    let shutdown = Shutdown::new();
    let s = shutdown.clone();
    // Only the sessions watch the signal (they stop their threads and exit 130); any other
    // command (a bench, training, a download: resumable) ends at once with the same status.
    let watched = matches!(
        cli.command,
        Command::Chat(_) | Command::Listen(_) | Command::Replay(_) | Command::Serve(_)
    );
    let signalled = {
        let _in = rt.enter();
        signal()
    };
    rt.spawn(async move {
        tokio::select! {
            _ = signalled => {
                if !watched {
                    eprintln!("zoe: interrupted");
                    std::process::exit(130);
                }
                s.trigger()
            }
            _ = s.wait() => {}
        }
    });
    let result = run(cli, &rt, &shutdown);
    shutdown.trigger();
    rt.shutdown_timeout(Duration::from_millis(500));
    zoe::audio::close::wait_closed(Duration::from_millis(500));
    zoe::speech::tts::espeak::terminate();
    zoe::app::report_threads_left();
    match result {
        Ok(code) => code,
        Err(e) => {
            // The last line: why Zoe stopped (a service's journal shows it last).
            eprintln!("zoe: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Quiet by default: the user sees replies and one-line problems (warnings and errors, without
/// timestamps); `-v` adds what each stage does, `-vv` details; RUST_LOG overrides both.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .init();
        return;
    }
    let directives = match verbose {
        0 => "warn",
        1 => "warn,zoe=info",
        _ => "warn,zoe=debug",
    };
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(directives))
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if verbose == 0 {
        fmt.without_time().with_target(false).init();
    } else {
        fmt.init();
    }
}

fn run(cli: Cli, rt: &tokio::runtime::Runtime, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let mut overrides = cli.global.overrides();
    if let Command::Listen(a) = &cli.command {
        for (key, v) in [
            ("input_device", &a.input_device),
            ("output_device", &a.output_device),
        ] {
            if let Some(name) = v {
                overrides
                    .set
                    .push(format!("audio.{key}={}", toml_string(name)));
            }
        }
    }
    // A model server named on the command line (or in ZOE_LLM_URL): the chat bench runs
    // against it rather than the stand-in.
    #[cfg(feature = "doubles")]
    let server_named = overrides.llm_url.is_some();
    let cfg = Arc::new(Config::load(&overrides)?);
    match cli.command {
        Command::Chat(args) => {
            let ended = rt.block_on(zoe::app::chat::run(cfg, args.options(), shutdown.clone()))?;
            Ok(exit_code(ended))
        }
        Command::Listen(args) => {
            let ended = rt.block_on(zoe::app::listen::run(
                cfg,
                args.session.options(),
                shutdown.clone(),
            ))?;
            Ok(exit_code(ended))
        }
        Command::Devices => {
            zoe::app::print_devices();
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => {
            let ended = rt.block_on(zoe::app::replay::run(
                cfg,
                args.files,
                args.realtime,
                args.session.options(),
                shutdown.clone(),
            ))?;
            Ok(exit_code(ended))
        }
        Command::Transcribe { files } => {
            rt.block_on(zoe::app::models::ensure_whisper(&cfg))?;
            let failed = zoe::app::replay::transcribe(&cfg, &files)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Models(ModelsCommand::Fetch {
            whisper,
            voice,
            mirror,
        }) => {
            rt.block_on(zoe::app::models::fetch_all(
                &cfg.models_dir,
                &whisper,
                voice.as_deref(),
                mirror.as_deref(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::List) => {
            zoe::app::models::list(&cfg.models_dir);
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let failures = rt.block_on(zoe::app::doctor::run(&cfg));
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Calendar(CalendarCommand::Export { file }) => {
            let n = zoe::app::calendar::export(&cfg.store.path, &file)?;
            eprintln!("zoe: wrote {n} events to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Calendar(CalendarCommand::Import { file }) => {
            let read = zoe::app::calendar::import(&cfg.store.path, &file)?;
            eprintln!(
                "zoe: added {} events from {}",
                read.events.len(),
                file.display()
            );
            if read.skipped > 0 {
                eprintln!(
                    "zoe: skipped {} events without a title or a start time",
                    read.skipped
                );
            }
            if !read.first_only.is_empty() {
                eprintln!(
                    "zoe: kept only the first date of {} repeating events whose rule I cannot read: {}",
                    read.first_only.len(),
                    read.first_only.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Train(args)) => {
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            zoe::app::wake::train_cmd(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Enroll {
            samples,
            from,
            other,
            retrain_head,
            train,
        }) => {
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            let tmp = tempfile::tempdir()?;
            let (takes, other) = if from.is_empty() {
                let takes = zoe::app::wake::record_samples(&cfg, samples, tmp.path())?;
                let other = zoe::app::wake::record_other(&cfg, tmp.path())?;
                (takes, other)
            } else if other.is_empty() {
                anyhow::bail!(
                    "with --from, give some of the same voice's other speech too: --other WAV… \
                     (a few sentences without the phrase)"
                );
            } else {
                (from, other)
            };
            let enrolment = zoe::app::wake::Enrolment {
                takes,
                other,
                retrain_head,
            };
            zoe::app::wake::enroll_with(&cfg, &enrolment, &train)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Scores { files }) => {
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            let failed = zoe::app::wake::scores_cmd(&cfg, &files)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        #[cfg(feature = "doubles")]
        Command::Bench(cmd) => bench(cmd, cfg, rt, server_named),
        Command::Serve(args) => {
            let ended = rt.block_on(zoe::app::serve::run(cfg, args, shutdown.clone()))?;
            Ok(exit_code(ended))
        }
        Command::Config => {
            print!("{}", Config::effective_toml(&overrides)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "doubles")]
fn bench(
    cmd: BenchCommand,
    cfg: Arc<Config>,
    rt: &tokio::runtime::Runtime,
    server_named: bool,
) -> anyhow::Result<ExitCode> {
    // A bench starts from nothing the user's Zoe said (`bench latency` keeps its own folder).
    let mut c = (*cfg).clone();
    c.speech.cache_dir = None;
    let cfg = Arc::new(c);
    match cmd {
        BenchCommand::Stt {
            shared,
            sections,
            limit,
            models,
            settings,
        } => {
            if let Some(bad) = sections
                .iter()
                .find(|s| !zoe::app::bench::stt::SECTIONS.contains(&s.as_str()))
            {
                anyhow::bail!(
                    "unknown section {bad:?}; the sections are {}",
                    zoe::app::bench::stt::SECTIONS.join(", ")
                );
            }
            let args = zoe::app::bench::stt::Args {
                shared,
                sections,
                limit,
                models,
                settings,
            };
            rt.block_on(zoe::app::bench::stt::run(cfg, args))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Tts {
            shared,
            voice,
            runs,
        } => {
            let args = zoe::app::bench::tts::Args {
                shared,
                voice,
                runs,
            };
            rt.block_on(zoe::app::bench::tts::run(cfg, args))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Serve {
            shared,
            clients,
            rounds,
            whisper,
        } => {
            let args = zoe::app::bench::serve::Args {
                shared,
                clients,
                rounds,
                whisper,
            };
            rt.block_on(zoe::app::bench::serve::run(cfg, args))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Latency {
            shared,
            quiet_ms,
            limit,
            whisper,
        } => {
            let args = zoe::app::bench::latency::Args {
                shared,
                quiet_ms,
                limit,
                whisper,
            };
            rt.block_on(zoe::app::bench::latency::run(cfg, args))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Turn {
            shared,
            limit,
            list_early,
        } => {
            let args = zoe::app::bench::turn::Args {
                shared,
                limit,
                list_early,
            };
            zoe::app::bench::turn::run(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Intents { file, show } => {
            zoe::app::bench::intents::score(&file, true, &show)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Actions { turns } => {
            rt.block_on(zoe::app::bench::actions(cfg, turns))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Chat { turns } if server_named => {
            rt.block_on(zoe::app::bench::server::run(cfg, turns))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Chat { turns } => {
            rt.block_on(zoe::app::bench::chat(cfg, turns))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::WakeTurns {
            shared,
            requests,
            scenes,
            whisper,
        } => {
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            let args = zoe::app::bench::wake_turns::Args {
                shared,
                requests,
                scenes,
                whisper,
            };
            rt.block_on(zoe::app::bench::wake_turns::run(&cfg, &args))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::FalseWakes {
            shared,
            speech,
            verify_model,
        } => {
            let speech = if speech.is_empty() {
                zoe::app::bench::false_wakes::unseen(&cfg)?
            } else {
                speech
            };
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            let args = zoe::app::bench::false_wakes::Args {
                shared,
                speech,
                verify_model,
            };
            zoe::app::bench::false_wakes::run(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Wake {
            shared,
            train,
            verify_model,
            compare,
        } => {
            rt.block_on(zoe::app::models::ensure_wake(&cfg))?;
            zoe::app::bench::wake::run(&cfg, &shared, &train, &verify_model, &compare)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit_code(ended: Ended) -> ExitCode {
    match ended {
        Ended::EndOfInput => ExitCode::SUCCESS,
        Ended::Interrupted => ExitCode::from(130),
        // The voice commands turn this into an error with its reason before it gets here.
        Ended::Failed => ExitCode::FAILURE,
    }
}

/// A TOML string literal (device names may hold quotes or colons).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Ctrl-C, or SIGTERM (systemd stopping the service), listened for from the moment this returns
/// (the handlers are installed here, not when the future is first polled); never, if neither can
/// be listened for. Call inside the runtime.
fn signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                (Err(_), Err(_)) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
