//! The async shell around [`Escalation`]: what `escalate_to_human` calls.
//!
//! [`Handoff::escalate`] answers the tool. With nobody logged in to the
//! call's queue it answers at once, without touching the call; otherwise
//! it starts one task per escalation that owns the machine, claims reps in
//! the directory, rings them through the [`RepHub`], drives the call's
//! [`RoomControl`], and hands the tool result back when the machine gives
//! it. The task outlives the tool call: it runs through the brief and the
//! bridge until the rep hangs up or hands back, or the call ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::card::{CallSummary, EscalateRequest, ScreenPop, MAX_CARD_LINES};
use super::hub::{RepHub, RepInput, RepPush};
use super::machine::{Action, Escalation, EscalationConfig, Phase};
use super::presence::{Release, RepDirectory, RepId};
use super::room::{RoomControl, RoomError, Rooms};
use crate::call::tools::CallIdentity;
use crate::config::handoff::DEFAULT_SKILL;

/// Longest wait for the model's out-of-band summary; the tool's (or
/// none) stays on the card after it.
pub const SUMMARY_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for the call's transcript snapshot before the first ring.
pub const SNAPSHOT_WAIT: Duration = Duration::from_millis(200);

/// What the tool sidecar calls for `escalate_to_human`.
pub trait Escalator: Send + Sync + std::fmt::Debug {
    /// Escalates `call`; resolves to the tool's JSON result.
    fn escalate(&self, call: &CallIdentity, arguments: &str) -> BoxFuture<'static, Value>;
}

#[derive(Clone)]
struct Inner {
    directory: Arc<dyn RepDirectory>,
    hub: Arc<RepHub>,
    rooms: Arc<dyn Rooms>,
    config: EscalationConfig,
    /// Agent id → its `skill`.
    skills: HashMap<String, String>,
    /// Hold audio and position prompts, for the rooms' hold sources.
    prompts: Arc<super::HoldPrompts>,
    /// Where reps' audio meets the calls they accepted.
    media: Arc<super::RepMedia>,
    /// The escalations in progress, for the supervisor's inbox.
    waiting: Arc<super::WaitingBoard>,
}

