//! The reads behind the history API: ended calls in the live list's shape
//! ([`HistoryItem`]), one call with its children ([`CallDetail`]), and the
//! callbacks and messages ([`CallbackItem`]). The inbox's reads and the
//! "done" mark are in [`super::inbox`].

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::StoreError;

/// A leg of an ended call, shaped like the live list's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryLeg {
    /// `caller` or `agent`.
    pub role: &'static str,
    /// How it was carried.
    pub transport: String,
}

/// An ended call in a list: the live list's fields (`state` is `ended`)
/// and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryItem {
    /// warmline's id.
    pub id: String,
    /// `twilio`, `sip` or `webrtc`.
    pub ingress: String,
    /// The provider's id.
    pub provider_id: String,
    /// The agent.
    pub agent: Option<String>,
    /// The caller.
    pub from: String,
    /// The number or URI called.
    pub to: String,
    /// Always `ended`.
    pub state: &'static str,
    /// The caller's and the agent's legs.
    pub legs: Vec<HistoryLeg>,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC.
    pub ended_at: String,
    /// ms.
    pub duration_ms: i64,
    /// contained, escalated, transferred, abandoned or failed.
    pub outcome: String,
}

/// One transcript item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranscriptItem {
    /// `agent` or `caller`.
    pub speaker: String,
    /// As heard.
    pub text: String,
    /// From the call's start, ms.
    pub start_ms: i64,
    /// When known.
    pub end_ms: Option<i64>,
    /// Cut at a barge-in.
    pub truncated: bool,
    /// RFC 3339 UTC.
    pub at: String,
}

/// One tool call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCallItem {
    /// The model's id.
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments.
    pub arguments: Value,
    /// `ok`, an error kind or `cancelled`.
    pub result: String,
    /// ms.
    pub latency_ms: Option<i64>,
    /// The approval decision, when gated.
    pub approval: Option<String>,
    /// Who decided.
    pub approved_by: Option<String>,
    /// RFC 3339 UTC.
    pub at: String,
    /// When the model asked, from the call's start, ms (where the call
    /// detail's timeline marks it).
    pub offset_ms: i64,
}

/// One hand-over to a person.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EscalationItem {
    /// When the agent asked for a person (RFC 3339 UTC); null for a
    /// record that only carries callbacks or messages.
    pub requested_at: Option<String>,
    /// `low`, `normal` or `high`, as the agent said.
    pub urgency: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// What the rep was told.
    pub summary: Option<String>,
    /// What should happen next.
    pub next_action: Option<String>,
    /// Who took it.
    pub rep: Option<String>,
    /// When the rep's phone rang.
    pub ring_at: Option<String>,
    /// When the rep answered.
    pub answered_at: Option<String>,
    /// How it went.
    pub outcome: Option<String>,
}

/// Quality figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityItem {
    /// %.
    pub loss_pct: Option<f64>,
    /// ms.
    pub jitter_ms: Option<f64>,
    /// Count.
    pub barge_ins: Option<i64>,
    /// Count.
    pub false_interruptions: Option<i64>,
}

/// An ended call with everything kept about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallDetail {
    /// The list's fields.
    #[serde(flatten)]
    pub call: HistoryItem,
    /// `call.ended`'s reason.
    pub end_reason: String,
    /// The summary.
    pub summary: Option<String>,
    /// The recording.
    pub recording_url: Option<String>,
    /// The survey answer.
    pub csat: Option<i64>,
    /// What → content hash.
    pub versions: Value,
    /// Quality figures.
    pub quality: QualityItem,
    /// Both sides, in time order.
    pub transcript: Vec<TranscriptItem>,
    /// In the order asked.
    pub tool_calls: Vec<ToolCallItem>,
    /// Hand-overs.
    pub escalations: Vec<EscalationItem>,
    /// Callbacks and messages the agent took on this call.
    pub callbacks: Vec<CallbackItem>,
}

/// A callback or message taken for someone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallbackItem {
    /// The call it was taken on.
    pub call_id: String,
    /// Its position among the call's callbacks and messages (with
    /// `call_id`, what names it: `POST /api/v1/callbacks/{call_id}/{seq}/done`).
    pub seq: i64,
    /// `callback` or `message`.
    pub kind: String,
    /// The number to call back.
    pub number: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Everything the agent noted.
    pub detail: Value,
    /// When someone marked it done (RFC 3339 UTC); null while pending.
    pub done_at: Option<String>,
    /// Who marked it done.
    pub done_by: Option<String>,
}

/// The columns [`callback_item`] reads, of `callbacks_and_messages`
/// (aliased `c` where joined).
pub(super) const CALLBACK_COLUMNS: &str =
    "c.call_id, c.seq, c.kind, c.number, c.message, c.created_at, c.detail, c.done_at, c.done_by";

