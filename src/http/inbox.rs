//! The supervisor's inbox (issue 17, decision 0037), behind the admin
//! token of [`super::admin`]:
//!
//! - `GET /api/v1/inbox?limit=N`: everything that needs or needed a
//!   person, in one list sorted by urgency: callers waiting for a person
//!   now (the handoff's escalations in progress, joined with the live
//!   registry), then callbacks and messages not done yet, then past
//!   hand-overs, then callbacks and messages already done;
//! - `POST /api/v1/callbacks/{call_id}/{seq}/done`: marks one callback or
//!   message done, once (a repeat answers the first mark).
//!
//! The store's side is [`crate::store::inbox`]; the escalations in
//! progress are [`crate::handoff::WaitingBoard`]'s. Nothing here changes
//! a call.

use axum::extract::{Path, Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::{protect, AdminToken};
use super::calls::error;
use super::history::{limit, unavailable};
use crate::audit::{Action, Actor, Audit};
use crate::call::registry::SharedRegistry;
use crate::handoff::{EscalationView, Handoff, Urgency};
use crate::store::writer::History;
use crate::store::{InboxCallback, PastEscalation, StoreError};

/// What the handlers share.
#[derive(Clone)]
struct Inbox {
    registry: SharedRegistry,
    history: Option<History>,
    handoff: Option<Handoff>,
    /// Where a done mark is recorded with who made it (decision 0038).
    audit: Audit,
}

/// The inbox routes: escalations in progress from `handoff` (none: no
/// reps configured) and `registry`, the rest from `history` (none: the
/// store is off), behind `token`.
pub fn routes(
    registry: SharedRegistry,
    history: Option<History>,
    handoff: Option<Handoff>,
    token: AdminToken,
    audit: Audit,
) -> Router {
    let router = Router::new()
        .route("/api/v1/inbox", get(inbox))
        .route("/api/v1/callbacks/{call_id}/{seq}/done", post(mark_done))
        .with_state(Inbox {
            registry,
            history,
            handoff,
            audit,
        });
    protect(router, token)
}

/// The API path of a call (its detail, transcript included).
fn call_path(id: &str) -> String {
    format!("/api/v1/calls/{id}")
}

/// Higher first.
fn urgency_rank(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::High => 2,
        Urgency::Normal => 1,
        Urgency::Low => 0,
    }
}

/// A caller waiting for a person now.
fn pending_item(view: &EscalationView, waited_ms: u64, agent: Option<&str>) -> Value {
    let mut item = serde_json::to_value(view).unwrap_or_else(|_| json!({}));
    item["kind"] = json!("pending");
    item["from"] = json!(view.caller);
    item["agent"] = json!(agent);
    item["waiting_ms"] = json!(waited_ms);
    item["call"] = json!(call_path(&view.call_id));
    item
}

fn callback_item(callback: &InboxCallback) -> Value {
    let mut item = serde_json::to_value(callback).unwrap_or_else(|_| json!({}));
    item["call"] = json!(call_path(&callback.item.call_id));
    item["done_path"] = json!(format!(
        "/api/v1/callbacks/{}/{}/done",
        callback.item.call_id, callback.item.seq
    ));
    item
}

fn escalation_item(escalation: &PastEscalation) -> Value {
    let mut item = serde_json::to_value(escalation).unwrap_or_else(|_| json!({}));
    item["kind"] = json!("escalation");
    item["call"] = json!(call_path(&escalation.call_id));
    item
}

/// The inbox's sections, each already in its own order.
struct Sections {
    /// `(view, waited ms, agent)`.
    pending: Vec<(EscalationView, u64, Option<String>)>,
    open: Vec<InboxCallback>,
    past: Vec<PastEscalation>,
    done: Vec<InboxCallback>,
}

/// Waiting callers, high urgency first, then the longest wait.
fn most_urgent_first(pending: &mut [(EscalationView, u64, Option<String>)]) {
    pending.sort_by(|(a, a_ms, _), (b, b_ms, _)| {
        urgency_rank(b.urgency)
            .cmp(&urgency_rank(a.urgency))
            .then(b_ms.cmp(a_ms))
    });
}

