//! The live-call registry (decisions 0021 and 0022): which calls are up
//! now, a command handle per call, and the live events of each call.
//!
//! [`CallRegistry`] is the seam; [`InProcessRegistry`] is this process's
//! implementation (scale-out backs the same trait with a shared store).
//! It lives in `call` because a call registers itself and reads its own
//! commands; it knows no HTTP (the routes are `crate::http::calls`).
//!
//! - **Entries** are keyed by the call's UUIDv7 ([`CallId`]) and live as
//!   long as the [`Registration`] the call's driver holds: dropping it (the
//!   driver's task ends, however it ends) removes the entry.
//! - **Commands** ([`CallHandle`], `handle.rs`; warm transfer's in
//!   `transfer.rs`) go through a bounded queue the driver reads on its loop. Control is never dropped: a full queue makes the
//!   sender wait up to [`COMMAND_WAIT`] and then answer
//!   [`CommandError::Busy`], so the caller of the API hears "try again".
//! - **Live events** ([`LiveEvent`]) go on a bounded broadcast per call and
//!   one for the process. Publishing never waits: a subscriber that falls
//!   behind loses the oldest events and is told how many
//!   ([`Received::Lagged`]). Records that must not be lost take the
//!   lossless events webhook (`super::events`), never this broadcast.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::events::TranscriptLine;
use super::tools::CallIdentity;

/// Commands queued per call before senders wait.
pub const COMMAND_CAPACITY: usize = 16;
/// How long a command waits for room in a call's queue before
/// [`CommandError::Busy`].
pub const COMMAND_WAIT: Duration = Duration::from_secs(2);
/// Events a call's broadcast holds for its slowest subscriber.
pub const CALL_EVENTS_CAPACITY: usize = 256;
/// Events the process-wide broadcast holds for its slowest subscriber.
pub const ALL_EVENTS_CAPACITY: usize = 1024;

/// A call's id: warmline's UUIDv7 (`CallIdentity::id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(uuid::Uuid);

impl std::str::FromStr for CallId {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<CallId, RegistryError> {
        uuid::Uuid::parse_str(s)
            .map(CallId)
            .map_err(|_| RegistryError::BadId(s.chars().take(64).collect()))
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Serialize for CallId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The caller is connected; the agent has not spoken yet.
    Connecting,
    /// The conversation is under way.
    Live,
    /// The call is hanging up (a goodbye may still be playing).
    Ending,
    /// The agent briefs a rep while the caller is on hold (the `brief`
    /// routing table is in force).
    Brief,
    /// The agent has left: the caller talks with a rep.
    Bridged,
}

/// A leg's role in the call's room (0021).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegRole {
    /// The person who called (or was called).
    Caller,
    /// The model.
    Agent,
    /// A human representative.
    Rep,
    /// A listener nobody hears.
    Monitor,
    /// A listener heard by the rep only.
    Coach,
}

/// One leg of a call, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegSummary {
    /// The leg's id in the call (the caller is 0, the agent 1; linked
    /// legs count up from 2 and are never reused).
    pub id: LegId,
    /// The leg's role.
    pub role: LegRole,
    /// How it is carried: `twilio`, `sip`, `webrtc`, `model`.
    pub transport: &'static str,
    /// Heard by nobody (it still hears the room).
    pub muted: bool,
}

/// A live call as the API shows it (its JSON is the API's schema).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// warmline's id.
    pub id: CallId,
    /// `twilio` or `sip`.
    pub ingress: &'static str,
    /// Twilio's CallSid or SIP's `Call-ID;tag`.
    pub provider_id: String,
    /// The agent answering, when agents are configured.
    pub agent: Option<String>,
    /// The caller, as the provider gave it.
    pub from: String,
    /// The number or URI called.
    pub to: String,
    /// Where the call is.
    pub state: CallState,
    /// Its legs (today: the caller and the agent).
    pub legs: Vec<LegSummary>,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
    /// While the long-silence flag is up: when the silence began, RFC
    /// 3339 UTC (decision 0038); null otherwise.
    pub silent_since: Option<String>,
}

