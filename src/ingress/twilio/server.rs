//! The Twilio HTTP side: `POST /twilio/voice` (the voice webhook),
//! `GET /twilio/stream/{token}` (the Media Streams WebSocket) and
//! `POST /twilio/status` (call status callbacks).
//!
//! The webhook starts the call on a media worker at once, so the model
//! session opens while Twilio is still connecting the stream (pre-warm),
//! and answers with TwiML whose stream URL carries a single-use token in
//! its path (Twilio drops query strings; the path survives, so a reused or
//! unknown token is refused with 403 before the upgrade). The same token is
//! sent as a `<Parameter>` and checked again in `start.customParameters`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::call::run_call;
use super::signature;
use super::twiml::ConnectStream;
use crate::call::driver::CallSetup;
use crate::call::CallConfig;
use crate::drain::Drain;
pub use crate::model::link::Backend;
use crate::model::SessionConfig;
use crate::random::{Random, RandomError};
use crate::workers::MediaWorkers;

/// A pre-warmed call waits this long for Twilio's stream.
pub const STREAM_WAIT: Duration = Duration::from_secs(15);
/// Calls waiting for their stream, at most.
const MAX_PENDING: usize = 10_000;

/// Everything the Twilio routes need.
#[derive(Debug)]
pub struct TwilioService {
    /// `TWILIO_AUTH_TOKEN`.
    pub auth_token: Option<String>,
    /// Public base URL (`https://voice.example.com`).
    pub public_base_url: Option<String>,
    /// Development: skip signature checks when there is no token.
    pub insecure_skip_signature: bool,
    /// Where calls run.
    pub workers: MediaWorkers,
    /// The model backend.
    pub backend: Backend,
    /// Session settings for every call.
    pub session: SessionConfig,
    /// Call settings.
    pub call: CallConfig,
    /// The process's drain: the webhook answers 503 while it drains.
    pub drain: Drain,
    /// Where stream tokens come from.
    random: Random,
    /// Runs the calls' tools.
    tools: Option<crate::call::tools::SharedSidecar>,
    /// Who answers which call; `None`: every call gets `session`.
    agents: Option<crate::agents::SharedAgents>,
    /// Hears each call start and end.
    events: Option<crate::call::events::SharedEvents>,
    /// Lists each call while it is live.
    registry: Option<crate::call::registry::SharedRegistry>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Requests with a bad signature, rate limited (429 past the burst):
    /// real Twilio requests never spend from it.
    failures: Mutex<crate::http::rate_limit::FailureBucket>,
}

/// What a caller hears when no agent answers the number they called.
pub const NO_ROUTE_PROMPT: &str =
    "Sorry, this number is not in service. Please check the number and call again.";

struct Pending {
    created: Instant,
    socket: oneshot::Sender<StreamSocket>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("created", &self.created)
            .finish()
    }
}

impl TwilioService {
    /// Builds the service.
    pub fn new(
        auth_token: Option<String>,
        public_base_url: Option<String>,
        insecure_skip_signature: bool,
        workers: MediaWorkers,
        backend: Backend,
        session: SessionConfig,
        call: CallConfig,
    ) -> TwilioService {
        TwilioService {
            auth_token,
            public_base_url: public_base_url.map(|u| u.trim_end_matches('/').to_owned()),
            insecure_skip_signature,
            workers,
            backend,
            session,
            call,
            drain: Drain::default(),
            random: crate::random::system(),
            tools: None,
            agents: None,
            events: None,
            registry: None,
            pending: Mutex::new(HashMap::new()),
            failures: Mutex::new(Default::default()),
        }
    }

    /// Follows the process's drain (a service of its own drain otherwise).
    pub fn with_drain(mut self, drain: Drain) -> TwilioService {
        self.drain = drain;
        self
    }

    /// Runs the calls' tools with `tools`.
    pub fn with_tools(mut self, tools: Option<crate::call::tools::SharedSidecar>) -> TwilioService {
        self.tools = tools;
        self
    }

    /// Routes each call to its agent (decision 0020).
    pub fn with_agents(mut self, agents: crate::agents::SharedAgents) -> TwilioService {
        self.agents = Some(agents);
        self
    }

    /// Tells `events` of each call's start and end.
    pub fn with_events(
        mut self,
        events: Option<crate::call::events::SharedEvents>,
    ) -> TwilioService {
        self.events = events;
        self
    }

    /// Lists each call in `registry` while it is live.
    pub fn with_registry(
        mut self,
        registry: Option<crate::call::registry::SharedRegistry>,
    ) -> TwilioService {
        self.registry = registry;
        self
    }

    /// Uses `random` for stream tokens instead of the system source.
    pub fn with_random(mut self, random: Random) -> TwilioService {
        self.random = random;
        self
    }

    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.public_base_url {
            return base.clone();
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("https://{host}")
    }