/// A callback or message from a row of [`CALLBACK_COLUMNS`].
pub(super) fn callback_item(r: &AnyRow) -> Result<CallbackItem, sqlx::Error> {
    Ok(CallbackItem {
        call_id: r.try_get("call_id")?,
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        number: r.try_get("number")?,
        message: r.try_get("message")?,
        created_at: r.try_get("created_at")?,
        detail: json(r.try_get("detail")?),
        done_at: r.try_get("done_at")?,
        done_by: r.try_get("done_by")?,
    })
}

const CALL_COLUMNS: &str = "id, ingress, provider_id, agent, from_party, to_party, started_at, \
     ended_at, duration_ms, outcome";

fn item(row: &AnyRow) -> Result<HistoryItem, sqlx::Error> {
    let ingress: String = row.try_get("ingress")?;
    Ok(HistoryItem {
        id: row.try_get("id")?,
        provider_id: row.try_get("provider_id")?,
        agent: row.try_get("agent")?,
        from: row.try_get("from_party")?,
        to: row.try_get("to_party")?,
        state: "ended",
        legs: vec![
            HistoryLeg {
                role: "caller",
                transport: ingress.clone(),
            },
            HistoryLeg {
                role: "agent",
                transport: "model".into(),
            },
        ],
        ingress,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: row.try_get("outcome")?,
    })
}

pub(super) fn json(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

pub(super) async fn list(pool: &AnyPool, limit: u32) -> Result<Vec<HistoryItem>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS} FROM calls ORDER BY started_at DESC, id DESC LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(item).collect::<Result<_, _>>()?)
}

pub(super) async fn get(pool: &AnyPool, id: &str) -> Result<Option<CallDetail>, StoreError> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {CALL_COLUMNS}, end_reason, summary, recording_url, csat, versions, loss_pct, \
         jitter_ms, barge_ins, false_interruptions FROM calls WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let transcript = sqlx::query(
        "SELECT speaker, text, start_ms, end_ms, truncated, at FROM transcript_items \
         WHERE call_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(TranscriptItem {
            speaker: r.try_get("speaker")?,
            text: r.try_get("text")?,
            start_ms: r.try_get("start_ms")?,
            end_ms: r.try_get("end_ms")?,
            truncated: r.try_get::<i64, _>("truncated")? != 0,
            at: r.try_get("at")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let tool_calls = sqlx::query(
        "SELECT tool_call_id, name, arguments, result, latency_ms, approval, approved_by, at, \
         offset_ms FROM tool_calls WHERE call_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(ToolCallItem {
            id: r.try_get("tool_call_id")?,
            name: r.try_get("name")?,
            arguments: json(r.try_get("arguments")?),
            result: r.try_get("result")?,
            latency_ms: r.try_get("latency_ms")?,
            approval: r.try_get("approval")?,
            approved_by: r.try_get("approved_by")?,
            at: r.try_get("at")?,
            offset_ms: r.try_get("offset_ms")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let escalations = sqlx::query(
        "SELECT reason, summary, next_action, rep, ring_at, answered_at, outcome, detail \
         FROM escalations WHERE call_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        // Fields the table has no column for are read from the whole
        // escalation JSON kept beside it.
        let detail = json(r.try_get("detail")?);
        let field = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(EscalationItem {
            requested_at: field("requested_at"),
            urgency: field("urgency"),
            reason: r.try_get("reason")?,
            summary: r.try_get("summary")?,
            next_action: r.try_get("next_action")?,
            rep: r.try_get("rep")?,
            ring_at: r.try_get("ring_at")?,
            answered_at: r.try_get("answered_at")?,
            outcome: r.try_get("outcome")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let callbacks = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks_and_messages c WHERE c.call_id = $1 \
         ORDER BY c.seq"
    ))
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(callback_item)
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(CallDetail {
        call: item(&row)?,
        end_reason: row.try_get("end_reason")?,
        summary: row.try_get("summary")?,
        recording_url: row.try_get("recording_url")?,
        csat: row.try_get("csat")?,
        versions: json(row.try_get("versions")?),
        quality: QualityItem {
            loss_pct: row.try_get("loss_pct")?,
            jitter_ms: row.try_get("jitter_ms")?,
            barge_ins: row.try_get("barge_ins")?,
            false_interruptions: row.try_get("false_interruptions")?,
        },
        transcript,
        tool_calls,
        escalations,
        callbacks,
    }))
}

pub(super) async fn callbacks(pool: &AnyPool, limit: u32) -> Result<Vec<CallbackItem>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks_and_messages c \
         ORDER BY c.created_at DESC, c.call_id DESC, c.seq DESC LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(callback_item)
        .collect::<Result<Vec<_>, sqlx::Error>>()?)
}