impl CallSummary {
    /// A call that just connected: the caller on `ingress`, and the agent.
    pub fn connecting(identity: &CallIdentity) -> Result<CallSummary, RegistryError> {
        Ok(CallSummary {
            id: identity.id.parse()?,
            ingress: identity.ingress,
            provider_id: identity.provider_id.clone(),
            agent: identity.agent.clone(),
            from: identity.from.clone(),
            to: identity.to.clone(),
            state: CallState::Connecting,
            legs: vec![
                LegSummary {
                    id: super::room::CALLER,
                    role: LegRole::Caller,
                    transport: identity.ingress,
                    muted: false,
                },
                LegSummary {
                    id: super::room::AGENT,
                    role: LegRole::Agent,
                    transport: "model",
                    muted: false,
                },
            ],
            started_at: identity.started_at.clone(),
            silent_since: None,
        })
    }
}

/// Which calls to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CallFilter {
    /// The calls up now (the default).
    #[default]
    Live,
}

impl std::str::FromStr for CallFilter {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<CallFilter, RegistryError> {
        match s {
            "live" => Ok(CallFilter::Live),
            other => Err(RegistryError::BadFilter(other.chars().take(32).collect())),
        }
    }
}

/// What went wrong with the registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A call id that is not a UUID.
    #[error("{0:?} is not a call id: call ids are UUIDs (GET /api/v1/calls lists them)")]
    BadId(String),
    /// A call with this id is registered already (a bug in the ingress).
    #[error("call {0} is registered already")]
    Duplicate(CallId),
    /// A `state` filter this release does not serve.
    #[error("state={0:?} is not served: use state=live (ended and all come with call records)")]
    BadFilter(String),
}

/// One live event of a call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveEvent {
    /// The call it is about.
    pub call_id: CallId,
    /// What happened.
    #[serde(flatten)]
    pub kind: LiveEventKind,
}

/// What happened; the JSON's `type` names it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEventKind {
    /// The call moved to `state`; `ended` when its entry is gone.
    State {
        /// The new state, or `ended`.
        state: &'static str,
    },
    /// A transcript line, either side. An agent line comes when its
    /// transcript is done, and again (same `item_id`, `interrupted`) when
    /// a barge-in cut it to what was heard.
    Transcript(TranscriptLine),
    /// The caller talked over the agent.
    BargeIn {
        /// The agent item cut, if one was playing.
        item_id: Option<String>,
        /// How much of it was heard, ms.
        heard_ms: Option<u64>,
        /// `local_vad` (warmline's) or `model_speech_started`.
        trigger: &'static str,
    },
    /// The model asked for a tool.
    ToolCall {
        /// The model's id for the call.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A tool's answer reached the call.
    ToolResult {
        /// The model's id for the call.
        id: String,
    },
    /// A text item was added through the API.
    TextAdded {
        /// The note.
        text: String,
    },
    /// The call's legs changed (a leg joined, left or was muted; the
    /// agent left or came back): all of them, as the call lists them.
    Legs {
        /// The legs now.
        legs: Vec<LegSummary>,
    },
    /// Neither side has been heard for the long-silence bound while the
    /// AI holds the call (`silent: true`), or the silence ended
    /// (`silent: false`: someone spoke, or the AI no longer holds the
    /// call). Decision 0038.
    LongSilence {
        /// Whether the flag is up now.
        silent: bool,
        /// When the silence began, RFC 3339 UTC.
        since: String,
        /// How long it has lasted, ms.
        silent_ms: u64,
    },
}

/// What a subscriber gets next.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// The next event.
    Event(LiveEvent),
    /// This subscriber fell behind and lost this many events.
    Lagged(u64),
    /// No more events: the call ended (or the process is stopping).
    Closed,
}

