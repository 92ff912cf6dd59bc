//! The driver's side of the room (decision 0024): the room commands of
//! the call's handle, the linked legs' up channel, and the mixed tick.
//!
//! None of this runs for an AI-only call: `RoomSide::room` stays `None`
//! until the first room command, and the driver's loop then keeps today's
//! direct 8 kHz path until the room actually needs a mix.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::CallDriver;
use crate::call::leg::{CallerLeg, Sent};
use crate::call::registry::{CallCommand, CallState, LegId, LegRole};
use crate::call::room::{LegUp, Room, RoomError};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::{ulaw_decode, ulaw_encode};
use crate::media::mixer::RoutePolicy;
use crate::model::link::ModelSession;

/// The agent frames (8 kHz) the core released this wake, with their marks.
type AgentFrames = VecDeque<([i16; 160], Option<String>)>;

/// The room's state in the driver.
#[derive(Debug, Default)]
pub(super) struct RoomSide {
    room: Option<Box<Room>>,
    pub(super) up: Option<mpsc::Receiver<(LegId, LegUp)>>,
    agent_frames: AgentFrames,
}

impl RoomSide {
    /// Whether this tick goes through the mixer.
    pub(super) fn mixing(&self) -> bool {
        self.room.as_ref().is_some_and(|r| r.mixing())
    }

    /// Whether the agent is out of the room (the core stands still).
    pub(super) fn agent_out(&self) -> bool {
        self.room.as_ref().is_some_and(|r| !r.agent_in())
    }

    /// The room's own clock while the agent is out.
    pub(super) fn own_clock(&self) -> Option<std::time::Duration> {
        self.room.as_ref().and_then(|r| r.own_clock())
    }

    /// The room's counters, if it was ever built.
    pub(super) fn stats(&self) -> Option<crate::call::room::RoomStats> {
        self.room.as_ref().map(|r| r.stats())
    }

    /// The room, built on the first room command.
    fn room(&mut self) -> &mut Room {
        let up = &mut self.up;
        self.room.get_or_insert_with(|| {
            let (room, rx) = Room::new();
            *up = Some(rx);
            Box::new(room)
        })
    }
}

