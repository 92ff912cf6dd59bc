//! The seam between a call and whatever runs its tools: who the call is
//! ([`CallIdentity`]) and the [`ToolSidecar`] that takes its tool calls.
//!
//! The call knows nothing of HTTP: it hands each function call the model
//! makes to its [`CallTools`] and gets the output back on a channel. The
//! implementation (`crate::tools`) runs the I/O on the main runtime, never
//! on the media worker, and cancels everything of a call when its
//! [`CallTools`] is dropped (the caller hung up).

use std::sync::Arc;

use tokio::sync::mpsc;

/// Who a call is, as tools and logs see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CallIdentity {
    /// warmline's own id: a UUIDv7 (sortable by time, URL-safe).
    pub id: String,
    /// The provider's id: Twilio's CallSid, or SIP `Call-ID;tag`.
    pub provider_id: String,
    /// `twilio` or `sip`.
    pub ingress: &'static str,
    /// The agent answering (none until agents are configurable).
    pub agent: Option<String>,
    /// Where the call came in, as routes name it: a `[[sip.trunks]]`
    /// name, `twilio` or `webrtc` (none until the call is routed).
    pub trunk: Option<String>,
    /// The caller, as the provider gave it.
    pub from: String,
    /// The number or URI called.
    pub to: String,
    /// When the call started, RFC 3339 UTC.
    pub started_at: String,
}

impl CallIdentity {
    /// A new call: mints its id and stamps its start now.
    pub fn mint(ingress: &'static str, provider_id: &str, from: &str, to: &str) -> CallIdentity {
        let now = std::time::SystemTime::now();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
        CallIdentity {
            id: uuid::Uuid::new_v7(ts).to_string(),
            provider_id: provider_id.to_owned(),
            ingress,
            agent: None,
            trunk: None,
            from: from.to_owned(),
            to: to.to_owned(),
            started_at: rfc3339(since),
        }
    }
}

/// Formats a time since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(since_epoch: std::time::Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// One function call the model made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The model's id for the call (its output must carry it back).
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object as text.
    pub arguments: String,
}

/// How a gated tool call's approval went (decision 0016), for its record
/// (`call.ended`'s tool calls, the store's `approval` and `approved_by`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// `approved`, `rejected`, `timeout` (nobody decided in time) or
    /// `busy` (too many approvals were pending).
    pub decision: String,
    /// Who decided: a supervisor's name, or `admin token` (none for a
    /// timeout or busy).
    pub by: Option<String>,
}

/// A tool's answer as it comes back to its call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    /// The model's id for the call.
    pub call_id: String,
    /// The output JSON, as the model gets it.
    pub output: String,
    /// How its approval went, when the tool has an approval gate.
    pub approval: Option<ApprovalRecord>,
}

impl ToolOutput {
    /// An output with no approval gate behind it.
    pub fn plain(call_id: String, output: String) -> ToolOutput {
        ToolOutput {
            call_id,
            output,
            approval: None,
        }
    }
}

/// Where a call's tool outputs come back.
pub type ToolResults = mpsc::Sender<ToolOutput>;

/// Runs tools for calls. One per process; cheap to share.
pub trait ToolSidecar: Send + Sync + std::fmt::Debug {
    /// The tool specs to offer a call that starts now, when they can change
    /// while the process runs (MCP servers list tools when they like);
    /// `None` keeps the session's own list.
    fn current_specs(&self) -> Option<Vec<crate::model::ToolSpec>> {
        None
    }

    /// [`ToolSidecar::current_specs`] of the named `[[tools]]` entries only
    /// (an agent's selection; an MCP entry names all of its server's tools).
    fn current_specs_of(&self, entries: &[&str]) -> Option<Vec<crate::model::ToolSpec>> {
        let _ = entries;
        None
    }

    /// Specs offered to calls of `agent` beyond the `[[tools]]` entries,
    /// shaped for that agent (`transfer_call` lists its targets, decision
    /// 0033). Empty by default.
    fn agent_specs(&self, agent: Option<&str>) -> Vec<crate::model::ToolSpec> {
        let _ = agent;
        Vec::new()
    }

    /// Starts serving one call. Outputs go to `results`; dropping the
    /// returned handle cancels every tool call of the call still running.
    fn open(&self, call: CallIdentity, results: ToolResults) -> Box<dyn CallTools>;
}

/// One call's tools. Dropping it cancels what still runs.
pub trait CallTools: Send {
    /// Starts a tool call; its output arrives later on the results channel.
    /// Never blocks the media worker.
    fn run(&mut self, call: ToolCall);

    /// [`run`](Self::run), told when the model's function call arrived in
    /// the call, so the sidecar can time its own dispatch
    /// (`warmline_tool_dispatch_seconds`).
    fn run_arrived(&mut self, call: ToolCall, arrived: std::time::Instant) {
        let _ = arrived;
        self.run(call);
    }
}

/// The process's sidecar, shared by every call.
pub type SharedSidecar = Arc<dyn ToolSidecar>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_minted_call_id_is_a_url_safe_uuid_v7_and_keeps_the_provider_id_apart() {
        let a = CallIdentity::mint("sip", "abc@host;tag=x", "sip:a@b", "sip:c@d");
        let id = uuid::Uuid::parse_str(&a.id).expect("a uuid");
        assert_eq!(id.get_version_num(), 7);
        assert!(a.id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        assert_eq!(a.provider_id, "abc@host;tag=x");
        let b = CallIdentity::mint("sip", "other", "", "");
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn call_ids_sort_by_start_time() {
        let first = CallIdentity::mint("twilio", "CA1", "", "");
        std::thread::sleep(Duration::from_millis(2));
        let second = CallIdentity::mint("twilio", "CA2", "", "");
        assert!(first.id < second.id, "{} !< {}", first.id, second.id);
    }

    #[test]
    fn start_times_are_rfc3339_utc() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(1_709_210_096_789)),
            "2024-02-29T12:34:56.789Z"
        );
    }
}