/// The next event for a subscriber; never slows the publisher.
pub async fn next_event(rx: &mut broadcast::Receiver<LiveEvent>) -> Received {
    match rx.recv().await {
        Ok(event) => Received::Event(event),
        Err(broadcast::error::RecvError::Lagged(n)) => Received::Lagged(n),
        Err(broadcast::error::RecvError::Closed) => Received::Closed,
    }
}

/// A call's place in the registry: held by the call's driver, which
/// publishes through it. Dropping it removes the call.
pub struct Registration {
    id: CallId,
    summary: watch::Sender<CallSummary>,
    call_events: broadcast::Sender<LiveEvent>,
    all_events: broadcast::Sender<LiveEvent>,
    on_drop: Option<Box<dyn FnOnce(CallId) + Send + Sync>>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish()
    }
}

impl Registration {
    /// Publishes an event to the call's and the process's subscribers.
    /// Never waits; with nobody listening it costs a clone.
    pub fn publish(&self, kind: LiveEventKind) {
        let event = LiveEvent {
            call_id: self.id,
            kind,
        };
        // A send error only means nobody is subscribed.
        let _ = self.call_events.send(event.clone());
        let _ = self.all_events.send(event);
    }

    /// Moves the call to `state` (a no-op if it is there already).
    pub fn set_state(&self, state: CallState) {
        let changed = self.summary.send_if_modified(|s| {
            let changed = s.state != state;
            s.state = state;
            changed
        });
        if changed {
            self.publish(LiveEventKind::State {
                state: state_name(state),
            });
        }
    }

    /// Replaces the call's legs and publishes them (a no-op if
    /// unchanged).
    pub fn set_legs(&self, legs: Vec<LegSummary>) {
        let changed = self.summary.send_if_modified(|s| {
            let changed = s.legs != legs;
            if changed {
                s.legs = legs.clone();
            }
            changed
        });
        if changed {
            self.publish(LiveEventKind::Legs { legs });
        }
    }

    /// Raises (`Some(since)`) or lowers (`None`) the long-silence flag
    /// in the summary, and publishes the change with how long it lasted.
    pub fn set_silent(&self, since: Option<String>, began: &str, silent_ms: u64) {
        let silent = since.is_some();
        self.summary.send_modify(|s| s.silent_since = since);
        self.publish(LiveEventKind::LongSilence {
            silent,
            since: began.to_owned(),
            silent_ms,
        });
    }

    /// The call's current summary.
    pub fn summary(&self) -> CallSummary {
        self.summary.borrow().clone()
    }
}

fn state_name(state: CallState) -> &'static str {
    match state {
        CallState::Connecting => "connecting",
        CallState::Live => "live",
        CallState::Ending => "ending",
        CallState::Brief => "brief",
        CallState::Bridged => "bridged",
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Removed first: whoever hears `ended` finds the call gone.
        if let Some(remove) = self.on_drop.take() {
            remove(self.id);
        }
        self.publish(LiveEventKind::State { state: "ended" });
    }
}

/// The registry seam. Called from the main runtime (the API) and from
/// media workers (register); implementations never block for long.
pub trait CallRegistry: Send + Sync + std::fmt::Debug + 'static {
    /// Registers a call that just connected; it is listed until the
    /// returned [`Registration`] drops.
    fn register(
        &self,
        summary: CallSummary,
        handle: CallHandle,
    ) -> Result<Registration, RegistryError>;
    /// The calls `filter` selects, oldest first.
    fn list(&self, filter: CallFilter) -> Vec<CallSummary>;
    /// One call.
    fn get(&self, id: &CallId) -> Option<CallSummary>;
    /// A call's command handle.
    fn handle(&self, id: &CallId) -> Option<CallHandle>;
    /// A call's live events, from now on.
    fn subscribe(&self, id: &CallId) -> Option<broadcast::Receiver<LiveEvent>>;
    /// Every call's live events, from now on.
    fn subscribe_all(&self) -> broadcast::Receiver<LiveEvent>;
}

