//! [`StoredCall`]: a call's record as the store keeps it, built from
//! `call.ended` ([`CallEnded`]), and [`Record`], what the writer takes: a
//! call's record or a supervisor action's audit entry. A record is also
//! the spool's line format (JSON), so it is plain data that reads back
//! exactly as written.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditEntry;
use crate::call::events::{CallEnded, EndReason, Speaker};

/// What the writer stores. As a spool line, a call is its record exactly
/// as before audit entries existed (so an older spool replays), and an
/// audit entry is `{"audit": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// An ended call.
    Call(Box<StoredCall>),
    /// A supervisor's action (decision 0038).
    Audit {
        /// The entry.
        audit: AuditEntry,
    },
}

impl Record {
    /// The record's key, for logs: the call's or the entry's id.
    pub fn id(&self) -> &str {
        match self {
            Record::Call(call) => &call.id,
            Record::Audit { audit } => &audit.id,
        }
    }
}

impl From<StoredCall> for Record {
    fn from(call: StoredCall) -> Record {
        Record::Call(Box::new(call))
    }
}

impl From<AuditEntry> for Record {
    fn from(audit: AuditEntry) -> Record {
        Record::Audit { audit }
    }
}

/// How a call ended, for reporting (issue 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent handled it to the end.
    Contained,
    /// Handed to a person, who did not (or not yet) take it.
    Escalated,
    /// Handed to a person who answered.
    Transferred,
    /// The caller left before the agent was heard.
    Abandoned,
    /// The call broke: no model, or the connection was lost.
    Failed,
}

impl Outcome {
    /// Every outcome, for metrics set to zero at start-up.
    pub const ALL: [Outcome; 5] = [
        Outcome::Contained,
        Outcome::Escalated,
        Outcome::Transferred,
        Outcome::Abandoned,
        Outcome::Failed,
    ];

    /// The name in the database, the API and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Contained => "contained",
            Outcome::Escalated => "escalated",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of an ended call. An escalation wins: answered by a
    /// rep it is a transfer, otherwise an escalation. A call that broke
    /// failed. A caller who hung up before any agent line was heard
    /// abandoned. Everything else the agent contained.
    pub fn of(ended: &CallEnded) -> Outcome {
        if let Some(escalation) = &ended.escalation {
            let answered = escalation.get("answered_at").is_some_and(|v| !v.is_null())
                || matches!(
                    escalation.get("outcome").and_then(Value::as_str),
                    Some("answered" | "transferred" | "bridged")
                );
            return if answered {
                Outcome::Transferred
            } else {
                Outcome::Escalated
            };
        }
        match ended.reason {
            EndReason::ModelUnreachable | EndReason::ConnectionLost => Outcome::Failed,
            // A blind transfer (decision 0033).
            EndReason::Transferred => Outcome::Transferred,
            EndReason::CallerHungUp
                if !ended.transcript.iter().any(|l| l.speaker == Speaker::Agent) =>
            {
                Outcome::Abandoned
            }
            _ => Outcome::Contained,
        }
    }
}

/// One transcript item as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredLine {
    /// The model's item id.
    pub item_id: String,
    /// `agent` or `caller`.
    pub speaker: String,
    /// What was said, as heard.
    pub text: String,
    /// From the call's start, ms.
    pub start_ms: u64,
    /// Where it ended when known (an interrupted agent line: start + heard).
    pub end_ms: Option<u64>,
    /// Cut at a barge-in to what was heard.
    pub truncated: bool,
    /// RFC 3339 UTC.
    pub at: String,
}

/// One tool call as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredToolCall {
    /// The model's id for the call.
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments (JSON).
    pub arguments: Value,
    /// `ok`, an error kind, or `cancelled`.
    pub result: String,
    /// Ask to answer, ms.
    pub latency_ms: Option<u64>,
    /// The approval gate's decision, when the tool had one.
    pub approval: Option<String>,
    /// Who decided it.
    pub approved_by: Option<String>,
    /// RFC 3339 UTC.
    pub at: String,
    /// From the call's start, ms.
    pub offset_ms: u64,
}