/// Reps, presence, queues and escalations of this process.
#[derive(Clone)]
pub struct Handoff(Arc<Inner>);

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Handoff {
    /// A service over `directory` and `hub`, finding calls through
    /// `rooms`; `skills` maps agent ids to their queue.
    pub fn new(
        directory: Arc<dyn RepDirectory>,
        hub: Arc<RepHub>,
        rooms: Arc<dyn Rooms>,
        config: EscalationConfig,
        skills: HashMap<String, String>,
    ) -> Handoff {
        Handoff(Arc::new(Inner {
            directory,
            hub,
            rooms,
            config,
            skills,
            prompts: Arc::new(super::HoldPrompts::builtin()),
            media: Arc::default(),
            waiting: Arc::default(),
        }))
    }

    /// The escalations in progress (the desk's pending inbox items).
    pub fn waiting(&self) -> Vec<super::EscalationView> {
        self.0.waiting.list()
    }

    /// Uses `prompts` (from `[handoff] hold_wav` and `position_wavs`)
    /// instead of the built-in ones.
    pub fn with_hold_prompts(mut self, prompts: super::HoldPrompts) -> Handoff {
        Arc::make_mut(&mut self.0).prompts = Arc::new(prompts);
        self
    }

    /// Shares `media` with the rooms (`LiveRooms`) that attach reps' audio.
    pub fn with_rep_media(mut self, media: Arc<super::RepMedia>) -> Handoff {
        Arc::make_mut(&mut self.0).media = media;
        self
    }

    /// Where the reps' softphones hand in their audio.
    pub fn rep_media(&self) -> &Arc<super::RepMedia> {
        &self.0.media
    }

    /// The hold audio and position prompts: a room's hold source is
    /// `HoldSource::new(handoff.hold_prompts().clone())`.
    pub fn hold_prompts(&self) -> &Arc<super::HoldPrompts> {
        &self.0.prompts
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<dyn RepDirectory> {
        &self.0.directory
    }

    /// The switchboard.
    pub fn hub(&self) -> &Arc<RepHub> {
        &self.0.hub
    }

    /// The queue of a call answered by `agent`.
    pub fn skill_of(&self, agent: Option<&str>) -> String {
        agent
            .and_then(|a| self.0.skills.get(a))
            .cloned()
            .unwrap_or_else(|| DEFAULT_SKILL.to_owned())
    }

    async fn escalate_call(self, call: CallIdentity, arguments: String) -> Value {
        let request = EscalateRequest::parse(&arguments);
        let skill = self.skill_of(call.agent.as_deref());
        let mut card = ScreenPop {
            call_id: call.id.clone(),
            caller: call.from.clone(),
            skill: skill.clone(),
            ..ScreenPop::default()
        };
        let room = if self.0.directory.logged_in(&skill) == 0 {
            // Nobody to ring: the machine answers without the room.
            None
        } else {
            match self.0.rooms.room(&call.id) {
                Some(room) => Some(room),
                None => {
                    return json!({
                        "status": "unavailable",
                        "reason": "transfer_not_ready",
                        "urgency": request.urgency,
                        "message": "This call cannot be handed to a person yet. Tell the caller, \
                                    and offer a callback or to take a message.",
                    })
                }
            }
        };
        if let Some(room) = &room {
            if let Ok(Ok(snapshot)) = tokio::time::timeout(SNAPSHOT_WAIT, room.snapshot()).await {
                let skip = snapshot.transcript.len().saturating_sub(MAX_CARD_LINES);
                card.transcript = snapshot.transcript.into_iter().skip(skip).collect();
                card.records = snapshot.records.into_iter().take(MAX_CARD_LINES).collect();
            }
        }
        let Some((number, inputs)) = self.0.hub.start_escalation(&call.id) else {
            return json!({
                "status": "in_progress",
                "message": "This call is already being transferred; wait for that to finish.",
            });
        };
        let escalation = Escalation::new(self.0.config.clone(), &request, card);
        let (result_tx, result_rx) = oneshot::channel();
        let runner = Runner {
            service: self.clone(),
            call_id: call.id.clone(),
            room,
            result: Some(result_tx),
            brief: None,
            summary: None,
            bridged: None,
        };
        tokio::spawn(runner.run(escalation, number, inputs));
        result_rx.await.unwrap_or_else(|_| {
            json!({
                "status": "unavailable",
                "reason": "failed",
                "message": "The transfer failed. Tell the caller, and offer a callback or to take a message.",
            })
        })
    }
}

impl Escalator for Handoff {
    fn escalate(&self, call: &CallIdentity, arguments: &str) -> BoxFuture<'static, Value> {
        Box::pin(
            self.clone()
                .escalate_call(call.clone(), arguments.to_owned()),
        )
    }
}

type Pending<T> = Option<BoxFuture<'static, Result<T, RoomError>>>;

/// One escalation's task.
struct Runner {
    service: Handoff,
    call_id: String,
    room: Option<Arc<dyn RoomControl>>,
    result: Option<oneshot::Sender<Value>>,
    brief: Pending<()>,
    summary: Pending<CallSummary>,
    /// The rep bridged with the caller: still told `call_ended` once the
    /// machine, done, names no rep any more.
    bridged: Option<RepId>,
}

