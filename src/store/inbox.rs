//! The store's side of the supervisor's inbox (issue 17, decision 0037):
//! callbacks and messages with the call they came from, the hand-overs to
//! a person that were tried, and the one write the desk makes, marking a
//! callback or message done.
//!
//! The mark is the only row the store ever changes after the writer put
//! it there, and only once: `UPDATE … WHERE done_at IS NULL`, so the first
//! supervisor's mark stands and a repeated request (a double click, a
//! retry) changes nothing.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::read::{callback_item, json, CallbackItem, CALLBACK_COLUMNS};
use super::StoreError;

/// A callback or message as the inbox shows it: the item and what the
/// desk needs to act on it without opening the call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InboxCallback {
    /// The callback or message.
    #[serde(flatten)]
    pub item: CallbackItem,
    /// The call's caller.
    pub from: String,
    /// The agent that took it.
    pub agent: Option<String>,
    /// When the call started (RFC 3339 UTC).
    pub started_at: String,
    /// How the call ended: `escalated`, `transferred`, …
    pub call_outcome: String,
    /// Why the agent asked for a person, if it did.
    pub reason: Option<String>,
    /// The summary of the call's escalation, if any.
    pub summary: Option<String>,
    /// The recommended next action of the call's escalation, if any.
    pub next_action: Option<String>,
    /// How the escalation went (`answered`, `nobody_answered`, …), if any.
    pub escalation_outcome: Option<String>,
}

/// A hand-over to a person that was tried, with its call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PastEscalation {
    /// The call.
    pub call_id: String,
    /// The call's caller.
    pub from: String,
    /// The agent that asked.
    pub agent: Option<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC.
    pub ended_at: String,
    /// How the call ended.
    pub call_outcome: String,
    /// When the agent asked (RFC 3339 UTC).
    pub requested_at: Option<String>,
    /// `low`, `normal` or `high`.
    pub urgency: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// What the rep was (or would have been) told.
    pub summary: Option<String>,
    /// What should happen next.
    pub next_action: Option<String>,
    /// Who took it.
    pub rep: Option<String>,
    /// When the rep answered.
    pub answered_at: Option<String>,
    /// How it went.
    pub outcome: Option<String>,
}

pub(super) async fn mark_done(
    pool: &AnyPool,
    call_id: &str,
    seq: i64,
    by: &str,
    at: &str,
) -> Result<Option<CallbackItem>, StoreError> {
    // Only a pending one is marked: the first mark stands.
    sqlx::query(
        "UPDATE callbacks_and_messages SET done_at = $1, done_by = $2 \
         WHERE call_id = $3 AND seq = $4 AND done_at IS NULL",
    )
    .bind(at)
    .bind(by)
    .bind(call_id)
    .bind(seq)
    .execute(pool)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks_and_messages c \
         WHERE c.call_id = $1 AND c.seq = $2"
    ))
    .bind(call_id)
    .bind(seq)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(callback_item).transpose()?)
}

fn inbox_callback(r: &AnyRow) -> Result<InboxCallback, sqlx::Error> {
    Ok(InboxCallback {
        item: callback_item(r)?,
        from: r.try_get("from_party")?,
        agent: r.try_get("agent")?,
        started_at: r.try_get("started_at")?,
        call_outcome: r.try_get("call_outcome")?,
        reason: r.try_get("reason")?,
        summary: r.try_get("summary")?,
        next_action: r.try_get("next_action")?,
        escalation_outcome: r.try_get("escalation_outcome")?,
    })
}

pub(super) async fn callbacks(
    pool: &AnyPool,
    done: bool,
    limit: u32,
) -> Result<Vec<InboxCallback>, StoreError> {
    // Pending: the oldest waited longest. Done: the latest work first.
    let (filter, order) = match done {
        false => (
            "c.done_at IS NULL",
            "c.created_at ASC, c.call_id ASC, c.seq ASC",
        ),
        true => (
            "c.done_at IS NOT NULL",
            "c.done_at DESC, c.call_id DESC, c.seq DESC",
        ),
    };
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS}, k.from_party, k.agent, k.started_at, \
         k.outcome AS call_outcome, e.reason, e.summary, e.next_action, \
         e.outcome AS escalation_outcome \
         FROM callbacks_and_messages c JOIN calls k ON k.id = c.call_id \
         LEFT JOIN escalations e ON e.call_id = c.call_id AND e.seq = 0 \
         WHERE {filter} ORDER BY {order} LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(inbox_callback)
        .collect::<Result<Vec<_>, sqlx::Error>>()?)
}

pub(super) async fn past_escalations(
    pool: &AnyPool,
    limit: u32,
) -> Result<Vec<PastEscalation>, StoreError> {
    // An escalation record with no outcome only carries callbacks the
    // agent took (nobody was asked for): those are inbox items of their
    // own, not hand-overs.
    let rows = sqlx::query(
        "SELECT e.call_id, e.reason, e.summary, e.next_action, e.rep, e.answered_at, e.outcome, \
         e.detail, k.from_party, k.agent, k.started_at, k.ended_at, k.outcome AS call_outcome \
         FROM escalations e JOIN calls k ON k.id = e.call_id \
         WHERE e.outcome IS NOT NULL ORDER BY k.ended_at DESC, e.call_id DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let detail = json(r.try_get("detail")?);
            let field = |key: &str| {
                detail
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            Ok(PastEscalation {
                call_id: r.try_get("call_id")?,
                from: r.try_get("from_party")?,
                agent: r.try_get("agent")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                call_outcome: r.try_get("call_outcome")?,
                requested_at: field("requested_at"),
                urgency: field("urgency"),
                reason: r.try_get("reason")?,
                summary: r.try_get("summary")?,
                next_action: r.try_get("next_action")?,
                rep: r.try_get("rep")?,
                answered_at: r.try_get("answered_at")?,
                outcome: r.try_get("outcome")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?)
}
