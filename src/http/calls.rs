//! The live-call API (docs/API.md, decision 0022), behind the admin token
//! of [`super::admin`]:
//!
//! - `GET /api/v1/calls?state=live` and `GET /api/v1/calls/{id}`;
//! - `GET /api/v1/calls/{id}/events` and `GET /api/v1/events`, as
//!   server-sent events (read with `fetch()` streaming: the token travels
//!   in the `Authorization` header, never in a URL);
//! - `POST /api/v1/calls/{id}/hangup` and `POST /api/v1/calls/{id}/say`.
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
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use super::admin::{protect, AdminToken};
use crate::call::registry::{
    next_event, CallFilter, CallId, CommandError, LiveEvent, Received, SharedRegistry,
};

/// Longest text item `say` takes, bytes.
pub const MAX_SAY_BYTES: usize = 4 * 1024;
/// How often an idle event stream sends a comment, so that proxies and
/// clients see the connection alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The live-call routes over `registry`, behind `token`.
pub fn routes(registry: SharedRegistry, token: AdminToken) -> Router {
    let router = Router::new()
        .route("/api/v1/calls", get(list))
        .route("/api/v1/calls/{id}", get(one))
        .route("/api/v1/calls/{id}/events", get(call_events))
        .route("/api/v1/events", get(all_events))
        .route("/api/v1/calls/{id}/hangup", post(hang_up))
        .route("/api/v1/calls/{id}/say", post(say))
        .layer(DefaultBodyLimit::max(MAX_SAY_BYTES + 1024))
        .with_state(registry);
    protect(router, token)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
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
struct ListQuery {
    state: Option<String>,
}

async fn list(State(registry): State<SharedRegistry>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.state.as_deref().map(str::parse::<CallFilter>) {
        None => CallFilter::Live,
        Some(Ok(filter)) => filter,
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    Json(json!({ "calls": registry.list(filter) })).into_response()
}

async fn one(State(registry): State<SharedRegistry>, Path(id): Path<String>) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    match registry.get(&call) {
        Some(summary) => Json(summary).into_response(),
        None => not_found(&id),
    }
}

/// Turns a subscription into server-sent events: each event's JSON as
/// `data`, a `lagged` event when the subscriber fell behind, and the end
/// of the stream when the call (or the process) ends.
fn sse(rx: broadcast::Receiver<LiveEvent>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match next_event(&mut rx).await {
            Received::Event(event) => Event::default().json_data(&event).ok()?,
            Received::Lagged(missed) => Event::default()
                .json_data(json!({ "type": "lagged", "missed": missed }))
                .ok()?,
            Received::Closed => return None,
        };
        Some((Ok(event), rx))
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

async fn all_events(State(registry): State<SharedRegistry>) -> Response {
    sse(registry.subscribe_all()).into_response()
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
    }
}

async fn hang_up(State(registry): State<SharedRegistry>, Path(id): Path<String>) -> Response {
    let Some(call) = parse(&id) else {
        return not_found(&id);
    };
    let Some(handle) = registry.handle(&call) else {
        return not_found(&id);
    };
    match handle.hang_up().await {
        Ok(()) => Json(json!({ "id": id, "state": "ending" })).into_response(),
        Err(e) => command_failed(&id, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SayBody {
    text: String,
}

async fn say(
    State(registry): State<SharedRegistry>,
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
    let Some(handle) = registry.handle(&call) else {
        return not_found(&id);
    };
    match handle.add_text(text).await {
        Ok(()) => Json(json!({ "id": id, "added": true })).into_response(),
        Err(e) => command_failed(&id, e),
    }
}