/// The one list, most urgent first: waiting callers (high urgency first,
/// then the longest wait), callbacks and messages not done (the oldest
/// first: it has waited longest), past hand-overs (the newest first), and
/// callbacks and messages done (the most recently done first).
fn ordered(mut sections: Sections) -> Vec<Value> {
    most_urgent_first(&mut sections.pending);
    let mut items = Vec::new();
    items.extend(
        sections
            .pending
            .iter()
            .map(|(view, waited, agent)| pending_item(view, *waited, agent.as_deref())),
    );
    items.extend(sections.open.iter().map(callback_item));
    items.extend(sections.past.iter().map(escalation_item));
    items.extend(sections.done.iter().map(callback_item));
    items
}

#[derive(Deserialize)]
struct InboxQuery {
    limit: Option<String>,
}

/// The store's three sections; an error when the store cannot answer.
async fn stored(
    history: &History,
    limit: u32,
) -> Result<(Vec<InboxCallback>, Vec<PastEscalation>, Vec<InboxCallback>), StoreError> {
    let store = history.store().await?;
    Ok((
        store.inbox_callbacks(false, limit).await?,
        store.past_escalations(limit).await?,
        store.inbox_callbacks(true, limit).await?,
    ))
}

async fn inbox(State(api): State<Inbox>, Query(q): Query<InboxQuery>) -> Response {
    let limit = match limit(q.limit.as_deref()) {
        Ok(limit) => limit,
        Err(response) => return *response,
    };
    let now = crate::handoff::waiting::epoch_now();
    // Waiting callers: escalations in progress of calls still up, before
    // the rep has them (a bridged call is the rep's).
    let mut pending: Vec<_> = api
        .handoff
        .as_ref()
        .map(Handoff::waiting)
        .unwrap_or_default()
        .into_iter()
        .filter(|view| view.phase != "bridged")
        .filter_map(|view| {
            let live = api.registry.get(&view.call_id.parse().ok()?)?;
            let waited = view.waited(now).as_millis() as u64;
            Some((view, waited, live.agent))
        })
        .collect();
    // The count is of every caller waiting; `limit` keeps the most urgent
    // (the presence service lists them in no particular order).
    let pending_count = pending.len();
    most_urgent_first(&mut pending);
    pending.truncate(limit);
    let mut sections = Sections {
        pending,
        open: Vec::new(),
        past: Vec::new(),
        done: Vec::new(),
    };
    // The store down must not hide the callers waiting now: they are
    // served with the reason the rest is missing.
    let mut store_error = None;
    if let Some(history) = &api.history {
        match stored(history, limit as u32).await {
            Ok((open, past, done)) => {
                sections.open = open;
                sections.past = past;
                sections.done = done;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the inbox is served without the records store");
                store_error = Some(e.to_string());
            }
        }
    }
    let counts = json!({
        "pending": pending_count,
        "open": sections.open.len(),
        "escalations": sections.past.len(),
        "done": sections.done.len(),
    });
    let mut body = json!({ "items": ordered(sections), "counts": counts });
    if let Some(e) = store_error {
        body["store_error"] = json!(e);
    }
    Json(body).into_response()
}

/// Longest call id accepted in a path (a UUID is 36).
const MAX_ID: usize = 64;

