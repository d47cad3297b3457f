//! The `zoe` binary: parse the command line, set up logging, load the config, run the subcommand.
//! Everything else lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use zoe::cli::{BenchCommand, Cli, Command, ModelsCommand, WakeCommand};
use zoe::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,zoe=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zoe: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
    let cfg = Arc::new(Config::load(&overrides)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Chat(args) => {
            let ended = rt.block_on(zoe::chat::run(cfg, args.options(), ctrl_c()))?;
            Ok(exit_code(ended))
        }
        Command::Listen(args) => {
            let ended = rt.block_on(zoe::listen::run(cfg, args.session.options(), shutdown()))?;
            Ok(exit_code(ended))
        }
        Command::Devices => {
            zoe::capture::list_devices();
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => {
            let ended = rt.block_on(zoe::replay::run(
                cfg,
                args.files,
                args.realtime,
                args.session.options(),
                ctrl_c(),
            ))?;
            Ok(exit_code(ended))
        }
        Command::Transcribe { files } => {
            rt.block_on(zoe::models::ensure_whisper(&cfg))?;
            let failed = zoe::replay::transcribe(&cfg, &files)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Models(ModelsCommand::Fetch { whisper, mirror }) => {
            rt.block_on(zoe::models::fetch_all(
                &cfg.models_dir,
                &whisper,
                mirror.as_deref(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::List) => {
            zoe::models::list(&cfg.models_dir);
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => {
            let failures = rt.block_on(zoe::doctor::run(&cfg));
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench(BenchCommand::Stt {
            shared,
            sections,
            limit,
            models,
            settings,
        }) => {
            if let Some(bad) = sections
                .iter()
                .find(|s| !zoe::bench::stt::SECTIONS.contains(&s.as_str()))
            {
                anyhow::bail!(
                    "unknown section {bad:?}; the sections are {}",
                    zoe::bench::stt::SECTIONS.join(", ")
                );
            }
            let args = zoe::bench::stt::Args {
                shared,
                sections,
                limit,
                models,
                settings,
            };
            rt.block_on(zoe::bench::stt::run(cfg, args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Actions { turns }) => {
            rt.block_on(zoe::bench::actions(cfg, turns))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Chat { turns }) => {
            rt.block_on(zoe::bench::chat(cfg, turns))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Train(args)) => {
            rt.block_on(zoe::models::ensure_wake(&cfg))?;
            zoe::wake::commands::train_cmd(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Enroll {
            samples,
            from,
            train,
        }) => {
            rt.block_on(zoe::models::ensure_wake(&cfg))?;
            let tmp = tempfile::tempdir()?;
            let recordings = if from.is_empty() {
                zoe::wake::commands::record_samples(&cfg, samples, tmp.path())?
            } else {
                from
            };
            zoe::wake::commands::enroll_with(&cfg, &recordings, &train)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wake(WakeCommand::Scores { files }) => {
            rt.block_on(zoe::models::ensure_wake(&cfg))?;
            let failed = zoe::wake::commands::scores_cmd(&cfg, &files)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench(BenchCommand::Wake {
            positives,
            negatives,
        }) => {
            rt.block_on(zoe::models::ensure_wake(&cfg))?;
            zoe::bench::wake(&cfg, positives, &negatives)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config => {
            println!("{cfg:#?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit_code(ended: zoe::chat::Ended) -> ExitCode {
    match ended {
        zoe::chat::Ended::EndOfInput => ExitCode::SUCCESS,
        zoe::chat::Ended::Interrupted => ExitCode::from(130),
    }
}

/// A TOML string literal (device names may hold quotes or colons).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Ctrl-C, or SIGTERM (systemd stopping the service).
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    ctrl_c().await
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
