//! Who did what, when, to which call: the audit log of supervisor
//! actions (issue 17, decision 0038).
//!
//! Owns the [`Actor`] a request acts as (a supervisor's session name, or
//! [`Actor::ADMIN_TOKEN`] for the raw admin token), the [`Action`]s that
//! are recorded, and [`Audit`], the handle the HTTP routes and the
//! WebRTC `join` record them through. Each action becomes one
//! [`AuditEntry`], stamped with the server's time, logged as a tracing
//! line (the name, never a token) and handed to an [`AuditSink`] (the
//! records store's writer: `crate::store::writer`), which must never
//! block: a request never waits for the database.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The supervisor's display name, or [`Actor::ADMIN_TOKEN`].
    pub name: String,
    /// The session's id (not its token) when the request came with a
    /// session token: two supervisors may share a name, never an id.
    pub session: Option<String>,
}

impl Actor {
    /// The name recorded for requests made with the admin token itself.
    pub const ADMIN_TOKEN: &'static str = "admin token";

    /// The raw admin token.
    pub fn admin_token() -> Actor {
        Actor {
            name: Actor::ADMIN_TOKEN.to_owned(),
            session: None,
        }
    }

    /// A supervisor's session.
    pub fn supervisor(name: &str, session: &str) -> Actor {
        Actor {
            name: name.to_owned(),
            session: Some(session.to_owned()),
        }
    }

    /// Whether the request came with the admin token, not a session.
    pub fn is_admin_token(&self) -> bool {
        self.session.is_none()
    }
}

/// What a supervisor did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Exchanged the admin token for a session.
    Login,
    /// Ended their session.
    Logout,
    /// Joined a call as a monitor (hears everyone, heard by nobody).
    Listen,
    /// Joined a call as a coach (heard by the rep only).
    Coach,
    /// Joined a call as a rep, beside the agent.
    JoinAsRep,
    /// Joined a call as a rep and the agent left it.
    TakeOver,
    /// Added a text item for the AI (`say`).
    Whisper,
    /// Hung a call up.
    HangUp,
    /// Approved a gated tool call (`detail.edited` when the arguments
    /// were changed).
    Approve,
    /// Rejected a gated tool call.
    Reject,
    /// Marked a callback or message done (`detail.seq`).
    MarkDone,
}

impl Action {
    /// Every action, in the order of the docs.
    pub const ALL: [Action; 11] = [
        Action::Login,
        Action::Logout,
        Action::Listen,
        Action::Coach,
        Action::JoinAsRep,
        Action::TakeOver,
        Action::Whisper,
        Action::HangUp,
        Action::Approve,
        Action::Reject,
        Action::MarkDone,
    ];

    /// The name in the database, the API and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Logout => "logout",
            Action::Listen => "listen",
            Action::Coach => "coach",
            Action::JoinAsRep => "join_as_rep",
            Action::TakeOver => "take_over",
            Action::Whisper => "whisper",
            Action::HangUp => "hang_up",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::MarkDone => "mark_done",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not an audited action"))
    }
}

/// One recorded action: a row of the `audit_log` table, and the spool's
/// line format while the database is down (plain data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A UUIDv7: the row's natural key (a replayed spool inserts it
    /// once) and sortable by time.
    pub id: String,
    /// When the server took the action, RFC 3339 UTC.
    pub at: String,
    /// [`Actor::name`].
    pub who: String,
    /// What was done.
    pub action: Action,
    /// The call it was done to, if any.
    pub call_id: Option<String>,
    /// What else there is to know (a JSON object): the whisper's text, an
    /// approval's tool and edited arguments, the session's id.
    pub detail: Value,
}

/// Where entries go. Called on request handlers: never blocks or waits.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Takes an entry (queued, or spooled when the queue is full).
    fn record(&self, entry: AuditEntry);
}

/// The process's audit log: cheap to clone. Without a sink (the records
/// store is off) actions are still logged as tracing lines.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    sink: Option<Arc<dyn AuditSink>>,
}

impl Audit {
    /// An audit log writing to `sink`.
    pub fn new(sink: Arc<dyn AuditSink>) -> Audit {
        Audit { sink: Some(sink) }
    }

    /// Only tracing lines: nothing is kept.
    pub fn off() -> Audit {
        Audit::default()
    }

    /// Whether entries are kept (a sink is set).
    pub fn is_kept(&self) -> bool {
        self.sink.is_some()
    }

    /// Records that `actor` did `action` to `call_id` now; returns the
    /// entry. `detail` should be a JSON object (anything else is wrapped
    /// as `{"value": …}`).
    pub fn record(
        &self,
        actor: &Actor,
        action: Action,
        call_id: Option<&str>,
        detail: Value,
    ) -> AuditEntry {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut detail = match detail {
            Value::Object(_) => detail,
            Value::Null => Value::Object(Default::default()),
            other => serde_json::json!({ "value": other }),
        };
        if let (Some(session), Some(map)) = (&actor.session, detail.as_object_mut()) {
            map.insert("session".into(), Value::String(session.clone()));
        }
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
        let entry = AuditEntry {
            id: uuid::Uuid::new_v7(ts).to_string(),
            at: crate::call::tools::rfc3339(since),
            who: actor.name.clone(),
            action,
            call_id: call_id.map(str::to_owned),
            detail,
        };
        // The name and what was done; never a token (tests/log_secrets.rs).
        tracing::info!(
            who = %entry.who,
            action = action.as_str(),
            call_id = entry.call_id.as_deref().unwrap_or(""),
            audit_id = %entry.id,
            "supervisor action"
        );
        if let Some(sink) = &self.sink {
            sink.record(entry.clone());
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<AuditEntry>>);

    impl AuditSink for Kept {
        fn record(&self, entry: AuditEntry) {
            self.0.lock().expect("lock").push(entry);
        }
    }

    #[test]
    fn an_entry_names_who_did_what_to_which_call_with_the_session_and_a_time_ordered_id() {
        let kept = Arc::new(Kept::default());
        let audit = Audit::new(kept.clone());
        let ada = Actor::supervisor("Ada", "s-1");
        let first = audit.record(
            &ada,
            Action::Whisper,
            Some("call-1"),
            serde_json::json!({"text": "offer a callback"}),
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = audit.record(&Actor::admin_token(), Action::HangUp, None, Value::Null);
        assert_eq!(first.who, "Ada");
        assert_eq!(first.call_id.as_deref(), Some("call-1"));
        assert_eq!(first.detail["session"], "s-1");
        assert_eq!(first.detail["text"], "offer a callback");
        assert_eq!(second.who, "admin token");
        assert_eq!(second.detail, serde_json::json!({}));
        assert!(first.id < second.id && first.at <= second.at);
        assert!(
            first.at.ends_with('Z') && first.at.len() == 24,
            "{}",
            first.at
        );
        assert_eq!(*kept.0.lock().expect("lock"), [first, second]);
    }

    #[test]
    fn every_action_reads_back_from_its_name() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
            assert_eq!(
                serde_json::to_value(action).expect("serialises"),
                action.as_str()
            );
        }
        assert!("delete_everything".parse::<Action>().is_err());
    }
}