    /// Checks a request's signature.
    fn check(
        &self,
        url: &str,
        params: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        let Some(token) = &self.auth_token else {
            if self.insecure_skip_signature {
                return Ok(());
            }
            crate::refusals::refused(
                "twilio",
                "not_configured",
                "refused Twilio request: TWILIO_AUTH_TOKEN is not set",
                &url,
            );
            return Err(Refusal::NotConfigured);
        };
        let header = headers
            .get("x-twilio-signature")
            .and_then(|h| h.to_str().ok());
        signature::validate(token, url, params, header).map_err(|e| {
            crate::refusals::refused(
                "twilio",
                "signature",
                "refused Twilio request: bad signature",
                &format_args!("{url}: {e}"),
            );
            let limited = match self.failures.lock() {
                Ok(mut bucket) => bucket.refused(Instant::now()).err(),
                Err(_) => None,
            };
            match limited {
                Some(retry) => Refusal::TooMany(retry),
                None => Refusal::Forbidden(e.to_string()),
            }
        })
    }

    /// Checks a form-encoded webhook against the public URL it was sent to.
    fn check_form(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        params: &[(String, String)],
    ) -> Result<(), Refusal> {
        let base = self.base_url(headers);
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        self.check(&format!("{base}{path}"), params, headers)
    }

    /// A single-use stream token: 128 random bits. There is no fallback:
    /// a token anyone could guess would let them take over the call.
    fn new_token(&self) -> Result<String, RandomError> {
        crate::random::hex(&*self.random, 16)
    }

    fn register(&self, token: &str, socket: oneshot::Sender<StreamSocket>) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        pending.retain(|_, p| p.created.elapsed() < STREAM_WAIT && !p.socket.is_closed());
        if pending.len() >= MAX_PENDING {
            return false;
        }
        pending.insert(
            token.to_owned(),
            Pending {
                created: Instant::now(),
                socket,
            },
        );
        true
    }

    fn take(&self, token: &str) -> Option<oneshot::Sender<StreamSocket>> {
        let mut pending = self.pending.lock().ok()?;
        let p = pending.remove(token)?;
        (p.created.elapsed() < STREAM_WAIT).then_some(p.socket)
    }
}

/// Why a Twilio request was refused.
#[derive(Debug)]
enum Refusal {
    /// No auth token and no development override: 503.
    NotConfigured,
    /// Bad or missing signature: 403.
    Forbidden(String),
    /// Too many bad signatures lately: 429, retry after this long.
    TooMany(std::time::Duration),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotConfigured => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Twilio is not configured: set TWILIO_AUTH_TOKEN (or twilio.insecure_skip_signature for local development)",
            )
                .into_response(),
            Refusal::Forbidden(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
            Refusal::TooMany(retry) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, retry.as_secs().to_string())],
                "too many requests with a bad X-Twilio-Signature: wait, then sign with TWILIO_AUTH_TOKEN",
            )
                .into_response(),
        }
    }
}

/// The Twilio routes.
pub fn routes(service: Arc<TwilioService>) -> Router {
    Router::new()
        .route("/twilio/voice", post(voice))
        .route("/twilio/status", post(status))
        .route("/twilio/stream/{token}", get(stream))
        .with_state(service)
}

