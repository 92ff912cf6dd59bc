//! The `warmline` binary: `serve` (the default), `check --config FILE`,
//! `--version`.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use warmline::config::{Config, Secrets};
use warmline::drain::{self, Drain, DrainOutcome};
use warmline::{banner, http, telemetry, tls};

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
            // Which agent answers which calls (decision 0020).
            match warmline::config::agents::routes_report(&config) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    for line in warmline::config::records::records_report(&config) {
                        println!("{line}");
                    }
                    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
                    for line in warmline::config::transfer::transfer_report(&config, &set) {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve => serve(config, cli.config),
    }
}

fn serve(config: Config, path: Option<PathBuf>) -> ExitCode {
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
    match runtime.block_on(run(config, path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "warmline stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    // First, so that a SIGTERM during start-up drains instead of killing.
    let mut signals = Signals::new()?;
    // SIGHUP too, before its default action (exit) could hit a reload
    // sent during start-up; it is acted on once the server is built.
    #[cfg(unix)]
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    #[cfg(not(unix))]
    let hangup = ();
    let secrets = Secrets::from_env(std::env::vars());
    let metrics = warmline::metrics::install()?;
    tokio::spawn(warmline::metrics::run_upkeep(
        metrics.clone(),
        std::time::Duration::from_secs(5),
    ));
    let closing_prompt = match warmline::model::demo::closing_prompt() {
        Ok(prompt) => Some(Arc::new(prompt)),
        Err(e) => {
            warn!(error = %e, "no closing prompt: a drain hangs up without one");
            None
        }
    };
    let drain = Drain::new(closing_prompt);
    let state = http::AppState::new()
        .with_metrics(metrics)
        .with_drain(drain.clone());
    let app = warmline::app::build(&config, &secrets, state.clone())?;
    let (router, backend, events) = (app.router, app.backend, app.events);
    let store = app.store;
    // What calls run with, by content hash (decision 0026).
    for version in app.agents.versions() {
        info!(
            agent = version.agent,
            kind = version.kind,
            hash = version.hash,
            "definition version"
        );
    }
    reload_on_sighup(hangup, app.reloader, path);
    let sip_addr = match app.sip {
        Some(sip) => Some(warmline::ingress::sip::start(sip).await?),
        None => None,
    };
    let listener = http::bind(config.server.http_listen).await?;
    let http_addr = listener.local_addr()?;
    let facts = banner::Facts::new(&config, &secrets, backend, http_addr, sip_addr);
    info!("{}", banner::render(&facts));
    // The same facts as fields, for log shippers and scripts.
    info!(
        version = env!("CARGO_PKG_VERSION"),
        http = %http_addr,
        sip = sip_addr.map(|a| a.to_string()),
        backend,
        "listening"
    );
    for warning in banner::warnings(&facts) {
        warn!("{warning}");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    // The HTTP server keeps serving through the drain: /readyz answers
    // 503, status callbacks and already-answered streams still work.
    let mut server = tokio::spawn(http::serve(listener, router, async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    }));

    tokio::select! {
        signal = signals.next() => info!(signal, "shutdown requested: draining"),
        joined = &mut server => {
            joined??;
            anyhow::bail!("the HTTP server stopped by itself");
        }
    }
    metrics::gauge!(warmline::metrics::DRAINING).set(1.0);
    let second = async {
        let signal = signals.next().await;
        info!(signal, "second signal: ending every call now");
    };
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    match drain::run(&drain, grace, second).await {
        DrainOutcome::AllEnded(phase) => info!(?phase, "no call left"),
        DrainOutcome::GaveUp { calls } => warn!(
            calls,
            "calls still ending {} s after they were told to end now: stopping anyway",
            drain::END_NOW_LIMIT.as_secs()
        ),
    }
    if let Some(events) = &events {
        // The last calls' call.ended are queued: give them a bounded time.
        let limit = warmline::tools::events::FLUSH_LIMIT;
        if tokio::time::timeout(limit, events.flushed()).await.is_err() {
            warn!(
                pending = events.pending(),
                "call events still undelivered {} s after the last call: stopping anyway",
                limit.as_secs()
            );
        }
    }
    if let Some(store) = store {
        // The last records: stored, or spooled to be replayed at the next
        // start (the writer's own thread; waited for off this runtime).
        let limit = warmline::store::writer::FLUSH_LIMIT;
        let closed = tokio::task::spawn_blocking(move || store.close(limit))
            .await
            .unwrap_or(false);
        if !closed {
            warn!(
                "call records still being written {} s after the last call: stopping anyway",
                limit.as_secs()
            );
        }
    }
    let _ = stop_tx.send(true);
    match tokio::time::timeout(HTTP_STOP_LIMIT, server).await {
        Ok(joined) => joined??,
        Err(_) => warn!("HTTP requests still in flight: stopping anyway"),
    }
    info!("stopped");
    Ok(())
}

/// SIGHUP reloads agents, routes and tools from the config file (decision
/// 0026); an invalid file is refused with the reason and the running
/// configuration stays.
#[cfg(unix)]
fn reload_on_sighup(
    mut hangup: tokio::signal::unix::Signal,
    reloader: warmline::reload::Reloader,
    path: Option<PathBuf>,
) {
    {
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let origin = path
                    .as_deref()
                    .map_or("the embedded defaults".to_owned(), |p| {
                        p.display().to_string()
                    });
                info!(
                    config = origin,
                    "SIGHUP: reloading agents, routes and tools"
                );
                let (reloader, path) = (reloader.clone(), path.clone());
                // Reading files and building clients blocks: off the workers.
                let done =
                    tokio::task::spawn_blocking(move || reloader.reload_from(path.as_deref()))
                        .await;
                match done {
                    Ok(Ok(report)) => {
                        info!(
                            agents = ?report.agents,
                            versions = ?report.versions,
                            "configuration reloaded: new calls get it, calls in progress keep theirs"
                        );
                        if !report.need_restart.is_empty() {
                            warn!(
                                sections = ?report.need_restart,
                                "these sections changed and apply only at the next start"
                            );
                        }
                    }
                    Ok(Err(e)) => error!(error = %e, "reload refused"),
                    Err(e) => error!(error = %e, "reload failed"),
                }
            }
        });
    }
}

#[cfg(not(unix))]
fn reload_on_sighup((): (), _reloader: warmline::reload::Reloader, _path: Option<PathBuf>) {}

/// How long in-flight HTTP requests get once no call is left.
const HTTP_STOP_LIMIT: Duration = Duration::from_secs(5);

/// SIGINT (Ctrl-C) and SIGTERM, listened to from start-up on, so a second
/// one is seen however soon it follows the first.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGINT or SIGTERM; its name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.interrupt.recv() => "SIGINT",
                Some(()) = self.terminate.recv() => "SIGTERM",
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}