impl Runner {
    async fn run(
        mut self,
        mut esc: Escalation,
        number: u64,
        mut inputs: tokio::sync::mpsc::Receiver<(RepId, RepInput)>,
    ) {
        let hub = self.service.0.hub.clone();
        let waiting = self.service.0.waiting.clone();
        let since = super::waiting::epoch_now();
        let mut changes = hub.watch_changes();
        let mut ended: BoxFuture<'static, ()> = match &self.room {
            Some(room) => room.ended(),
            None => Box::pin(std::future::pending()),
        };
        esc.start(now());
        loop {
            while let Some(action) = esc.poll_action() {
                self.perform(action, &mut esc).await;
            }
            if esc.phase() == Phase::Done {
                break;
            }
            // What the desk shows of it, as of this turn.
            let view = super::EscalationView::new(since, esc.phase(), esc.rep(), esc.card());
            waiting.show(number, view);
            let deadline = esc.poll_timeout().map(Instant::from_std);
            tokio::select! {
                input = inputs.recv() => match input {
                    Some((rep, input)) => Self::on_input(&mut esc, &rep, input),
                    None => esc.on_caller_hangup(now()),
                },
                Ok(()) = changes.changed() => esc.on_reps_changed(now()),
                () = sleep_until(deadline), if deadline.is_some() => esc.handle_timeout(now()),
                () = &mut ended => esc.on_caller_hangup(now()),
                done = poll_pending(&mut self.brief), if self.brief.is_some() => {
                    self.brief = None;
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "the brief did not finish; bridging");
                    }
                    esc.on_brief_done(now());
                }
                summary = poll_pending(&mut self.summary), if self.summary.is_some() => {
                    self.summary = None;
                    match summary {
                        Ok(s) => esc.on_summary(s),
                        Err(e) => tracing::info!(error = %e, "no summary from the model; the card keeps the tool's"),
                    }
                }
            }
        }
        hub.end_escalation(&self.call_id, number);
        waiting.remove(&self.call_id, number);
        if let Some(tx) = self.result.take() {
            // The machine answers on every path; this is the backstop.
            let _ = tx.send(json!({"status": "unavailable", "reason": "failed"}));
        }
    }

    fn on_input(esc: &mut Escalation, rep: &RepId, input: RepInput) {
        let t = now();
        match input {
            RepInput::Accept => esc.on_accept(rep, t),
            RepInput::Decline => esc.on_decline(rep, t),
            RepInput::SkipBrief => {
                if esc.rep() == Some(rep) {
                    esc.on_brief_done(t);
                }
            }
            RepInput::Hangup => esc.on_rep_hangup(rep, t),
            RepInput::Lost => esc.on_rep_lost(rep, t),
            RepInput::HandBack { note } => esc.on_hand_back(rep, note.as_deref(), t),
        }
    }

    async fn perform(&mut self, action: Action, esc: &mut Escalation) {
        let service = self.service.0.clone();
        let call_id = self.call_id.clone();
        let push = |rep: RepId, message: RepPush| {
            let hub = service.hub.clone();
            async move { hub.push(&rep, message).await }
        };
        match action {
            Action::Claim { skill, exclude } => {
                let claim = service.directory.claim(&skill, &call_id, &exclude, now());
                esc.on_claim(claim, now());
            }
            Action::LeaveQueue { skill } => service.directory.leave_queue(&skill, &call_id),
            Action::Release { rep, how } => {
                service.directory.release(&rep, how, now());
                service.hub.reps_changed();
                if let Some(status) = service.directory.status(&rep, now()) {
                    push(rep.clone(), RepPush::Presence { status }).await;
                }
                if how == Release::CallEnded {
                    tracing::info!(%rep, call = %call_id, "rep call ended; wrap-up");
                }
            }
            Action::Ring { rep, card } => {
                let ring = RepPush::Ring {
                    card,
                    ring_timeout_ms: service.config.ring_timeout.as_millis() as u64,
                };
                tracing::info!(%rep, call = %call_id, "ringing rep");
                if !push(rep.clone(), ring).await {
                    // A softphone that cannot take the ring declines it.
                    esc.on_decline(&rep, now());
                }
            }
            Action::UpdateCard { rep, card } => {
                push(rep, RepPush::Card { card }).await;
            }
            Action::CancelRing { rep } => {
                let message = RepPush::RingCancelled {
                    call_id,
                    reason: "cancelled",
                };
                push(rep, message).await;
            }
            Action::ToolResult(value) => {
                if let Some(tx) = self.result.take() {
                    let _ = tx.send(value);
                }
            }
            Action::RequestSummary => {
                if let Some(room) = &self.room {
                    let asked = room.summarize();
                    self.summary = Some(Box::pin(async move {
                        tokio::time::timeout(SUMMARY_WAIT, asked)
                            .await
                            .unwrap_or_else(|_| Err(RoomError::Model("timed out".into())))
                    }));
                }
            }
            Action::StartBrief { rep } => {
                if let Some(room) = &self.room {
                    self.brief = Some(room.brief(&rep));
                }
                let state = RepPush::CallState {
                    call_id,
                    state: "brief",
                };
                push(rep, state).await;
            }
            Action::Bridge { rep, agent } => {
                self.brief = None;
                self.bridged = Some(rep.clone());
                self.room_do(esc, |r| r.bridge(&rep, agent)).await;
                let state = RepPush::CallState {
                    call_id,
                    state: "bridged",
                };
                push(rep, state).await;
            }
            Action::HandBack { rep, note } => {
                self.room_do(esc, |r| r.hand_back(&rep, note)).await;
                let ended = RepPush::CallEnded {
                    call_id,
                    reason: "handed_back",
                };
                push(rep, ended).await;
            }
            Action::DetachRep { rep } => {
                self.brief = None;
                self.room_do(esc, |r| r.detach_rep(&rep)).await;
                let ended = RepPush::CallEnded {
                    call_id,
                    reason: "call_over",
                };
                push(rep, ended).await;
            }
            Action::EndCall => {
                // The machine is done by now: the rep is the bridged one.
                if let Some(rep) = esc.rep().cloned().or_else(|| self.bridged.take()) {
                    let ended = RepPush::CallEnded {
                        call_id,
                        reason: "rep_hung_up",
                    };
                    push(rep, ended).await;
                }
                self.room_do(esc, |r| r.end_call()).await;
            }
            Action::HoldCaller => self.room_do(esc, |r| r.hold_caller()).await,
            Action::AnnouncePosition(p) => self.room_do(esc, |r| r.announce_position(p)).await,
            Action::AttachRep { rep } => {
                let attached = match &self.room {
                    Some(room) => room.attach_rep(&rep).await,
                    None => Err(RoomError::Ended),
                };
                match attached {
                    Ok(()) => {
                        let kind = match service.hub.is_phone(&rep) {
                            true => super::machine::RepKind::Phone,
                            false => super::machine::RepKind::Browser,
                        };
                        esc.on_rep_attached(&rep, kind, now());
                    }
                    Err(RoomError::Ended) => esc.on_caller_hangup(now()),
                    Err(e) => {
                        tracing::warn!(%rep, error = %e, "the rep's leg did not attach; trying the next rep");
                        esc.on_attach_failed(&rep, now());
                    }
                }
            }
            Action::ResumeAgent => self.room_do(esc, |r| r.resume_agent()).await,
        }
    }

    /// Runs one room command; a call that ended stops the escalation.
    async fn room_do<F>(&mut self, esc: &mut Escalation, command: F)
    where
        F: FnOnce(&dyn RoomControl) -> BoxFuture<'static, Result<(), RoomError>>,
    {
        let Some(room) = &self.room else {
            return;
        };
        match command(room.as_ref()).await {
            Ok(()) => {}
            Err(RoomError::Ended) => esc.on_caller_hangup(now()),
            Err(e) => tracing::warn!(call = %self.call_id, error = %e, "room command failed"),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn poll_pending<T>(pending: &mut Pending<T>) -> Result<T, RoomError> {
    match pending.as_mut() {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
