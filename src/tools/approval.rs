//! The approval gate: a tool with `approval = "required"` waits, inside
//! its sidecar task, for a person to approve or reject it through
//! `/api/v1/approvals` ([`api`]), or for its `approval_timeout_ms`.
//!
//! [`Approvals`] is the process's registry of pending approvals, shared by
//! the sidecar (which adds one per gated tool call) and the HTTP API
//! (which lists and decides them). It is bounded ([`MAX_PENDING`]): at the
//! cap a new gated call is answered at once as not approved, never
//! queued. Every way out removes the entry: a decision, the timeout, or
//! the caller hanging up (the call's task is aborted and its
//! [`Waiting`] guard removes the entry as it drops).
//!
//! The wait never touches the media worker: the call's audio task only
//! hands the tool call over and later gets the output on its channel.
//! Whatever the outcome, the model gets an output it can relay in words.

pub mod api;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::call::tools::{rfc3339, ApprovalRecord, CallIdentity, ToolCall};
use crate::config::ToolConfig;

/// Most approvals pending at once, across all calls. Each holds one of its
/// call's tool slots too, so no call can take more than its cap of them.
pub const MAX_PENDING: usize = 256;

/// The outcomes counted in `warmline_approvals_total`: `approved`,
/// `rejected`, `timeout` (no decision in time), `cancelled` (the caller
/// hung up first) and `refused` ([`MAX_PENDING`] were already waiting).
pub const OUTCOMES: [&str; 5] = ["approved", "rejected", "timeout", "cancelled", "refused"];

/// The `status` of the output the model gets when a gated tool did not run.
pub const STATUS_REJECTED: &str = "rejected";
/// See [`STATUS_REJECTED`]: nobody decided within `approval_timeout_ms`.
pub const STATUS_TIMEOUT: &str = "approval_timeout";
/// See [`STATUS_REJECTED`]: too many approvals were pending.
pub const STATUS_BUSY: &str = "approval_busy";

/// Longest note a supervisor may attach, in characters.
pub const MAX_NOTE_CHARS: usize = 1_000;

/// A tool's approval settings, built once from its `[[tools]]` table.
pub struct Gate {
    /// How long a call waits for a decision.
    pub timeout: Duration,
    /// The tool's parameters schema: edited arguments must pass it.
    schema: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Gate {
    /// The gate of `tool`, `None` when it needs no approval. `schema` is
    /// the parameters schema the model is offered for it (a built-in's
    /// own, unless the table replaces it).
    pub fn of(tool: &ToolConfig, schema: &Value) -> Result<Option<Gate>, String> {
        if tool.approval != crate::config::tools::Approval::Required {
            return Ok(None);
        }
        let schema = jsonschema::validator_for(schema)
            .map_err(|e| format!("invalid parameters schema: {e}"))?;
        Ok(Some(Gate {
            timeout: Duration::from_millis(tool.approval_timeout_ms),
            schema: Arc::new(schema),
        }))
    }
}

/// One pending approval as the API lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PendingApproval {
    /// The approval's id (a UUIDv7: URL-safe, sortable by time).
    pub id: String,
    /// warmline's call id ([`CallIdentity::id`]).
    pub call_id: String,
    /// The tool's name.
    pub tool: String,
    /// The model's arguments (a JSON object; the raw text as a string if
    /// the model sent something that is not JSON).
    pub arguments: Value,
    /// When the call started waiting, RFC 3339 UTC.
    pub waiting_since: String,
}

/// A supervisor's decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Run the tool, with these arguments instead of the model's if given.
    Approve {
        /// Replacement arguments (already checked against the schema).
        arguments: Option<Value>,
        /// A note for the log.
        note: Option<String>,
    },
    /// Do not run it; the model is told, with the note.
    Reject {
        /// Why, in words the agent may relay.
        note: Option<String>,
    },
}

/// Why a decision was not taken.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DecideError {
    /// No such approval pending: a wrong id, or already decided, timed
    /// out or cancelled by a hang-up.
    #[error(
        "no pending approval {0}: it was never made, or was decided, timed out, or its call ended"
    )]
    Unknown(String),
    /// The edited arguments fail the tool's schema; still pending.
    #[error("the edited arguments do not match the tool's parameters schema: {}; the approval is still pending", .0.join("; "))]
    InvalidArguments(Vec<String>),
}

struct Entry {
    public: PendingApproval,
    schema: Arc<jsonschema::Validator>,
    /// The decision and who took it.
    decide: oneshot::Sender<(Decision, String)>,
}

