//! The seam between a call and whoever hears about it: [`CallEvents`]
//! gets `call.started` when a call's driver starts and `call.ended` with
//! the call's [`CallEnded`] record when it stops.
//!
//! The call knows nothing of HTTP: the implementation (`crate::tools::events`)
//! queues each event and delivers it on the main runtime. Both methods are
//! called from the media worker and must never block or wait: an
//! implementation that cannot take an event drops it (and counts it),
//! because an event must never hold a call open. The record itself is
//! collected by [`CallLog`](super::call_log::CallLog), sans-IO.

use std::sync::Arc;

use serde::Serialize;

use super::tools::CallIdentity;

/// Who spoke a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The agent (the model, or the demo agent's scripted prompts).
    Agent,
    /// The caller, as the model transcribed them.
    Caller,
}

/// One line of a call's transcript. Shaped to be sent on its own too
/// (a live transcript view): it names its item and carries its own time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    /// The model's conversation item the line belongs to.
    pub item_id: String,
    /// Who spoke.
    pub speaker: Speaker,
    /// What was said. For an interrupted agent line: the part the caller
    /// heard, estimated from the audio heard (cut at a word boundary).
    pub text: String,
    /// When the line began (agent: its first audio arrived; caller: the
    /// transcript arrived), RFC 3339 UTC.
    pub at: String,
    /// The same instant, in ms since the call started.
    pub offset_ms: u64,
    /// The caller talked over the agent and the rest was not played.
    pub interrupted: bool,
    /// For an interrupted agent line: how much of its audio was heard, ms.
    pub heard_ms: Option<u64>,
}

/// One tool call of a call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCallRecord {
    /// The model's id for the call.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments the model gave (a JSON object; a string when they
    /// were not JSON).
    pub arguments: serde_json::Value,
    /// `ok`, an error kind of docs/TOOLS.md (`timeout`, `http_status`, …),
    /// or `cancelled` when the call ended before the tool answered.
    pub outcome: String,
    /// When the model asked, RFC 3339 UTC.
    pub at: String,
    /// The same instant, in ms since the call started.
    pub offset_ms: u64,
    /// From the model asking to the answer reaching the call, ms (none
    /// when cancelled).
    pub latency_ms: Option<u64>,
    /// For a tool with an approval gate: `approved`, `rejected`,
    /// `timeout` or `busy` (absent for other tools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Who approved or rejected it: a supervisor's name, or `admin token`
    /// (absent when nobody decided).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up (Twilio `stop`, SIP BYE, the stream closed).
    CallerHungUp,
    /// The agent ended the call (`end_call`).
    AgentEnded,
    /// The server was shutting down and ended the call.
    Drained,
    /// No model could be reached; the caller heard why.
    ModelUnreachable,
    /// Sending to the caller failed: the connection is gone.
    ConnectionLost,
    /// An operator hung up through the admin API
    /// (`POST /api/v1/calls/{id}/hangup`).
    AdminHungUp,
    /// The human rep bridged to the caller hung up, ending the call
    /// (decision 0029): the caller was served by a person, not dropped.
    RepHungUp,
    /// The agent handed the caller elsewhere (`transfer_call`, decision
    /// 0033) and our leg ended.
    Transferred,
}

impl EndReason {
    /// The name `call.ended` and the records use (snake_case), for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHungUp => "caller_hung_up",
            EndReason::AgentEnded => "agent_ended",
            EndReason::Drained => "drained",
            EndReason::ModelUnreachable => "model_unreachable",
            EndReason::ConnectionLost => "connection_lost",
            EndReason::AdminHungUp => "admin_hung_up",
            EndReason::RepHungUp => "rep_hung_up",
            EndReason::Transferred => "transferred",
        }
    }
}

/// What `call.ended` carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallEnded {
    /// Who the call was.
    pub call: CallIdentity,
    /// Why it ended.
    pub reason: EndReason,
    /// More on why, when the transport said (a Twilio or SIP reason).
    pub detail: Option<String>,
    /// When it ended, RFC 3339 UTC.
    pub ended_at: String,
    /// From the call's start to its end, ms.
    pub duration_ms: u64,
    /// Both sides, in time order.
    pub transcript: Vec<TranscriptLine>,
    /// Every tool call, in the order the model asked.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Lines or tool calls left out because the call had too many
    /// (bounded memory per call).
    pub omitted: u64,
    /// A summary of the call (filled by a later release; null today).
    pub summary: Option<String>,
    /// The hand-over to a person, if the agent escalated (`CallLog`
    /// builds it from `escalate_to_human`'s answer; docs/EVENTS.md).
    pub escalation: Option<serde_json::Value>,
    /// Where the recording is (null until recording exists).
    pub recording_url: Option<String>,
    /// The caller's post-call survey answer, 1 to 5 (null when no survey
    /// ran or the caller did not answer).
    pub csat: Option<u8>,
    /// The content hashes of the definitions the call ran with, by what
    /// they define (`agent`, `tools`); empty until versions are kept.
    pub versions: std::collections::BTreeMap<String, String>,
    /// How the call sounded: barge-ins, false interruptions, and the
    /// caller leg's loss and jitter when the leg measures them.
    pub quality: CallQuality,
}

/// A call's quality figures, kept with its record (issue 16).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallQuality {
    /// Caller audio lost on the way in, % of packets (null when the leg
    /// does not measure it).
    pub loss_pct: Option<f64>,
    /// Interarrival jitter of the caller's audio, ms (null likewise).
    pub jitter_ms: Option<f64>,
    /// Barge-ins: the caller talked over the agent and the agent stopped.
    pub barge_ins: u32,
    /// Pauses for a caller sound that resumed (a cough, an "mm-hm").
    pub false_interruptions: u32,
}

/// Hears about every call. Called on the media worker: never blocks.
pub trait CallEvents: Send + Sync + std::fmt::Debug {
    /// The call's driver started (the caller is connected).
    fn call_started(&self, call: &CallIdentity);
    /// The call ended; `ended` is its record.
    fn call_ended(&self, ended: CallEnded);
}

/// The process's event sink, shared by every call.
pub type SharedEvents = Arc<dyn CallEvents>;

/// Several sinks as one: each hears every call (the events webhook and
/// the records store). Each sink keeps its own never-block promise.
#[derive(Debug)]
pub struct FanOut(pub Vec<SharedEvents>);

impl FanOut {
    /// The sinks as one: none, the one, or a [`FanOut`] of them.
    pub fn of(mut sinks: Vec<SharedEvents>) -> Option<SharedEvents> {
        match sinks.len() {
            0 => None,
            1 => sinks.pop(),
            _ => Some(Arc::new(FanOut(sinks))),
        }
    }
}

impl CallEvents for FanOut {
    fn call_started(&self, call: &CallIdentity) {
        for sink in &self.0 {
            sink.call_started(call);
        }
    }

    fn call_ended(&self, ended: CallEnded) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.call_ended(ended.clone());
            }
            last.call_ended(ended);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EndReason;

    #[test]
    fn each_end_reason_logs_the_name_call_ended_carries() {
        for reason in [
            EndReason::CallerHungUp,
            EndReason::AgentEnded,
            EndReason::Drained,
            EndReason::ModelUnreachable,
            EndReason::ConnectionLost,
            EndReason::AdminHungUp,
            EndReason::RepHungUp,
            EndReason::Transferred,
        ] {
            let serialised = serde_json::to_value(reason).expect("serialises");
            assert_eq!(serialised, reason.as_str());
        }
    }
}
