//! The `warmline` binary: `serve` (the default), `check --config FILE`,
//! `--version`.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use warmline::config::{Config, Secrets};
use warmline::{http, telemetry, tls};

#[derive(Parser, Debug)]
#[command(
    name = "warmline",
    version,
    about = "Realtime voice media server: AI agents answer phone calls and hand them to people"
)]
struct Cli {
    /// TOML config file (defaults apply when omitted).
    #[arg(long, short, global = true, env = "WARMLINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Validate a config file and the WARMLINE_* overrides, then exit.
    Check,
}

fn main() -> ExitCode {
    // First, before anything can build a TLS config (decision record 0001).
    tls::install_crypto_provider();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => {
            let origin = cli
                .config
                .as_deref()
                .map_or("the embedded defaults".to_owned(), |p| {
                    p.display().to_string()
                });
            println!("ok: {origin} is valid");
            ExitCode::SUCCESS
        }
        Command::Serve => serve(config),
    }
}

fn serve(config: Config) -> ExitCode {
    if let Err(e) = telemetry::init(&config.log) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "warmline stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let secrets = Secrets::from_env(std::env::vars());
    info!(
        version = env!("CARGO_PKG_VERSION"),
        model = ?config.model.backend,
        ?secrets,
        "warmline starting"
    );
    let metrics = warmline::metrics::install()?;
    tokio::spawn(warmline::metrics::run_upkeep(
        metrics.clone(),
        std::time::Duration::from_secs(5),
    ));
    let state = http::AppState::new().with_metrics(metrics);
    let app = warmline::app::build(&config, &secrets, state.clone())?;
    let (router, backend) = (app.router, app.backend);
    info!(backend, "model backend");
    if let Some(sip) = app.sip {
        let sip_addr = warmline::ingress::sip::start(sip).await?;
        info!(sip = %sip_addr, "listening for SIP (UDP and TCP)");
    }
    let listener = http::bind(config.server.http_listen).await?;
    let http_addr = listener.local_addr()?;
    info!(http = %http_addr, "listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(http::serve(listener, router, async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    }));

    shutdown_signal().await;
    info!("shutdown requested: draining");
    state.begin_drain();
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined??,
        Err(_) => warn!(
            grace_secs = grace.as_secs(),
            "grace period over: stopping anyway"
        ),
    }
    info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
