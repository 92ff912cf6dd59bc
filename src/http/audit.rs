//! `GET /api/v1/audit?limit=&call_id=`: the audit log of supervisor
//! actions (decision 0038), newest first, read from the records store
//! behind the admin token. The entries are written by
//! [`crate::audit::Audit`] through the store's writer, so an action shows
//! here once its batch is stored (tens of milliseconds; longer while the
//! database is down and the entry waits in the spool).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::admin::{protect, AdminToken};
use super::calls::error;
use crate::store::writer::History;

/// Entries returned unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;

/// The audit route over `history` (none: the store is off, and the route
/// answers 400 saying so), behind `token`.
pub fn routes(history: Option<History>, token: AdminToken) -> Router {
    let router = Router::new()
        .route("/api/v1/audit", get(list))
        .with_state(history);
    protect(router, token)
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<String>,
    call_id: Option<String>,
}

async fn list(State(history): State<Option<History>>, Query(q): Query<AuditQuery>) -> Response {
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(given) => match super::history::limit(Some(given)) {
            Ok(limit) => limit,
            Err(response) => return *response,
        },
    };
    let call_id = q
        .call_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if call_id.is_some_and(|c| c.len() > 64) {
        return error(StatusCode::BAD_REQUEST, "call_id is a call's id (a UUID)");
    }
    let Some(history) = history else {
        return error(
            StatusCode::BAD_REQUEST,
            "the audit log is kept in the call records store, which is off \
             ([store] enabled = false): actions are only in the server's log",
        );
    };
    let entries = match history.store().await {
        Ok(store) => store.audit(limit as u32, call_id).await,
        Err(e) => Err(e),
    };
    match entries {
        Ok(entries) => Json(json!({ "entries": entries })).into_response(),
        Err(e) => super::history::unavailable(e),
    }
}
