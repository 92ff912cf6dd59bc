//! The history half of the calls API (issue 16): ended calls and
//! callbacks read from the records store ([`crate::store`]), behind the
//! same admin token as the live half in [`super::calls`], which routes
//! here for `state=ended|all`, for an id no live call has, and for
//! `GET /api/v1/callbacks`.

use axum::extract::{Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::calls::{error, Api};
use crate::call::registry::{CallFilter, SharedRegistry};
use crate::store::writer::History;
use crate::store::StoreError;

/// Items a list returns unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most items a list returns.
pub const MAX_LIMIT: usize = 1_000;

/// `limit` as given: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent;
/// anything else is answered 400.
pub(super) fn limit(given: Option<&str>) -> Result<usize, Box<Response>> {
    let Some(given) = given else {
        return Ok(DEFAULT_LIMIT);
    };
    match given.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
        ))),
    }
}

/// The store could not answer: 503 while the database is down (retry),
/// 500 for anything else.
fn unavailable(e: StoreError) -> Response {
    if e.is_transient() {
        let mut r = error(StatusCode::SERVICE_UNAVAILABLE, &e);
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        r
    } else {
        tracing::error!(error = %e, "history API query failed");
        error(StatusCode::INTERNAL_SERVER_ERROR, e)
    }
}

/// Ended calls (and live ones with `all`), newest first, at most `limit`.
pub(super) async fn list(
    registry: &SharedRegistry,
    history: Option<&History>,
    all: bool,
    limit: usize,
) -> Response {
    let Some(history) = history else {
        return error(StatusCode::BAD_REQUEST, "the call records store is off");
    };
    let ended = match history.store().await {
        Ok(store) => store.list(limit as u32).await,
        Err(e) => Err(e),
    };
    let ended = match ended {
        Ok(ended) => ended,
        Err(e) => return unavailable(e),
    };
    let mut calls: Vec<Value> = Vec::with_capacity(limit);
    if all {
        calls.extend(
            registry
                .list(CallFilter::Live)
                .into_iter()
                .filter_map(|c| serde_json::to_value(c).ok()),
        );
    }
    calls.extend(
        ended
            .into_iter()
            .filter_map(|c| serde_json::to_value(c).ok()),
    );
    // Newest first across both: RFC 3339 UTC text sorts as time does.
    calls.sort_by(|a, b| {
        let key = |v: &Value| {
            v.get("started_at")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        key(b).cmp(&key(a))
    });
    calls.truncate(limit);
    Json(json!({ "calls": calls })).into_response()
}

/// An ended call with its transcript, tool calls and escalations.
pub(super) async fn one(history: &History, id: &str) -> Response {
    let found = match history.store().await {
        Ok(store) => store.get(id).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(detail)) => Json(detail).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no call {id:?} (GET /api/v1/calls?state=all lists them)"),
        ),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CallbacksQuery {
    limit: Option<String>,
}

/// `GET /api/v1/callbacks`: callbacks and messages, newest first.
pub(super) async fn callbacks(State(api): State<Api>, Query(q): Query<CallbacksQuery>) -> Response {
    let limit = match limit(q.limit.as_deref()) {
        Ok(limit) => limit,
        Err(response) => return *response,
    };
    let Some(history) = &api.history else {
        return Json(json!({ "callbacks": [] })).into_response();
    };
    let found = match history.store().await {
        Ok(store) => store.callbacks(limit as u32).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(items) => Json(json!({ "callbacks": items })).into_response(),
        Err(e) => unavailable(e),
    }
}
