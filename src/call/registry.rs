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
//! - **Commands** ([`CallHandle`]) go through a bounded queue the driver
//!   reads on its loop. Control is never dropped: a full queue makes the
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
use tokio::sync::{broadcast, mpsc, oneshot, watch};

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

/// Why a command did not take effect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The call's queue stayed full for [`COMMAND_WAIT`]: retry shortly.
    #[error("the call is busy: its command queue stayed full; retry shortly")]
    Busy,
    /// The call ended before the command was carried out.
    #[error("the call has ended")]
    Ended,
    /// A command this release does not carry out yet.
    #[error("{0} is not supported yet: it comes with the room's next slice (issue 13)")]
    NotSupported(&'static str),
    /// The room refused the operation (an unknown leg, a full room, the
    /// agent already out...): the error says what to do instead.
    #[error(transparent)]
    Room(#[from] super::room::RoomError),
}

/// The answer channel of a room command.
pub type RoomDone<T> = oneshot::Sender<Result<T, super::room::RoomError>>;

/// A command to a call's driver; each carries its answer's channel.
#[derive(Debug)]
pub enum CallCommand {
    /// End the call now.
    HangUp {
        /// Answered once the call is ending.
        done: oneshot::Sender<()>,
    },
    /// Add a text item (a system note) to the AI's conversation.
    AddText {
        /// The note.
        text: String,
        /// Answered once the item is queued for the model.
        done: oneshot::Sender<()>,
    },
    /// Link a leg to the call's room (decision 0024).
    AttachLeg {
        /// Its role: rep, monitor or coach.
        role: LegRole,
        /// Its edge task.
        link: super::room::LegLink,
        /// The new leg's id.
        done: RoomDone<LegId>,
    },
    /// Unlink a leg (it fades out over one tick).
    DetachLeg {
        /// Which.
        leg: LegId,
        /// Answered once it is fading out.
        done: RoomDone<()>,
    },
    /// Replace the room's routing table.
    SetRouting {
        /// The table (`RoutePolicy::normal()`, `brief()` or hand-built).
        policy: crate::media::mixer::RoutePolicy,
        /// Answered once it is fading in.
        done: RoomDone<()>,
    },
    /// Mute or unmute a leg.
    SetMuted {
        /// Which (the caller's or a linked leg).
        leg: LegId,
        /// Muted or not.
        muted: bool,
        /// Answered once it fades.
        done: RoomDone<()>,
    },
    /// Play (or stop, `None`) the hold source.
    SetHold {
        /// Its frames.
        source: Option<Box<dyn super::room::FrameSource>>,
        /// Answered at once.
        done: RoomDone<()>,
    },
    /// The agent leaves the room: its model session closes, the call keeps
    /// its transcript.
    DetachAgent {
        /// Answered once it is fading out.
        done: RoomDone<()>,
    },
    /// The agent comes back: a new session is replayed the transcript
    /// plus `note` (what happened meanwhile), then asked to speak.
    AttachAgent {
        /// A system note for the model.
        note: String,
        /// Answered once the session is opening.
        done: RoomDone<()>,
    },
    /// The conversation so far (`transfer.rs`).
    Snapshot {
        /// Answered at once.
        done: oneshot::Sender<Vec<crate::model::ConversationItem>>,
    },
    /// An out-of-band summary from the call's model session.
    Summarize {
        /// The model's text when it answers; `None` when it cannot.
        done: oneshot::Sender<Option<String>>,
    },
    /// Tell when the agent's response under way, or its next one, has
    /// finished playing.
    WatchAgentTurn {
        /// Answered then.
        done: oneshot::Sender<()>,
    },
    /// Sideline the agent (the caller on hold or with a rep) or not, and
    /// whether it only listens.
    Sideline {
        /// The caller does not wait on the agent.
        sidelined: bool,
        /// The agent is never asked to speak.
        listen_only: bool,
        /// Answered at once.
        done: oneshot::Sender<()>,
    },
    /// Add a note to the conversation and ask the agent to answer.
    NoteAndRespond {
        /// The note.
        note: String,
        /// Answered once queued.
        done: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for dyn super::room::FrameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameSource")
    }
}

/// A leg of a call (0021): the caller is 0, the agent 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LegId(pub u32);

/// Reaches one live call: hang up, add a text item; attach and detach
/// once the room takes more legs.
#[derive(Clone, Debug)]
pub struct CallHandle {
    id: CallId,
    commands: mpsc::Sender<CallCommand>,
}

impl CallHandle {
    /// A handle for call `id` and the queue its driver reads
    /// ([`command_queue`] makes one of the right size).
    pub fn new(id: CallId, commands: mpsc::Sender<CallCommand>) -> CallHandle {
        CallHandle { id, commands }
    }

    /// The call's id.
    pub fn id(&self) -> CallId {
        self.id
    }

    async fn send(
        &self,
        command: impl FnOnce(oneshot::Sender<()>) -> CallCommand,
    ) -> Result<(), CommandError> {
        let permit = match tokio::time::timeout(COMMAND_WAIT, self.commands.reserve()).await {
            Err(_) => return Err(CommandError::Busy),
            Ok(Err(_)) => return Err(CommandError::Ended),
            Ok(Ok(permit)) => permit,
        };
        let (done, answer) = oneshot::channel();
        permit.send(command(done));
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Ends the call (it hangs up on the caller at once).
    pub async fn hang_up(&self) -> Result<(), CommandError> {
        self.send(|done| CallCommand::HangUp { done }).await
    }

    /// Adds `text` to the AI's conversation as a system note (replayed
    /// with the rest if the session is reopened). The model does not
    /// answer it by itself: it uses it on its next turn.
    pub async fn add_text(&self, text: String) -> Result<(), CommandError> {
        self.send(|done| CallCommand::AddText { text, done }).await
    }

    async fn room<T>(
        &self,
        command: impl FnOnce(RoomDone<T>) -> CallCommand,
    ) -> Result<T, CommandError> {
        let permit = match tokio::time::timeout(COMMAND_WAIT, self.commands.reserve()).await {
            Err(_) => return Err(CommandError::Busy),
            Ok(Err(_)) => return Err(CommandError::Ended),
            Ok(Ok(permit)) => permit,
        };
        let (done, answer) = oneshot::channel();
        permit.send(command(done));
        Ok(answer.await.map_err(|_| CommandError::Ended)??)
    }

    /// Links a leg in `role` (rep, monitor or coach) to the call: its
    /// edge task (`link`) starts on the call's worker, and the leg hears
    /// and is heard (as the routing table says) from the next tick, faded
    /// in. Returns its id.
    pub async fn attach(
        &self,
        role: LegRole,
        link: super::room::LegLink,
    ) -> Result<LegId, CommandError> {
        self.room(|done| CallCommand::AttachLeg { role, link, done })
            .await
    }

    /// Unlinks a leg (fading out over one tick); its edge task's port
    /// closes. The agent leaves with [`detach_agent`](Self::detach_agent).
    pub async fn detach(&self, leg: LegId) -> Result<(), CommandError> {
        self.room(|done| CallCommand::DetachLeg { leg, done }).await
    }

    /// Replaces the room's routing table: `RoutePolicy::normal()`,
    /// `RoutePolicy::brief()` (the caller on hold, the agent heard by the
    /// rep) or a hand-built table. Fades over one tick.
    pub async fn set_routing(
        &self,
        policy: crate::media::mixer::RoutePolicy,
    ) -> Result<(), CommandError> {
        self.room(|done| CallCommand::SetRouting { policy, done })
            .await
    }

    /// Mutes or unmutes the caller's leg or a linked leg.
    pub async fn set_muted(&self, leg: LegId, muted: bool) -> Result<(), CommandError> {
        self.room(|done| CallCommand::SetMuted { leg, muted, done })
            .await
    }

    /// Plays `source` as the room's hold source (`None` stops it). Whom
    /// it reaches is the routing table's choice: `brief` routes it to the
    /// caller.
    pub async fn set_hold(
        &self,
        source: Option<Box<dyn super::room::FrameSource>>,
    ) -> Result<(), CommandError> {
        self.room(|done| CallCommand::SetHold { source, done })
            .await
    }

    /// The agent leaves the room (a rep takes the call): it fades out, its
    /// model session closes, its transcript stays with the call.
    pub async fn detach_agent(&self) -> Result<(), CommandError> {
        self.room(|done| CallCommand::DetachAgent { done }).await
    }

    /// The agent comes back (hand-back): a new model session is replayed
    /// the transcript and `note` (say what happened, e.g. "The rep
    /// refunded the order and handed the call back."), then asked to
    /// speak.
    pub async fn attach_agent(&self, note: String) -> Result<(), CommandError> {
        self.room(|done| CallCommand::AttachAgent { note, done })
            .await
    }
}

/// A call's command queue: the handle's end and the driver's.
pub fn command_queue(id: CallId) -> (CallHandle, mpsc::Receiver<CallCommand>) {
    let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
    (CallHandle::new(id, tx), rx)
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

mod transfer;

#[cfg(test)]
mod tests;