/// A call's record: the `calls` row and its children.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredCall {
    /// warmline's id.
    pub id: String,
    /// The provider's id.
    pub provider_id: String,
    /// `twilio`, `sip` or `webrtc`.
    pub ingress: String,
    /// The agent that answered.
    pub agent: Option<String>,
    /// The trunk it came in on, as routes name it (records spooled before
    /// the field existed read back without it).
    #[serde(default)]
    pub trunk: Option<String>,
    /// The caller.
    pub from: String,
    /// The number or URI called.
    pub to: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC.
    pub ended_at: String,
    /// ms.
    pub duration_ms: u64,
    /// See [`Outcome`].
    pub outcome: Outcome,
    /// `call.ended`'s reason.
    pub end_reason: String,
    /// More on the reason.
    pub end_detail: Option<String>,
    /// Caller audio lost, %.
    pub loss_pct: Option<f64>,
    /// Caller jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Barge-ins.
    pub barge_ins: u32,
    /// Pauses that resumed.
    pub false_interruptions: u32,
    /// A summary, when one was made.
    pub summary: Option<String>,
    /// The recording.
    pub recording_url: Option<String>,
    /// The survey answer, 1–5.
    pub csat: Option<u8>,
    /// What → content hash.
    pub versions: std::collections::BTreeMap<String, String>,
    /// Lines or tool calls the call had too many of.
    pub omitted: u64,
    /// Both sides, in time order.
    pub transcript: Vec<StoredLine>,
    /// In the order asked.
    pub tool_calls: Vec<StoredToolCall>,
    /// The hand-over (issue 14's JSON), if any.
    pub escalation: Option<Value>,
}

impl StoredCall {
    /// The record of an ended call.
    pub fn from_ended(ended: CallEnded) -> StoredCall {
        let outcome = Outcome::of(&ended);
        let reason = serde_json::to_value(ended.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let transcript = ended
            .transcript
            .into_iter()
            .map(|l| StoredLine {
                end_ms: l.heard_ms.map(|h| l.offset_ms + h),
                speaker: match l.speaker {
                    Speaker::Agent => "agent",
                    Speaker::Caller => "caller",
                }
                .to_owned(),
                item_id: l.item_id,
                text: l.text,
                start_ms: l.offset_ms,
                truncated: l.interrupted,
                at: l.at,
            })
            .collect();
        let tool_calls = ended
            .tool_calls
            .into_iter()
            .map(|t| StoredToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
                result: t.outcome,
                latency_ms: t.latency_ms,
                approval: t.approval,
                approved_by: t.approved_by,
                at: t.at,
                offset_ms: t.offset_ms,
            })
            .collect();
        StoredCall {
            id: ended.call.id,
            provider_id: ended.call.provider_id,
            ingress: ended.call.ingress.to_owned(),
            agent: ended.call.agent,
            trunk: ended.call.trunk,
            from: ended.call.from,
            to: ended.call.to,
            started_at: ended.call.started_at,
            ended_at: ended.ended_at,
            duration_ms: ended.duration_ms,
            outcome,
            end_reason: reason,
            end_detail: ended.detail,
            loss_pct: ended.quality.loss_pct,
            jitter_ms: ended.quality.jitter_ms,
            barge_ins: ended.quality.barge_ins,
            false_interruptions: ended.quality.false_interruptions,
            summary: ended.summary,
            recording_url: ended.recording_url,
            csat: ended.csat.filter(|c| (1..=5).contains(c)),
            versions: ended.versions,
            omitted: ended.omitted,
            transcript,
            tool_calls,
            escalation: ended.escalation,
        }
    }

    /// The callbacks and messages the escalation carries: `callback` and
    /// `message` objects (or arrays of them) of issue 14's JSON.
    pub fn callbacks(&self) -> Vec<(&'static str, &Value)> {
        let Some(escalation) = &self.escalation else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for kind in ["callback", "message"] {
            match escalation.get(kind) {
                Some(Value::Array(items)) => found.extend(items.iter().map(|v| (kind, v))),
                Some(v @ Value::Object(_)) => found.push((kind, v)),
                _ => {}
            }
        }
        found
    }
}

/// A string field of a JSON object, if it is one.
pub fn text_field(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
