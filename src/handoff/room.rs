//! The seam between an escalation and the live call it transfers: what the
//! machine needs from the room of legs (decision 0021), and nothing else.
//!
//! [`super::LiveRooms`] implements [`Rooms`] on the live-call registry and
//! [`RoomControl`] on each call's `CallHandle` (with the rep's WebRTC leg,
//! which the rep's signalling socket negotiates after `accept`; decision
//! 0029). Every future is
//! `'static` (implementations clone their handle) and bounded in time by
//! the implementation: a call that does not answer a command within 2 s
//! answers [`RoomError::Busy`], as `CallHandle` does.

use futures_util::future::BoxFuture;

use super::card::{CallSummary, CardLine, CardRecord};
use super::presence::RepId;
use crate::config::AgentAfterBridge;

/// Why a room command failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// The call ended meanwhile; the escalation stops.
    #[error("the call ended")]
    Ended,
    /// The call's command queue stayed full; the escalation gives up
    /// rather than wait on a stuck call.
    #[error("the call did not take the command in time")]
    Busy,
    /// The rep's media leg could not be attached (it never negotiated, or
    /// the WebRTC port range is exhausted).
    #[error("the rep's audio could not join the call: {0}")]
    RepLeg(String),
    /// The model could not produce what was asked (the summary).
    #[error("the model could not answer: {0}")]
    Model(String),
}

/// What the card shows of the call so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallSnapshot {
    /// The transcript so far.
    pub transcript: Vec<CardLine>,
    /// Records tools fetched.
    pub records: Vec<CardRecord>,
}

/// One live call, as an escalation drives it. Each method maps to the
/// machine's [`super::Action`] of the same name.
pub trait RoomControl: Send + Sync + 'static {
    /// The transcript and tool records so far, for the card.
    fn snapshot(&self) -> BoxFuture<'static, Result<CallSnapshot, RoomError>>;
    /// The out-of-band summary and next action from the call's own model
    /// session (`ModelCommand::Summarize`); resolves when it arrives. The
    /// shell time-boxes it.
    fn summarize(&self) -> BoxFuture<'static, Result<CallSummary, RoomError>>;
    /// The caller hears hold audio (`[handoff] hold_wav`, looped) and is
    /// heard by nobody; the agent stops answering (no response is created
    /// while on hold). Idempotent.
    fn hold_caller(&self) -> BoxFuture<'static, Result<(), RoomError>>;
    /// Plays the position prompt for `position` (1-based) to the caller,
    /// over the hold audio.
    fn announce_position(&self, position: usize) -> BoxFuture<'static, Result<(), RoomError>>;
    /// The rep accepted: attach their media leg with the role `rep`.
    fn attach_rep(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>>;
    /// `RoutePolicy::brief()`: the agent is heard by the rep only and
    /// hears the rep; the caller stays on hold. Resolves when the agent's
    /// next response (its answer to the tool result, which is the brief)
    /// is done playing, or the rep skipped it.
    fn brief(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>>;
    /// `RoutePolicy::normal()` with caller and rep; hold stops; the agent
    /// leg detaches, its session closed or kept listening.
    fn bridge(
        &self,
        rep: &RepId,
        agent: AgentAfterBridge,
    ) -> BoxFuture<'static, Result<(), RoomError>>;
    /// The rep's leg leaves before the bridge.
    fn detach_rep(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>>;
    /// No rep: hold stops, routing back to normal, the agent hears the
    /// caller again (its tool result follows through the sidecar).
    fn resume_agent(&self) -> BoxFuture<'static, Result<(), RoomError>>;
    /// The rep hands the caller back: the rep's leg detaches, the agent
    /// re-attaches (its session replayed with the transcript if it was
    /// closed), `note` is added as a conversation item and the agent
    /// answers.
    fn hand_back(&self, rep: &RepId, note: String) -> BoxFuture<'static, Result<(), RoomError>>;
    /// The rep hung up after the bridge: end the call (BYE on SIP, the
    /// stream closed on Twilio; later, the post-call survey).
    fn end_call(&self) -> BoxFuture<'static, Result<(), RoomError>>;
    /// Resolves when the call has ended, however it ended.
    fn ended(&self) -> BoxFuture<'static, ()>;
}

/// Finds a live call's room by warmline's call id.
pub trait Rooms: Send + Sync + 'static {
    /// The room of the call, if it is live and can take legs.
    fn room(&self, call_id: &str) -> Option<std::sync::Arc<dyn RoomControl>>;
}

/// No call can take legs: escalations that would ring a rep answer
/// `unavailable` (`transfer_not_ready`). For tests and embeddings without
/// live calls; the server uses [`super::LiveRooms`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRooms;

impl Rooms for NoRooms {
    fn room(&self, _call_id: &str) -> Option<std::sync::Arc<dyn RoomControl>> {
        None
    }
}