/// The WebSocket form of an http(s) base URL.
fn ws_base(base: &str) -> String {
    base.replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

fn xml(body: String) -> Response {
    ([("content-type", "text/xml; charset=utf-8")], body).into_response()
}

async fn voice(
    State(service): State<Arc<TwilioService>>,
    uri: Uri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    if service.drain.is_draining() {
        // Before the signature: nothing is started, and a load balancer or
        // Twilio's fallback URL sends the call elsewhere.
        crate::refusals::refused(
            "twilio",
            "draining",
            "voice webhook refused with 503: the server is shutting down",
            &uri,
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            "warmline is shutting down: send the call to another instance",
        )
            .into_response();
    }
    if let Err(refusal) = service.check_form(&uri, &headers, &params) {
        return refusal.into_response();
    }
    let base = service.base_url(&headers);
    let call_sid = params
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.clone());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    // Who answers: before anything is started for the call.
    let agent = match &service.agents {
        Some(agents) => {
            let context = crate::agents::CallContext {
                caller: param("From"),
                // `sip:+1415…@domain` on Twilio SIP domains: its user.
                called: crate::agents::uri_user(param("To")),
                trunk: crate::config::routing::TWILIO_TRUNK,
            };
            match agents.route(&context) {
                Some(agent) => Some((agent.clone(), context)),
                None => {
                    crate::refusals::refused(
                        "twilio",
                        "no_route",
                        "call refused with a spoken apology: no route for the called number",
                        &param("To"),
                    );
                    return xml(super::twiml::say_and_hang_up(NO_ROUTE_PROMPT));
                }
            }
        }
        None => None,
    };
    let token = match service.new_token() {
        Ok(token) => token,
        Err(e) => {
            // 503 makes Twilio try the number's fallback URL.
            tracing::error!(%call_sid, error = %e, "no stream token: voice webhook answered 503");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot make a stream token: the random source failed",
            )
                .into_response();
        }
    };
    let (socket_tx, socket_rx) = oneshot::channel();
    if !service.register(&token, socket_tx) {
        return xml(super::twiml::say_and_hang_up(
            "Sorry, we cannot take your call right now.",
        ));
    }
    let mut setup = CallSetup {
        tool_entries: None,
        backend: service.backend.clone(),
        session: service.session.clone(),
        call: service.call.clone(),
        ingress: "twilio",
        drain: service.drain.clone(),
        identity: crate::call::tools::CallIdentity::mint(
            "twilio",
            &call_sid,
            param("From"),
            param("To"),
        ),
        tools: service.tools.clone(),
        events: service.events.clone(),
        registry: service.registry.clone(),
    };
    if let Some((agent, context)) = &agent {
        agent.prepare(&mut setup, context, jiff::Timestamp::now());
    }
    let call_id = setup.identity.id.clone();
    let tok = token.clone();
    // Counted from now: a drain that starts before Twilio connects the
    // stream still waits for this call.
    let counted = service.drain.call_started();
    let job: crate::workers::Job = Box::new(move || {
        Box::pin(async move {
            let _counted = counted;
            run_call(tok, setup, socket_rx).await;
        })
    });
    if let Err(e) = service.workers.spawn(job) {
        tracing::error!(%call_sid, error = %e, "no media worker for the call");
        return xml(super::twiml::say_and_hang_up(
            "Sorry, we cannot take your call right now.",
        ));
    }
    let ws_base = ws_base(&base);
    tracing::info!(%call_sid, %call_id, "voice webhook: connecting the stream");
    xml(ConnectStream {
        url: format!("{ws_base}/twilio/stream/{token}"),
        name: Some("warmline".into()),
        status_callback: None,
        parameters: vec![("call_token".into(), token)],
    }
    .render())
}

async fn status(
    State(service): State<Arc<TwilioService>>,
    uri: Uri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refusal) = service.check_form(&uri, &headers, &params) {
        return refusal.into_response();
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    tracing::info!(
        call_sid = get("CallSid"),
        call_status = get("CallStatus"),
        "call status"
    );
    StatusCode::NO_CONTENT.into_response()
}

async fn stream(
    State(service): State<Arc<TwilioService>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    mut request: axum::extract::Request,
) -> Response {
    let base = service.base_url(&headers);
    let ws_base = ws_base(&base);
    let url = format!("{ws_base}/twilio/stream/{token}");
    if let Err(refusal) = service.check(&url, &[], &headers) {
        return refusal.into_response();
    }
    let Some(socket_tx) = service.take(&token) else {
        crate::refusals::refused(
            "twilio",
            "stream_token",
            "refused Twilio stream: unknown, expired or reused token",
            // The token itself is a credential: not logged.
            &"no pending call has this token (issued by the webhook, valid 15 s, single use)",
        );
        return (
            StatusCode::FORBIDDEN,
            "unknown, expired or reused stream token",
        )
            .into_response();
    };
    let accept = match websocket_accept(&headers) {
        Ok(accept) => accept,
        Err(why) => {
            crate::refusals::refused(
                "twilio",
                "not_websocket",
                "refused Twilio stream: not a WebSocket upgrade",
                &why,
            );
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    // The upgrade is done by hand so that the TCP stream can leave this
    // runtime's reactor and join the call's media worker: a socket polled
    // by one runtime and read by another costs a cross-thread wake-up per
    // Twilio message (measured: a fifth of a loaded server's CPU).
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "Twilio stream upgrade failed");
                return;
            }
        };
        let parts = match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => parts,
            Err(_) => {
                tracing::error!("Twilio stream upgrade is not a plain TCP stream");
                return;
            }
        };
        match parts.io.into_inner().into_std() {
            Ok(tcp) => {
                let _ = socket_tx.send(StreamSocket {
                    tcp,
                    read_ahead: parts.read_buf,
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand the Twilio stream to its call"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// An accepted Media Streams connection on its way to its call: the TCP
/// stream (out of any reactor) and bytes read past the handshake.
#[derive(Debug)]
pub struct StreamSocket {
    /// The connection, after the 101.
    pub tcp: std::net::TcpStream,
    /// WebSocket bytes that arrived with the upgrade request.
    pub read_ahead: bytes::Bytes,
}

/// Checks a WebSocket upgrade request (RFC 6455 §4.2.1) and returns the
/// `Sec-WebSocket-Accept` value.
fn websocket_accept(headers: &HeaderMap) -> Result<String, &'static str> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err("expected Upgrade: websocket and Connection: upgrade");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err("expected Sec-WebSocket-Version: 13");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("missing Sec-WebSocket-Key")?;
    Ok(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

#[cfg(test)]
mod tests;