/// The process's pending approvals. Cheap to clone (shared).
#[derive(Clone)]
pub struct Approvals {
    // Held for microseconds (a map insert, remove or copy; schema checks of
    // a small argument object), never across an await.
    pending: Arc<Mutex<BTreeMap<String, Entry>>>,
    cap: usize,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("pending", &self.lock().len())
            .field("cap", &self.cap)
            .finish()
    }
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals::new(MAX_PENDING)
    }
}

/// What a gated tool call does next.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Approved: run the tool with these arguments (JSON text).
    Run {
        /// The model's arguments, or the supervisor's edit.
        arguments: String,
    },
    /// Not approved: this is the tool's output for the model.
    Answer(Value),
}

impl Approvals {
    /// A registry holding at most `cap` pending approvals.
    pub fn new(cap: usize) -> Approvals {
        Approvals {
            pending: Arc::default(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-changed
        // (each operation is one insert or remove), so keep serving.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is pending, oldest first.
    pub fn list(&self) -> Vec<PendingApproval> {
        self.lock().values().map(|e| e.public.clone()).collect()
    }

    /// Decides approval `id` as the admin token (see [`decide_by`](Self::decide_by)).
    pub fn decide(&self, id: &str, decision: Decision) -> Result<(), DecideError> {
        self.decide_by(id, decision, crate::audit::Actor::ADMIN_TOKEN)
            .map(|_| ())
    }

    /// Decides approval `id` as `by` (a supervisor's name: the tool
    /// call's record keeps it as `approved_by`). Edited arguments are
    /// checked against the tool's schema first; if they fail, nothing
    /// changes. Returns the approval that was decided.
    pub fn decide_by(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
    ) -> Result<PendingApproval, DecideError> {
        let mut pending = self.lock();
        let entry = pending
            .get(id)
            .ok_or_else(|| DecideError::Unknown(id.to_owned()))?;
        if let Decision::Approve {
            arguments: Some(edit),
            ..
        } = &decision
        {
            let errors: Vec<String> = entry
                .schema
                .iter_errors(edit)
                .take(5)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() {
                        e.to_string()
                    } else {
                        format!("{at}: {e}")
                    }
                })
                .collect();
            if !errors.is_empty() {
                return Err(DecideError::InvalidArguments(errors));
            }
        }
        let Some(entry) = pending.remove(id) else {
            return Err(DecideError::Unknown(id.to_owned()));
        };
        pending_gauge(pending.len());
        // Sent under the lock: a waiter that finds its entry gone knows
        // the decision is already in its channel. If the waiter has just
        // been aborted (a hang-up), the decision has nobody to reach.
        entry
            .decide
            .send((decision, by.to_owned()))
            .map_err(|_| DecideError::Unknown(id.to_owned()))?;
        Ok(entry.public)
    }

    /// Adds a pending approval; `None` at the cap.
    fn insert(
        &self,
        public: PendingApproval,
        schema: Arc<jsonschema::Validator>,
    ) -> Option<oneshot::Receiver<(Decision, String)>> {
        let mut pending = self.lock();
        if pending.len() >= self.cap {
            return None;
        }
        let (decide, decided) = oneshot::channel();
        pending.insert(
            public.id.clone(),
            Entry {
                public,
                schema,
                decide,
            },
        );
        pending_gauge(pending.len());
        Some(decided)
    }

    /// Removes `id`; whether it was still pending.
    fn remove(&self, id: &str) -> bool {
        let mut pending = self.lock();
        let removed = pending.remove(id).is_some();
        if removed {
            pending_gauge(pending.len());
        }
        removed
    }

    /// Waits for the decision on `tool_call` of `call` (see
    /// [`wait_recorded`](Self::wait_recorded)).
    pub async fn wait(&self, gate: &Gate, call: &CallIdentity, tool_call: &ToolCall) -> Verdict {
        self.wait_recorded(gate, call, tool_call).await.0
    }

    /// Waits for the decision on `tool_call` of `call` (run in the call's
    /// sidecar task, in its span): what to do, and how it was decided and
    /// by whom, for the tool call's record. Cancel-safe: dropping the
    /// future (the caller hung up) removes the pending approval and
    /// counts it `cancelled`.
    pub async fn wait_recorded(
        &self,
        gate: &Gate,
        call: &CallIdentity,
        tool_call: &ToolCall,
    ) -> (Verdict, ApprovalRecord) {
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let arguments = serde_json::from_str(&tool_call.arguments)
            .unwrap_or_else(|_| Value::String(tool_call.arguments.clone()));
        let public = PendingApproval {
            id: uuid::Uuid::now_v7().to_string(),
            call_id: call.id.clone(),
            tool: tool_call.name.clone(),
            arguments,
            waiting_since: rfc3339(since),
        };
        let id = public.id.clone();
        let tool = tool_call.name.as_str();
        let Some(mut decided) = self.insert(public, gate.schema.clone()) else {
            tracing::warn!(
                tool,
                pending = self.cap,
                "approval refused: too many approvals are pending"
            );
            count(OUTCOMES[4]);
            return (Verdict::Answer(busy(tool)), record("busy", None));
        };
        tracing::info!(
            approval_id = %id,
            tool,
            tool_call_id = %tool_call.call_id,
            timeout_ms = gate.timeout.as_millis() as u64,
            "approval requested: waiting for a supervisor"
        );
        let mut waiting = Waiting {
            approvals: self,
            id: &id,
            tool,
            settled: false,
        };
        let decision = match tokio::time::timeout(gate.timeout, &mut decided).await {
            Ok(decision) => decision.ok(),
            // Nobody decided in time, unless a decision raced the timer:
            // the API removes the entry and sends under one lock.
            Err(_) if self.remove(&id) => None,
            Err(_) => decided.try_recv().ok(),
        };
        waiting.settled = true;
        match decision {
            Some((Decision::Approve { arguments, note }, by)) => {
                tracing::info!(
                    approval_id = %id,
                    tool,
                    edited = arguments.is_some(),
                    note = note.as_deref().unwrap_or(""),
                    who = %by,
                    "approval granted: running the tool"
                );
                count(OUTCOMES[0]);
                let verdict = Verdict::Run {
                    arguments: arguments
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| tool_call.arguments.clone()),
                };
                (verdict, record("approved", Some(by)))
            }
            Some((Decision::Reject { note }, by)) => {
                tracing::info!(
                    approval_id = %id,
                    tool,
                    note = note.as_deref().unwrap_or(""),
                    who = %by,
                    "approval rejected: the tool does not run"
                );
                count(OUTCOMES[1]);
                let verdict = Verdict::Answer(rejected(tool, note.as_deref()));
                (verdict, record("rejected", Some(by)))
            }
            None => {
                tracing::info!(
                    approval_id = %id,
                    tool,
                    "approval timed out: the tool does not run"
                );
                count(OUTCOMES[2]);
                let verdict = Verdict::Answer(timed_out(tool, gate.timeout));
                (verdict, record("timeout", None))
            }
        }
    }
}