async fn mark_done(
    State(api): State<Inbox>,
    Path((call_id, seq)): Path<(String, String)>,
    extensions: Extensions,
) -> Response {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "no callback or message {seq:?} of call {call_id:?} \
                 (GET /api/v1/inbox lists them with their done_path)"
            ),
        )
    };
    let Ok(seq_number) = seq.parse::<i64>() else {
        return not_found();
    };
    if call_id.len() > MAX_ID || seq_number < 0 {
        return not_found();
    }
    let Some(history) = &api.history else {
        return error(
            StatusCode::BAD_REQUEST,
            "the call records store is off ([store] enabled = false): there are no callbacks",
        );
    };
    let actor = extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(Actor::admin_token);
    let who = actor.name.clone();
    let at = crate::call::tools::rfc3339(crate::handoff::waiting::epoch_now());
    let marked = match history.store().await {
        Ok(store) => {
            store
                .mark_callback_done(&call_id, seq_number, &who, &at)
                .await
        }
        Err(e) => Err(e),
    };
    match marked {
        Ok(Some(item)) => {
            // The first mark is the action; a repeat changes nothing.
            if item.done_by.as_deref() == Some(who.as_str())
                && item.done_at.as_deref() == Some(at.as_str())
            {
                api.audit.record(
                    &actor,
                    Action::MarkDone,
                    Some(&call_id),
                    json!({ "seq": seq_number }),
                );
            }
            Json(item).into_response()
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::handoff::card::ScreenPop;
    use crate::handoff::Phase;
    use crate::store::CallbackItem;

    fn view(call: &str, urgency: Urgency) -> EscalationView {
        let card = ScreenPop {
            call_id: call.into(),
            urgency,
            ..ScreenPop::default()
        };
        EscalationView::new(Duration::from_secs(1), Phase::Queued, None, &card)
    }

    fn callback(call: &str, done: bool) -> InboxCallback {
        InboxCallback {
            item: CallbackItem {
                call_id: call.into(),
                seq: 0,
                kind: "callback".into(),
                number: Some("+1555".into()),
                message: None,
                created_at: "2026-12-04T00:00:00.000Z".into(),
                detail: json!({}),
                done_at: done.then(|| "2026-12-04T01:00:00.000Z".into()),
                done_by: done.then(|| "admin".into()),
            },
            from: "+1555".into(),
            agent: None,
            started_at: "2026-12-04T00:00:00.000Z".into(),
            call_outcome: "escalated".into(),
            reason: None,
            summary: None,
            next_action: None,
            escalation_outcome: None,
        }
    }

    fn past(call: &str) -> PastEscalation {
        PastEscalation {
            call_id: call.into(),
            from: "+1555".into(),
            agent: None,
            started_at: String::new(),
            ended_at: String::new(),
            call_outcome: "transferred".into(),
            requested_at: None,
            urgency: None,
            reason: None,
            summary: Some("s".into()),
            next_action: Some("n".into()),
            rep: Some("ana".into()),
            answered_at: None,
            outcome: Some("answered".into()),
        }
    }

    #[test]
    fn waiting_callers_come_first_by_urgency_then_wait_then_open_callbacks_then_the_past() {
        let items = ordered(Sections {
            pending: vec![
                (view("short-wait", Urgency::Normal), 5_000, None),
                (view("low", Urgency::Low), 90_000, None),
                (view("high", Urgency::High), 1_000, Some("billing".into())),
                (view("long-wait", Urgency::Normal), 60_000, None),
            ],
            open: vec![callback("open-old", false), callback("open-new", false)],
            past: vec![past("past")],
            done: vec![callback("done", true)],
        });
        let order: Vec<(&str, &str)> = items
            .iter()
            .map(|i| {
                (
                    i["kind"].as_str().unwrap_or_default(),
                    i["call_id"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("pending", "high"),
                ("pending", "long-wait"),
                ("pending", "short-wait"),
                ("pending", "low"),
                ("callback", "open-old"),
                ("callback", "open-new"),
                ("escalation", "past"),
                ("callback", "done"),
            ]
        );
        assert_eq!(items[0]["agent"], "billing");
        assert_eq!(items[1]["waiting_ms"], 60_000);
        assert_eq!(items[4]["done_path"], "/api/v1/callbacks/open-old/0/done");
        assert_eq!(items[6]["call"], "/api/v1/calls/past");
        assert_eq!(items[6]["next_action"], "n");
        assert_eq!(items[7]["done_by"], "admin");
    }
}
