//! The live-call API (docs/API.md, decision 0022), behind the admin token
//! of [`super::admin`]:
//!
//! - `GET /api/v1/calls?state=live` and `GET /api/v1/calls/{id}`;
//! - `GET /api/v1/calls/{id}/events` and `GET /api/v1/events`, as
//!   server-sent events (read with `fetch()` streaming: the token travels
//!   in the `Authorization` header, never in a URL);
//! - `POST /api/v1/calls/{id}/hangup` and `POST /api/v1/calls/{id}/say`.
//!
//! With the call records (issue 16, [`crate::store`]) it also serves
//! `GET /api/v1/calls?state=ended|all&limit=N` (newest first, in the live
//! list's shape with `state: "ended"`), ended calls by id with their
//! transcript, tool calls, escalations and recording URL, and
//! `GET /api/v1/callbacks` (see [`super::history`]).
//!
//! Hang-ups and whispers are recorded in the audit log ([`Audit`],
//! decision 0038) with who asked.
//!
//! It serves any [`CallRegistry`]; the registry and the calls know
//! nothing of HTTP.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use super::admin::{protect, AdminToken};
use crate::audit::{Action, Actor, Audit};
use crate::call::registry::{
    next_event, CallFilter, CallId, CommandError, LiveEvent, Received, SharedRegistry,
};
use crate::drain::{Drain, DrainPhase};
use crate::store::writer::History;

/// Longest text item `say` takes, bytes.
pub const MAX_SAY_BYTES: usize = 4 * 1024;
/// How often an idle event stream sends a comment, so that proxies and
/// clients see the connection alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The live-call routes over `registry`, behind `token`. The process-wide
/// event stream ends once `drain` has begun and no call is left, so that
/// an open stream never holds up the server's shutdown.
pub fn routes(registry: SharedRegistry, drain: Drain, token: AdminToken) -> Router {
    routes_with_history(registry, drain, token, None, Audit::off())
}

/// [`routes`], with ended calls and callbacks served from `history`
/// (none: the store is off, and `state=ended|all` answers 400), and
/// hang-ups and whispers recorded in `audit`.
pub fn routes_with_history(
    registry: SharedRegistry,
    drain: Drain,
    token: AdminToken,
    history: Option<History>,
    audit: Audit,
) -> Router {
    let router = Router::new()
        .route("/api/v1/calls", get(list))
        .route("/api/v1/calls/{id}", get(one))
        .route("/api/v1/calls/{id}/events", get(call_events))
        .route("/api/v1/events", get(all_events))
        .route("/api/v1/calls/{id}/hangup", post(hang_up))
        .route("/api/v1/calls/{id}/say", post(say))
        .route("/api/v1/callbacks", get(super::history::callbacks))
        .layer(DefaultBodyLimit::max(MAX_SAY_BYTES + 1024))
        .with_state(Api {
            registry,
            drain,
            history,
            audit,
        });
    protect(router, token)
}

/// What the handlers share.
#[derive(Clone)]
pub(super) struct Api {
    registry: SharedRegistry,
    drain: Drain,
    pub(super) history: Option<History>,
    audit: Audit,
}

impl axum::extract::FromRef<Api> for SharedRegistry {
    fn from_ref(api: &Api) -> SharedRegistry {
        api.registry.clone()
    }
}

pub(super) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no live call {id:?} (GET /api/v1/calls lists them)"),
    )
}

/// The call `id` names, if it is a UUID (a malformed id is as unknown
/// as any other: 404).
fn parse(id: &str) -> Option<CallId> {
    id.parse().ok()
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    pub(super) limit: Option<String>,
}

async fn list(State(api): State<Api>, Query(q): Query<ListQuery>) -> Response {
    let limit = match super::history::limit(q.limit.as_deref()) {
        Ok(limit) => limit,
        Err(response) => return *response,
    };
    match q.state.as_deref() {
        Some("ended") | Some("all") if api.history.is_some() => {
            let all = q.state.as_deref() == Some("all");
            super::history::list(&api.registry, api.history.as_ref(), all, limit).await
        }
        Some("ended") | Some("all") => error(
            StatusCode::BAD_REQUEST,
            "state=ended and state=all need the call records store, which is off \
             ([store] enabled = false): use state=live",
        ),
        state => {
            let filter = match state.map(str::parse::<CallFilter>) {
                None => CallFilter::Live,
                Some(Ok(filter)) => filter,
                Some(Err(_)) => {
                    let given: String = state.unwrap_or_default().chars().take(32).collect();
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("state={given:?} is not served: use state=live, ended or all"),
                    );
                }
            };
            let mut calls = api.registry.list(filter);
            calls.truncate(limit);
            Json(json!({ "calls": calls })).into_response()
        }
    }
}

async fn one(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    match api.registry.get(&call) {
        Some(summary) => Json(summary).into_response(),
        None => match &api.history {
            Some(history) => super::history::one(history, &id).await,
            None => not_found(&id),
        },
    }
}