/// The process's registry, shared by the ingresses and the API.
pub type SharedRegistry = Arc<dyn CallRegistry>;

struct Entry {
    summary: watch::Receiver<CallSummary>,
    handle: CallHandle,
    events: broadcast::Sender<LiveEvent>,
}

/// The in-process registry: a map behind a lock taken only to register,
/// remove and read, never on the audio path.
#[derive(Clone)]
pub struct InProcessRegistry {
    calls: Arc<RwLock<HashMap<CallId, Entry>>>,
    all_events: broadcast::Sender<LiveEvent>,
}

impl std::fmt::Debug for InProcessRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessRegistry")
            .field("calls", &self.len())
            .finish()
    }
}

impl Default for InProcessRegistry {
    fn default() -> Self {
        InProcessRegistry::new()
    }
}

impl InProcessRegistry {
    /// An empty registry.
    pub fn new() -> InProcessRegistry {
        InProcessRegistry {
            calls: Arc::default(),
            all_events: broadcast::channel(ALL_EVENTS_CAPACITY).0,
        }
    }

    /// Calls registered now.
    pub fn len(&self) -> usize {
        self.calls.read().map_or(0, |c| c.len())
    }

    /// Whether no call is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CallRegistry for InProcessRegistry {
    fn register(
        &self,
        summary: CallSummary,
        handle: CallHandle,
    ) -> Result<Registration, RegistryError> {
        let id = summary.id;
        let (summary_tx, summary_rx) = watch::channel(summary);
        let (call_events, _) = broadcast::channel(CALL_EVENTS_CAPACITY);
        {
            // A poisoned lock still holds a consistent map: every write
            // below is a single insert or remove.
            let mut calls = self.calls.write().unwrap_or_else(|e| e.into_inner());
            if calls.contains_key(&id) {
                return Err(RegistryError::Duplicate(id));
            }
            calls.insert(
                id,
                Entry {
                    summary: summary_rx,
                    handle,
                    events: call_events.clone(),
                },
            );
            crate::metrics::registry_calls(calls.len());
        }
        let calls = Arc::downgrade(&self.calls);
        let registration = Registration {
            id,
            summary: summary_tx,
            call_events,
            all_events: self.all_events.clone(),
            on_drop: Some(Box::new(move |id| {
                if let Some(calls) = calls.upgrade() {
                    let mut calls = calls.write().unwrap_or_else(|e| e.into_inner());
                    calls.remove(&id);
                    crate::metrics::registry_calls(calls.len());
                }
            })),
        };
        registration.publish(LiveEventKind::State {
            state: state_name(registration.summary().state),
        });
        Ok(registration)
    }

    fn list(&self, filter: CallFilter) -> Vec<CallSummary> {
        let CallFilter::Live = filter;
        let calls = self.calls.read().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<CallSummary> =
            calls.values().map(|e| e.summary.borrow().clone()).collect();
        // UUIDv7 sorts by start time.
        list.sort_by_key(|s| s.id);
        list
    }

    fn get(&self, id: &CallId) -> Option<CallSummary> {
        let calls = self.calls.read().unwrap_or_else(|e| e.into_inner());
        calls.get(id).map(|e| e.summary.borrow().clone())
    }

    fn handle(&self, id: &CallId) -> Option<CallHandle> {
        let calls = self.calls.read().unwrap_or_else(|e| e.into_inner());
        calls.get(id).map(|e| e.handle.clone())
    }

    fn subscribe(&self, id: &CallId) -> Option<broadcast::Receiver<LiveEvent>> {
        let calls = self.calls.read().unwrap_or_else(|e| e.into_inner());
        calls.get(id).map(|e| e.events.subscribe())
    }

    fn subscribe_all(&self) -> broadcast::Receiver<LiveEvent> {
        self.all_events.subscribe()
    }
}

mod handle;
mod transfer;

pub use handle::{command_queue, CallCommand, CallHandle, CommandError, LegId, RoomDone};

#[cfg(test)]
mod tests;
