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
pub(super) fn unavailable(e: StoreError) -> Response {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;

    use crate::call::events::{CallEnded, CallEvents, EndReason};
    use crate::call::registry::{command_queue, CallSummary, InProcessRegistry, SharedRegistry};
    use crate::call::tools::CallIdentity;
    use crate::config::store::StoreTarget;
    use crate::drain::Drain;
    use crate::http::admin::AdminToken;
    use crate::http::calls::routes_with_history;
    use crate::store::writer::StoreSink;

    fn ended(provider: &str, started_at: &str) -> CallEnded {
        let mut call = CallIdentity::mint("sip", provider, "a", "b");
        call.started_at = started_at.to_owned();
        CallEnded {
            call,
            reason: EndReason::CallerHungUp,
            detail: None,
            ended_at: started_at.to_owned(),
            duration_ms: 1_000,
            transcript: Vec::new(),
            tool_calls: Vec::new(),
            omitted: 0,
            summary: None,
            escalation: None,
            recording_url: None,
            csat: None,
            versions: Default::default(),
            quality: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn all_lists_live_and_ended_calls_newest_first_within_the_limit() {
        crate::tls::install_crypto_provider();
        let dir = std::env::temp_dir().join(format!("warmline-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (sink, history) = StoreSink::start_with(
            StoreTarget::Sqlite(dir.join("warmline.db")),
            dir.join("spool.jsonl"),
        )
        .expect("starts");
        sink.call_ended(ended("old", "2026-12-01T00:00:00.000Z"));
        sink.call_ended(ended("older", "2026-11-30T00:00:00.000Z"));
        assert!(sink.wait_idle(Duration::from_secs(10)));
        let registry: SharedRegistry = Arc::new(InProcessRegistry::new());
        let live =
            CallSummary::connecting(&CallIdentity::mint("sip", "live", "a", "b")).expect("a UUID");
        let (handle, _commands) = command_queue(live.id);
        let _registration = registry.register(live, handle).expect("registers");
        let router = routes_with_history(
            registry,
            Drain::new(None),
            AdminToken::new(Some("t")),
            Some(history),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(crate::http::serve(listener, router, std::future::pending()));
        let get = |path: &str| {
            let url = format!("http://{addr}{path}");
            async move {
                let answer = reqwest::Client::new()
                    .get(url)
                    .bearer_auth("t")
                    .send()
                    .await
                    .expect("answers");
                let status = answer.status().as_u16();
                (status, answer.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let providers = |body: &Value| -> Vec<String> {
            body["calls"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c["provider_id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (status, body) = get("/api/v1/calls?state=all").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(providers(&body), ["live", "old", "older"]);
        let (_, body) = get("/api/v1/calls?state=all&limit=2").await;
        assert_eq!(providers(&body), ["live", "old"]);
        let (_, body) = get("/api/v1/calls?state=ended").await;
        assert_eq!(providers(&body), ["old", "older"]);
        assert_eq!(body["calls"][0]["state"], "ended");
        assert_eq!(body["calls"][0]["outcome"], "abandoned");
        let (_, body) = get("/api/v1/calls").await;
        assert_eq!(providers(&body), ["live"]);
        for bad in ["limit=0", "limit=1001", "limit=ten", "state=bogus"] {
            let (status, body) = get(&format!("/api/v1/calls?{bad}")).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body["error"].is_string(), "{bad}: {body}");
        }
        let id = body_id(&get("/api/v1/calls?state=ended&limit=1").await.1);
        let (status, detail) = get(&format!("/api/v1/calls/{id}")).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail["provider_id"], "old");
        assert_eq!(detail["transcript"], serde_json::json!([]));
        let (status, body) = get("/api/v1/callbacks").await;
        assert_eq!((status, body), (200, serde_json::json!({"callbacks": []})));
        assert!(sink.close(Duration::from_secs(5)));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn body_id(body: &Value) -> String {
        body["calls"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