/// The next message of a linked leg, or never while there is no room.
/// Cancel safe: a dropped `recv()` loses nothing.
pub(super) async fn next_up(
    up: Option<&mut mpsc::Receiver<(LegId, LegUp)>>,
) -> Option<(LegId, LegUp)> {
    match up {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl CallDriver {
    /// The call's next tick: the agent's pacer, or the room's own clock
    /// while the agent is out.
    pub(super) fn next_tick(&self) -> std::time::Duration {
        self.room
            .own_clock()
            .unwrap_or_else(|| self.core.next_deadline())
    }

    /// Runs the core's clock, unless the agent is out of the room.
    pub(super) fn tick_core(&mut self, now: std::time::Duration) {
        if self.room.agent_out() {
            if let Some(room) = self.room.room.as_mut() {
                room.advance_own_clock();
            }
        } else {
            self.core.on_tick(now);
        }
    }

    /// A caller frame (8 kHz): to the room while it mixes; `false` means
    /// the driver hands it to the core as always.
    pub(super) fn room_caller_frame(&mut self, pcm: &[i16]) -> bool {
        if !self.room.mixing() {
            return false;
        }
        if let Some(room) = self.room.room.as_mut() {
            room.caller_frame(pcm);
        }
        true
    }

    /// An agent frame (μ-law) the core released: held for the mix while
    /// the room mixes; `false` means it goes to the caller as always.
    pub(super) fn room_agent_frame(&mut self, mulaw: &[u8], mark: Option<String>) -> bool {
        if !self.room.mixing() {
            return false;
        }
        let mut pcm = [0i16; 160];
        for (d, &c) in pcm.iter_mut().zip(mulaw) {
            *d = ulaw_decode(c);
        }
        self.room.agent_frames.push_back((pcm, mark));
        true
    }

    /// Records a frame sent to the caller at `due` on the call's clock.
    fn record_heard(&mut self, due: Instant, mulaw: &[u8]) {
        if let Some(tap) = &mut self.recording {
            tap.heard(due.saturating_duration_since(self.started), mulaw);
        }
    }

    /// A linked leg's message.
    pub(super) fn on_leg_up(&mut self, leg: LegId, up: LegUp) {
        let Some(room) = self.room.room.as_mut() else {
            return;
        };
        match up {
            LegUp::Frame(frame) => room.leg_frame(leg, frame),
            LegUp::Dtmf(digit) => {
                tracing::debug!(leg = leg.0, %digit, "a linked leg pressed a key: only the caller's keys reach the agent");
            }
            LegUp::Ended(reason) => {
                tracing::info!(leg = leg.0, %reason, "linked leg ended");
                if room.detach(leg).is_ok() {
                    self.room_changed();
                }
            }
        }
    }

    /// The mixed tick(s): one mix per agent frame the core released this
    /// wake (at least one), the caller's downlink out, the agent's hearing
    /// into the core. `Err` when the caller's leg is gone.
    pub(super) async fn room_tick<L: CallerLeg>(&mut self, leg: &mut L) -> Result<(), ()> {
        let mut frames = std::mem::take(&mut self.room.agent_frames);
        let ticks = frames.len().max(1);
        for _ in 0..ticks {
            let (agent, mark) = match frames.pop_front() {
                Some((pcm, mark)) => (Some(pcm), mark),
                None => (None, None),
            };
            let slot = self.tick_due.take();
            let due = slot.unwrap_or_else(Instant::now);
            let room = match self.room.room.as_mut() {
                // The room went back to the direct path on an earlier
                // frame of this wake: the rest go to the caller as they are.
                Some(room) if room.mixing() => room,
                _ => {
                    let Some(pcm) = agent else { continue };
                    let mut mulaw = [0u8; 160];
                    for (d, &s) in mulaw.iter_mut().zip(&pcm) {
                        *d = ulaw_encode(s);
                    }
                    self.record_heard(due, &mulaw);
                    if leg.send_frame(due, &mulaw, mark.as_deref()).await.is_err() {
                        return Err(());
                    }
                    continue;
                }
            };
            let out = room.tick(agent.as_ref().map(|a| &a[..]));
            let audible = out.caller.iter().any(|&s| s != 0);
            let sent = if audible || mark.is_some() {
                let mut mulaw = [0u8; 160];
                for (d, &s) in mulaw.iter_mut().zip(&out.caller) {
                    *d = ulaw_encode(s);
                }
                // The room's mix for the caller is what the caller heard
                // (decision 0026); a silent tick is silence in the file.
                self.record_heard(due, &mulaw);
                leg.send_frame(due, &mulaw, mark.as_deref()).await
            } else {
                leg.send_idle(due).await
            };
            match sent {
                Ok(Sent::Now) => {
                    if let Some(due) = slot {
                        self.metrics.frame_sent(due, Instant::now());
                    }
                }
                Ok(Sent::AtSlot | Sent::Nothing) => {}
                Err(_) => return Err(()),
            }
            if let Some(hearing) = out.hearing {
                self.hear(&hearing);
            }
            // Back on the direct path: frames still queued for the mix go
            // to the agent as they are.
            while let Some(pcm) = self.room.room.as_mut().and_then(|r| r.take_queued_caller()) {
                self.hear(&pcm);
            }
        }
        // What the agent's hearing made the core do (model audio, a
        // barge-in's clear).
        self.flush_outputs(leg).await.map(|_| ())
    }

    /// 20 ms of what the agent hears, into the core as a caller frame.
    fn hear(&mut self, pcm: &[i16; 160]) {
        let now = self.now();
        let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(self.frames * 160), pcm)
            .unwrap_or_else(|_| Frame::silence(SampleRate::Hz8000, MediaTime(self.frames * 160)));
        let mut mulaw = [0u8; 160];
        for (d, &s) in mulaw.iter_mut().zip(pcm) {
            *d = ulaw_encode(s);
        }
        self.frames += 1;
        self.core.on_caller_frame(now, &frame, &mulaw);
    }

    /// A room command from the call's handle.
    pub(super) fn on_room_command(&mut self, command: CallCommand) {
        match command {
            CallCommand::AttachLeg { role, link, done } => {
                let transport = link.transport();
                let attached = self.room.room().attach(role, transport);
                let answer = attached.map(|(id, port)| {
                    // Ends by itself once its port closes (detached, or
                    // the room dropped with the call).
                    tokio::task::spawn_local(link.start(port));
                    tracing::info!(leg = id.0, ?role, transport, "leg attached");
                    id
                });
                if answer.is_ok() {
                    self.room_changed();
                }
                let _ = done.send(answer);
            }
            CallCommand::DetachLeg { leg, done } => {
                let answer = match self.room.room.as_mut() {
                    Some(room) => room.detach(leg),
                    None if leg == crate::call::room::CALLER => Err(RoomError::CallerStays),
                    None => Err(RoomError::UnknownLeg(leg.0)),
                };
                if answer.is_ok() {
                    tracing::info!(leg = leg.0, "leg detached");
                    self.room_changed();
                }
                let _ = done.send(answer);
            }
            CallCommand::SetRouting { policy, done } => {
                self.room.room().set_policy(policy);
                self.room_changed();
                let _ = done.send(Ok(()));
            }
            CallCommand::SetMuted { leg, muted, done } => {
                let answer = self.room.room().set_muted(leg, muted);
                if answer.is_ok() {
                    self.room_changed();
                }
                let _ = done.send(answer);
            }
            CallCommand::SetHold { source, done } => {
                self.room.room().set_hold(source);
                let _ = done.send(Ok(()));
            }
            CallCommand::DetachAgent { done } => {
                let _ = done.send(self.detach_agent());
            }
            CallCommand::AttachAgent { note, done } => {
                let _ = done.send(self.attach_agent(note));
            }
            // The driver's own commands and the transfer's (`on_command`
            // and `on_transfer_command` handle them and pass only room
            // commands here).
            other @ (CallCommand::HangUp { .. }
            | CallCommand::AddText { .. }
            | CallCommand::HandingOver { .. }
            | CallCommand::TransferCaller { .. }) => {
                self.on_command(other);
            }
            other @ (CallCommand::Snapshot { .. }
            | CallCommand::Summarize { .. }
            | CallCommand::WatchAgentTurn { .. }
            | CallCommand::Sideline { .. }
            | CallCommand::NoteAndRespond { .. }) => self.on_transfer_command(other),
        }
    }

    fn detach_agent(&mut self) -> Result<(), RoomError> {
        let clock = self.core.next_deadline();
        self.room.room().detach_agent(clock)?;
        self.core.agent_leaves();
        // Close the session: dropping its ends makes its task finish.
        let (commands, _) = mpsc::channel(1);
        let (_, events) = mpsc::channel(1);
        self.model = ModelSession { commands, events };
        self.model_alive = false;
        self.reconnect_at = None;
        self.outbox.session_replaced();
        self.transfer_session_gone();
        tracing::info!("the agent left the room; its model session is closed");
        self.room_changed();
        Ok(())
    }

    fn attach_agent(&mut self, note: String) -> Result<(), RoomError> {
        self.room.room().attach_agent()?;
        let now = self.now();
        self.core.agent_returns(now, note);
        self.reconnect_attempts = 0;
        self.open_model();
        self.model_alive = true;
        tracing::info!("the agent is back in the room; a new model session is replayed the call");
        self.room_changed();
        Ok(())
    }

    /// Tells the registry the legs and the state after a room change.
    fn room_changed(&mut self) {
        let Some(room) = self.room.room.as_ref() else {
            return;
        };
        let state = if room.policy() == RoutePolicy::brief() {
            Some(CallState::Brief)
        } else if !room.agent_in() && room.has_role(LegRole::Rep) {
            Some(CallState::Bridged)
        } else {
            None
        };
        let legs = room.summary();
        let ingress = self.setup.ingress;
        if let Some(live) = &mut self.live {
            live.room_changed(legs, ingress, state);
        }
    }
}
