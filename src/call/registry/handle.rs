//! A live call's handle ([`CallHandle`]): the bounded command queue the
//! API, the room's joins and warm transfer reach a call through, and the
//! commands it carries ([`CallCommand`]). The driver answers each on the
//! call's own worker; a command that finds the queue full for
//! [`COMMAND_WAIT`] is [`CommandError::Busy`], never a wait on a stuck call.

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::{CallId, LegRole, COMMAND_CAPACITY, COMMAND_WAIT};

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
    Room(#[from] crate::call::room::RoomError),
}

/// The answer channel of a room command.
pub type RoomDone<T> = oneshot::Sender<Result<T, crate::call::room::RoomError>>;

/// A command to a call's driver; each carries its answer's channel.
#[derive(Debug)]
pub enum CallCommand {
    /// End the call now.
    HangUp {
        /// Why, for `call.ended` and the record.
        reason: crate::call::events::EndReason,
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
        link: crate::call::room::LegLink,
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
        source: Option<Box<dyn crate::call::room::FrameSource>>,
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
    /// Hand the caller to a resolved target through the caller's leg
    /// (decision 0033): the leg answers when the outcome is known.
    TransferCaller {
        /// Where.
        target: crate::call::blind_transfer::TransferTarget,
        /// Answered with the outcome.
        done: crate::call::blind_transfer::TransferDone,
    },
    /// The provider is taking the caller elsewhere (`Some(detail)`), or
    /// no longer (`None`): if the caller's leg ends meanwhile, the call
    /// ended as transferred.
    HandingOver {
        /// What the provider was asked, or `None` to forget it.
        detail: Option<String>,
        /// Answered at once.
        done: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for dyn crate::call::room::FrameSource {
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
    pub(super) commands: mpsc::Sender<CallCommand>,
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

    /// Ends the call (it hangs up on the caller at once), as an operator
    /// through the admin API: `call.ended` says `admin_hung_up`.
    pub async fn hang_up(&self) -> Result<(), CommandError> {
        self.hang_up_because(crate::call::events::EndReason::AdminHungUp)
            .await
    }

    /// Ends the call at once for `reason` (the rep who had the caller
    /// hung up, say), which `call.ended` and the record carry.
    pub async fn hang_up_because(
        &self,
        reason: crate::call::events::EndReason,
    ) -> Result<(), CommandError> {
        self.send(|done| CallCommand::HangUp { reason, done }).await
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
        link: crate::call::room::LegLink,
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
        source: Option<Box<dyn crate::call::room::FrameSource>>,
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

impl CallHandle {
    /// Asks the caller's leg to hand the caller to `target` (a blind
    /// transfer) and waits for the outcome; bound the wait yourself (a
    /// SIP transfer may ring its target for minutes).
    pub async fn transfer_caller(
        &self,
        target: crate::call::blind_transfer::TransferTarget,
    ) -> Result<crate::call::blind_transfer::TransferOutcome, CommandError> {
        let permit = match tokio::time::timeout(COMMAND_WAIT, self.commands.reserve()).await {
            Err(_) => return Err(CommandError::Busy),
            Ok(Err(_)) => return Err(CommandError::Ended),
            Ok(Ok(permit)) => permit,
        };
        let (done, answer) = oneshot::channel();
        permit.send(CallCommand::TransferCaller { target, done });
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Tells the call that its provider is taking the caller elsewhere
    /// (`Some`) or not after all (`None`), so that the end of its leg
    /// counts as a transfer.
    pub async fn handing_over(&self, detail: Option<String>) -> Result<(), CommandError> {
        self.send(|done| CallCommand::HandingOver { detail, done })
            .await
    }
}

/// A call's command queue: the handle's end and the driver's.
pub fn command_queue(id: CallId) -> (CallHandle, mpsc::Receiver<CallCommand>) {
    let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
    (CallHandle::new(id, tx), rx)
}