/// One event as server-sent: its JSON as `data`, or a `lagged` notice;
/// `None` when the stream is over.
fn to_sse(received: Received) -> Option<Event> {
    match received {
        Received::Event(event) => Event::default().json_data(&event).ok(),
        Received::Lagged(missed) => Event::default()
            .json_data(json!({ "type": "lagged", "missed": missed }))
            .ok(),
        Received::Closed => None,
    }
}

/// Turns a call's subscription into server-sent events, until the call
/// ends.
fn sse(rx: broadcast::Receiver<LiveEvent>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = to_sse(next_event(&mut rx).await)?;
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// Every call's events, until the process drains and no call is left.
fn sse_all(
    registry: SharedRegistry,
    drain: &Drain,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let state = (registry.subscribe_all(), drain.watch(), registry);
    let stream = futures_util::stream::unfold(state, |(mut rx, mut phase, registry)| async move {
        loop {
            let draining = *phase.borrow_and_update() >= DrainPhase::Draining;
            if draining && registry.list(CallFilter::Live).is_empty() {
                return None;
            }
            tokio::select! {
                received = next_event(&mut rx) => {
                    let event = to_sse(received)?;
                    return Some((Ok(event), (rx, phase, registry)));
                }
                changed = phase.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

async fn call_events(State(registry): State<SharedRegistry>, Path(id): Path<String>) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    match registry.subscribe(&call) {
        Some(rx) => sse(rx).into_response(),
        None => not_found(&id),
    }
}

async fn all_events(State(api): State<Api>) -> Response {
    sse_all(api.registry, &api.drain).into_response()
}

fn command_failed(id: &str, e: CommandError) -> Response {
    match e {
        CommandError::Busy => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e);
            r.headers_mut()
                .insert(RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
            r
        }
        CommandError::Ended => not_found(id),
        CommandError::NotSupported(_) => error(StatusCode::NOT_IMPLEMENTED, e),
        CommandError::Room(_) => error(StatusCode::CONFLICT, e),
    }
}

async fn hang_up(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    let Some(handle) = api.registry.handle(&call) else {
        return not_found(&id);
    };
    match handle.hang_up().await {
        Ok(()) => {
            api.audit
                .record(&actor, Action::HangUp, Some(&id), json!({}));
            Json(json!({ "id": id, "state": "ending" })).into_response()
        }
        Err(e) => command_failed(&id, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SayBody {
    text: String,
}

async fn say(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Result<Json<SayBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    let Json(SayBody { text }) = match body {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("send a JSON body {{\"text\": \"...\"}}: {e}"),
            )
        }
    };
    let text = text.trim().to_owned();
    if text.is_empty() || text.len() > MAX_SAY_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!("text must be 1 to {MAX_SAY_BYTES} bytes"),
        );
    }
    let Some(handle) = api.registry.handle(&call) else {
        return not_found(&id);
    };
    match handle.add_text(text.clone()).await {
        Ok(()) => {
            api.audit
                .record(&actor, Action::Whisper, Some(&id), json!({ "text": text }));
            Json(json!({ "id": id, "added": true })).into_response()
        }
        Err(e) => command_failed(&id, e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::call::registry::{command_queue, CallSummary, InProcessRegistry, LiveEventKind};
    use crate::call::tools::CallIdentity;

    async fn next_chunk(answer: &mut reqwest::Response) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(5), answer.chunk())
            .await
            .expect("the stream answers within 5 s")
            .expect("the stream reads")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    #[tokio::test]
    async fn the_all_calls_stream_outlives_the_drain_start_and_ends_with_the_last_call() {
        crate::tls::install_crypto_provider();
        let inner = InProcessRegistry::new();
        let registry: SharedRegistry = Arc::new(inner.clone());
        let drain = Drain::new(None);
        let router = routes(
            registry.clone(),
            drain.clone(),
            AdminToken::new(Some("admin")),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(crate::http::serve(listener, router, std::future::pending()));

        let summary =
            CallSummary::connecting(&CallIdentity::mint("sip", "c1", "a", "b")).expect("a UUID");
        let (handle, _commands) = command_queue(summary.id);
        let registration = registry.register(summary, handle).expect("registers");
        let http = reqwest::Client::new();
        let mut answer = http
            .get(format!("http://{addr}/api/v1/events"))
            .bearer_auth("admin")
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(answer.status().as_u16(), 200);

        // Draining with a call left: the stream goes on and carries it.
        assert!(drain.advance(DrainPhase::Draining));
        registration.publish(LiveEventKind::TextAdded {
            text: "still here".into(),
        });
        let mut seen = String::new();
        while !seen.contains("still here") {
            seen.push_str(&next_chunk(&mut answer).await.expect("not ended yet"));
        }
        // The last call ends: its `ended` comes, then the stream ends.
        drop(registration);
        while let Some(chunk) = next_chunk(&mut answer).await {
            seen.push_str(&chunk);
        }
        assert!(seen.contains(r#""state":"ended""#), "{seen}");
        assert!(inner.is_empty());
    }
}
