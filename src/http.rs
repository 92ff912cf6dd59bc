//! The HTTP server: this module's `/healthz`, `/readyz` and `/metrics`,
//! which `app` merges with the Twilio routes (`POST /twilio/voice`,
//! `POST /twilio/status` and the Media Streams upgrade
//! `GET /twilio/stream/{token}`, see `ingress::twilio::server`). [`serve`]
//! runs hyper's HTTP/1 directly so an upgraded Media Streams socket can
//! leave this runtime for its call's media worker. The browser pages and
//! their sockets (`/try`, `/rep`) are the WebRTC ingress's
//! (`ingress::webrtc`). Every `/api/v1` route sits behind the admin token
//! layer of [`admin`] (with [`rate_limit`] on wrong tokens): the approval
//! gate's (`crate::tools::approval::api`), the live calls' ([`calls`],
//! docs/API.md), the call history's ([`history`], from the records store),
//! the recordings' ([`recordings`]), the analytics' ([`analytics`],
//! aggregated by the store), the supervisors' sessions ([`sessions`],
//! whose tokens the admin layer accepts too) and the audit log
//! ([`audit`]). `docs/openapi.yaml` describes them all; [`security`] adds
//! the security headers to every answer.
//!
//! `/healthz` answers 200 while the process runs (liveness). `/readyz`
//! answers 200 while the server takes new calls and 503 once shutdown has
//! begun. `/metrics` renders the Prometheus exposition (see
//! [`crate::metrics`]), or 404 when no recorder is installed.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::drain::{Drain, DrainPhase};

pub mod admin;
pub mod analytics;
pub mod audit;
pub mod calls;
pub mod dashboard;
pub mod history;
pub mod inbox;
pub mod rate_limit;
pub mod recordings;
pub mod security;
pub mod sessions;

/// State shared by the HTTP handlers.
#[derive(Clone, Debug, Default)]
pub struct AppState {
    drain: Drain,
    metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// A state that reports ready, with a drain of its own.
    pub fn new() -> AppState {
        AppState::default()
    }

    /// Follows `drain` (the process's): readiness fails once it drains.
    pub fn with_drain(mut self, drain: Drain) -> AppState {
        self.drain = drain;
        self
    }

    /// The drain this state follows.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Serves `/metrics` from this recorder.
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> AppState {
        self.metrics = Some(handle);
        self
    }

    /// Marks the server as draining (readiness fails from now on).
    pub fn begin_drain(&self) {
        self.drain.advance(DrainPhase::Draining);
    }

    /// Whether the server takes new calls.
    pub fn is_ready(&self) -> bool {
        !self.drain.is_draining()
    }
}

/// Errors from running the server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listen address could not be bound (in use, or not ours).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_ready() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
    }
}

async fn metrics(
    State(state): State<AppState>,
) -> (StatusCode, [(HeaderName, &'static str); 1], String) {
    let content_type = (CONTENT_TYPE, "text/plain; version=0.0.4");
    match &state.metrics {
        Some(handle) => (StatusCode::OK, [content_type], handle.render()),
        None => (
            StatusCode::NOT_FOUND,
            [content_type],
            "no metrics recorder is installed\n".to_owned(),
        ),
    }
}

/// Binds the listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets in-flight requests finish.
///
/// HTTP/1.1 straight on hyper rather than `axum::serve`: its connections
/// are plain `TokioIo<TcpStream>`, so an upgraded Media Streams socket can
/// be taken out of this runtime and handed to the call's media worker
/// (`axum::serve` wraps the stream in a private type that cannot be
/// unwrapped).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of descriptors and the like: back off a little.
                        tracing::warn!(error = %e, "HTTP accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let connection = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(30))
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades();
                let mut stop = stop_rx.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    let ended = tokio::select! {
                        ended = connection.as_mut() => ended,
                        _ = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                            // Finish the request in flight, take no more.
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                });
                // Reap finished connections so the set stays small.
                while connections.try_join_next().is_some() {}
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_status(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        (status, response)
    }

    #[tokio::test]
    async fn readyz_turns_503_when_draining_while_healthz_stays_200() {
        let state = AppState::new();
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router(state.clone()), async {
            let _ = stop_rx.await;
        }));
        assert_eq!(get_status(addr, "/readyz").await.0, 200);
        let (status, body) = get_status(addr, "/healthz").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        state.begin_drain();
        assert_eq!(get_status(addr, "/readyz").await.0, 503);
        assert_eq!(get_status(addr, "/healthz").await.0, 200);
        assert_eq!(get_status(addr, "/nope").await.0, 404);
        stop_tx.send(()).expect("server alive");
        server.await.expect("joined").expect("clean stop");
    }
}