/// Removes a pending approval whose wait is dropped before it settled.
struct Waiting<'a> {
    approvals: &'a Approvals,
    id: &'a str,
    tool: &'a str,
    settled: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.approvals.remove(self.id);
        tracing::info!(
            approval_id = %self.id,
            tool = self.tool,
            "approval cancelled: the call ended while it waited"
        );
        count(OUTCOMES[3]);
    }
}

fn record(decision: &str, by: Option<String>) -> ApprovalRecord {
    ApprovalRecord {
        decision: decision.to_owned(),
        by,
    }
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::metrics::APPROVALS, "outcome" => outcome).increment(1);
}

fn pending_gauge(len: usize) {
    metrics::gauge!(crate::metrics::APPROVALS_PENDING).set(len as f64);
}

/// The output for a rejected call, with the supervisor's note.
fn rejected(tool: &str, note: Option<&str>) -> Value {
    let mut message = format!("A supervisor declined {tool}, so it did not run.");
    if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
        message.push_str(&format!(" The supervisor's note: \"{}\".", note.trim()));
    }
    message.push_str(
        " Tell the caller it cannot be done right now, in your own words, and offer what else you can do.",
    );
    let mut output = json!({"status": STATUS_REJECTED, "tool": tool, "message": message});
    if let Some(note) = note {
        output["note"] = Value::String(note.to_owned());
    }
    output
}

fn timed_out(tool: &str, after: Duration) -> Value {
    json!({
        "status": STATUS_TIMEOUT,
        "tool": tool,
        "message": format!(
            "{tool} needs a supervisor's approval and nobody approved it within {} seconds, so it did not run. Tell the caller it could not be done right now, and offer to take a message or help another way.",
            after.as_secs().max(1)
        ),
    })
}

fn busy(tool: &str) -> Value {
    json!({
        "status": STATUS_BUSY,
        "tool": tool,
        "message": format!(
            "{tool} needs a supervisor's approval, but too many requests are already waiting for one, so it did not run. Tell the caller it cannot be done right now."
        ),
    })
}

#[cfg(test)]
mod tests;
