//! The `zoe` binary: parse the command line, set up logging, load the config, run the subcommand.
//! Everything else lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use zoe::cli::{BenchCommand, Cli, Command, ModelsCommand};
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
    let cfg = Arc::new(Config::load(&cli.global.overrides())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Chat(args) => {
            let ended = rt.block_on(zoe::chat::run(cfg, args.options(), ctrl_c()))?;
            Ok(exit_code(ended))
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
        Command::Bench(BenchCommand::Stt { headers, runs }) => {
            rt.block_on(zoe::bench::stt(cfg, &headers, runs))?;
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

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
