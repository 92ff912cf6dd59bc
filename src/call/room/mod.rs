//! The room of a call (decisions 0021 and 0024): the caller's leg, the
//! agent, and the legs linked to the call later (rep, monitor, coach),
//! mixed once per tick of the call's one clock.
//!
//! Owns: which legs are in the room and how they are routed, the
//! [`Mixer`] and the 8 kHz ↔ 16 kHz converters of the two 8 kHz legs (the
//! caller's and the agent's), the linked legs' frame queues, the hold
//! source, and whether the room mixes at all. Never: I/O or a clock (the
//! driver calls [`Room::tick`] on its tick), the model, the caller's
//! transport.
//!
//! **AI-only rooms do not mix.** With only the caller and the agent, the
//! `normal` table, nobody muted, no hold source and the agent attached,
//! the driver keeps today's direct 8 kHz path and this type is not even
//! built. The room *engages* on the tick something needs a mix (a third
//! leg, a brief, a mute, the agent leaving) and *disengages* when nothing
//! does; both ticks crossfade between the direct and the mixed path over
//! one tick (20 ms), which also hides the converters' start-up and delay.

use std::collections::VecDeque;
use std::rc::Rc;

use tokio::sync::mpsc;

use crate::call::registry::{LegId, LegRole, LegSummary};
use crate::media::frame::{Frame, MediaTime};
use crate::media::halfband::{Downsampler2, Upsampler2};
use crate::media::mixer::{self, Mixer, Role, RoutePolicy, INTERNAL_RATE, MAX_LEGS, TICK_SAMPLES};

pub mod link;
mod trim;

use link::{DownQueue, UP_CAPACITY};
pub use link::{FrameSource, LegLink, LegPort, LegUp, LinkClosed, LoopedClip};
use trim::{is_quiet, StandingTrim};

/// Samples of a tick at 8 kHz.
const TICK_8K: usize = TICK_SAMPLES / 2;
/// Frames a leg may be ahead of the room's tick before its oldest is
/// dropped (absorbs 40 ms of arrival jitter).
const LEG_QUEUE: usize = 3;

/// The caller's leg id (the registry shows it).
pub const CALLER: LegId = LegId(0);
/// The agent's leg id.
pub const AGENT: LegId = LegId(1);

/// Why a room operation was refused. Each says what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The room holds the most legs it can mix.
    #[error("the room is full ({max} legs): detach a leg first")]
    RoomFull {
        /// The cap.
        max: usize,
    },
    /// No leg with this id is in the call.
    #[error("leg {0} is not in the call: GET /api/v1/calls/{{id}} lists its legs")]
    UnknownLeg(u32),
    /// Caller and agent are the call's own legs, not linked ones.
    #[error("a {0:?} leg cannot be attached: link a rep, monitor or coach (the agent comes back with attach_agent)")]
    NotLinkable(LegRole),
    /// The caller's leg is the call: it cannot be detached (hang up instead).
    #[error("the caller's leg cannot be detached: hang the call up instead")]
    CallerStays,
    /// The agent was asked to leave but is not in the room.
    #[error("the agent is not in the room")]
    AgentAbsent,
    /// The agent was asked back but is in the room.
    #[error("the agent is already in the room")]
    AgentPresent,
}

/// A linked leg's state in the room.
#[derive(Debug)]
struct Linked {
    id: LegId,
    role: LegRole,
    transport: &'static str,
    muted: bool,
    queue: VecDeque<Frame>,
    /// Gives back a frame that stands in `queue` for no reason.
    trim: StandingTrim,
    down: Rc<DownQueue>,
}

/// How this tick blends the direct path and the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blend {
    /// All mixed.
    Mixed,
    /// Crossfade from direct (gain 1 → 0) to mixed (0 → 1).
    Engaging,
    /// Crossfade from mixed to direct.
    Disengaging,
}

/// Counters for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Ticks the room mixed (the AI-only path mixes none).
    pub mixed_ticks: u64,
    /// Times the room engaged the mixer.
    pub engaged: u64,
    /// Frames of any leg dropped because it ran more than
    /// [`LEG_QUEUE`] ahead of the tick.
    pub late_frames: u64,
    /// Quiet frames dropped because they stood in a queue for no reason
    /// (see `trim`): latency given back.
    pub trimmed_frames: u64,
}

/// What one mixed tick gives the driver.
#[derive(Clone, Debug)]
pub struct TickOut {
    /// The caller's downlink, 8 kHz.
    pub caller: [i16; TICK_8K],
    /// What the agent hears, 8 kHz (`None` while it is out of the room).
    pub hearing: Option<[i16; TICK_8K]>,
}

/// The room. See the module docs.
pub struct Room {
    mixer: Box<Mixer>,
    engaged: bool,
    policy: RoutePolicy,
    caller_muted: bool,
    agent_in: bool,
    linked: Vec<Linked>,
    next_id: u32,
    hold: Option<Box<dyn FrameSource>>,
    caller_queue: VecDeque<[i16; TICK_8K]>,
    caller_trim: StandingTrim,
    up_caller: Upsampler2,
    up_agent: Upsampler2,
    down_caller: Downsampler2,
    down_agent: Downsampler2,
    up_tx: mpsc::Sender<(LegId, LegUp)>,
    /// The agent's own clock while it is out (its pacer is frozen).
    own_clock: Option<std::time::Duration>,
    stats: RoomStats,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("engaged", &self.engaged)
            .field("legs", &self.summary())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // Each edge task gets `None` from its port and ends by itself
        // (telling its page the call is over); none is aborted mid-send.
        for leg in &self.linked {
            leg.down.close();
        }
    }
}

fn mixer_id(id: LegId) -> mixer::LegId {
    mixer::LegId(id.0)
}

fn role(role: LegRole) -> Role {
    match role {
        LegRole::Caller => Role::Caller,
        LegRole::Agent => Role::Agent,
        LegRole::Rep => Role::Rep,
        LegRole::Monitor => Role::Monitor,
        LegRole::Coach => Role::Coach,
    }
}

impl Room {
    /// A room of the caller and the agent, not mixing; and the receiving
    /// end of its linked legs' up channel (the driver selects on it).
    pub fn new() -> (Room, mpsc::Receiver<(LegId, LegUp)>) {
        let (up_tx, up_rx) = mpsc::channel(UP_CAPACITY);
        let room = Room {
            mixer: Box::new(Mixer::new(RoutePolicy::normal())),
            engaged: false,
            policy: RoutePolicy::normal(),
            caller_muted: false,
            agent_in: true,
            linked: Vec::new(),
            next_id: AGENT.0 + 1,
            hold: None,
            caller_queue: VecDeque::with_capacity(LEG_QUEUE + 1),
            caller_trim: StandingTrim::default(),
            up_caller: Upsampler2::new(),
            up_agent: Upsampler2::new(),
            down_caller: Downsampler2::new(),
            down_agent: Downsampler2::new(),
            up_tx,
            own_clock: None,
            stats: RoomStats::default(),
        };
        (room, up_rx)
    }

    /// Whether the room mixes this tick or the next (the driver routes
    /// the caller's frames and the agent's audio through [`tick`]
    /// (Self::tick) while it does).
    pub fn mixing(&self) -> bool {
        self.engaged || self.wants_mix()
    }

    /// Whether anything in the room needs a mix.
    fn wants_mix(&self) -> bool {
        !self.linked.is_empty()
            || self.policy != RoutePolicy::normal()
            || self.caller_muted
            || !self.agent_in
            || self.hold.is_some()
    }

    /// Whether the agent is in the room.
    pub fn agent_in(&self) -> bool {
        self.agent_in
    }

    /// Counters.
    pub fn stats(&self) -> RoomStats {
        self.stats
    }

    /// The routing table in force.
    pub fn policy(&self) -> RoutePolicy {
        self.policy
    }

    /// Whether a linked leg of `role` is in the room.
    pub fn has_role(&self, wanted: LegRole) -> bool {
        self.linked.iter().any(|l| l.role == wanted)
    }

    /// The legs as the registry lists them.
    pub fn summary(&self) -> Vec<LegSummary> {
        let mut legs = vec![LegSummary {
            id: CALLER,
            role: LegRole::Caller,
            transport: "caller",
            muted: self.caller_muted,
        }];
        if self.agent_in {
            legs.push(LegSummary {
                id: AGENT,
                role: LegRole::Agent,
                transport: "model",
                muted: false,
            });
        }
        legs.extend(self.linked.iter().map(|l| LegSummary {
            id: l.id,
            role: l.role,
            transport: l.transport,
            muted: l.muted,
        }));
        legs
    }

    /// Adds a linked leg: returns its id and the port its edge task gets.
    /// It is heard and hears from the next tick, faded in.
    ///
    /// # Errors
    /// [`RoomError::NotLinkable`] for the caller and agent roles;
    /// [`RoomError::RoomFull`].
    pub fn attach(
        &mut self,
        leg_role: LegRole,
        transport: &'static str,
    ) -> Result<(LegId, LegPort), RoomError> {
        if matches!(leg_role, LegRole::Caller | LegRole::Agent) {
            return Err(RoomError::NotLinkable(leg_role));
        }
        if self.linked.len() + 2 >= MAX_LEGS {
            return Err(RoomError::RoomFull { max: MAX_LEGS });
        }
        let id = LegId(self.next_id);
        self.next_id += 1;
        if self.engaged {
            self.mixer
                .attach(mixer_id(id), role(leg_role))
                .map_err(|_| RoomError::RoomFull { max: MAX_LEGS })?;
        }
        let down = Rc::new(DownQueue::default());
        self.linked.push(Linked {
            id,
            role: leg_role,
            transport,
            muted: false,
            queue: VecDeque::with_capacity(LEG_QUEUE + 1),
            trim: StandingTrim::default(),
            down: down.clone(),
        });
        Ok((id, LegPort::new(id, leg_role, self.up_tx.clone(), down)))
    }

    /// Removes a linked leg: it fades out of every mix over the next tick;
    /// its edge's link closes.
    ///
    /// # Errors
    /// [`RoomError::CallerStays`], [`RoomError::UnknownLeg`] (the agent
    /// leaves with [`detach_agent`](Self::detach_agent)).
    pub fn detach(&mut self, id: LegId) -> Result<(), RoomError> {
        if id == CALLER {
            return Err(RoomError::CallerStays);
        }
        let i = self
            .linked
            .iter()
            .position(|l| l.id == id)
            .ok_or(RoomError::UnknownLeg(id.0))?;
        let leg = self.linked.remove(i);
        if self.engaged {
            // In the mixer since engage or attach.
            let _ = self.mixer.detach(mixer_id(id));
        }
        // The edge gets the mixes queued, then `None`, and ends by itself.
        leg.down.close();
        Ok(())
    }

    /// A linked leg's frame (16 kHz) for a coming tick.
    pub fn leg_frame(&mut self, id: LegId, frame: Frame) {
        if frame.rate() != INTERNAL_RATE {
            tracing::warn!(leg = id.0, rate = %frame.rate(), "a linked leg sent a frame not at 16 kHz: dropped");
            return;
        }
        if let Some(leg) = self.linked.iter_mut().find(|l| l.id == id) {
            if leg.queue.len() == LEG_QUEUE {
                leg.queue.pop_front();
                self.stats.late_frames += 1;
            }
            leg.queue.push_back(frame);
        }
    }

    /// The caller's frame (8 kHz) for a coming tick, while mixing.
    pub fn caller_frame(&mut self, pcm: &[i16]) {
        let mut frame = [0i16; TICK_8K];
        let n = pcm.len().min(TICK_8K);
        frame[..n].copy_from_slice(&pcm[..n]);
        if self.caller_queue.len() == LEG_QUEUE {
            self.caller_queue.pop_front();
            self.stats.late_frames += 1;
        }
        self.caller_queue.push_back(frame);
    }

    /// Caller frames still queued for the mix once the room went back to
    /// the direct path: the driver hands them to the agent as they are.
    pub fn take_queued_caller(&mut self) -> Option<[i16; TICK_8K]> {
        if self.engaged {
            return None;
        }
        self.caller_queue.pop_front()
    }

    /// Sets the routing table; changes fade over the next tick.
    pub fn set_policy(&mut self, policy: RoutePolicy) {
        self.policy = policy;
        self.mixer.set_policy(policy);
    }

    /// Mutes or unmutes a leg (the caller's or a linked one): a muted leg
    /// is heard by nobody and still hears the room.
    ///
    /// # Errors
    /// [`RoomError::UnknownLeg`] (the agent is silenced by detaching it).
    pub fn set_muted(&mut self, id: LegId, muted: bool) -> Result<(), RoomError> {
        if id == CALLER {
            self.caller_muted = muted;
        } else {
            let leg = self
                .linked
                .iter_mut()
                .find(|l| l.id == id)
                .ok_or(RoomError::UnknownLeg(id.0))?;
            leg.muted = muted;
        }
        if self.engaged {
            let _ = self.mixer.set_muted(mixer_id(id), muted);
        }
        Ok(())
    }

    /// Plays `source` as the hold source from the next tick (`None` stops
    /// it). Whom it reaches is the routing table's choice.
    pub fn set_hold(&mut self, source: Option<Box<dyn FrameSource>>) {
        self.hold = source;
    }

    /// The agent leaves the room (fading out). `agent_clock` is where the
    /// agent's playout clock stood: the room keeps ticking from there.
    ///
    /// # Errors
    /// [`RoomError::AgentAbsent`].
    pub fn detach_agent(&mut self, agent_clock: std::time::Duration) -> Result<(), RoomError> {
        if !self.agent_in {
            return Err(RoomError::AgentAbsent);
        }
        self.agent_in = false;
        self.own_clock = Some(agent_clock);
        if self.engaged {
            let _ = self.mixer.detach(mixer_id(AGENT));
        }
        Ok(())
    }

    /// The agent comes back (fading in).
    ///
    /// # Errors
    /// [`RoomError::AgentPresent`].
    pub fn attach_agent(&mut self) -> Result<(), RoomError> {
        if self.agent_in {
            return Err(RoomError::AgentPresent);
        }
        self.agent_in = true;
        self.own_clock = None;
        if self.engaged {
            let _ = self.mixer.attach(mixer_id(AGENT), Role::Agent);
        }
        Ok(())
    }

    /// The room's own next tick while the agent is out (`None`: the
    /// agent's pacer is the clock).
    pub fn own_clock(&self) -> Option<std::time::Duration> {
        self.own_clock
    }

    /// Moves the room's own clock on by one tick.
    pub fn advance_own_clock(&mut self) {
        if let Some(at) = &mut self.own_clock {
            *at += std::time::Duration::from_millis(20);
        }
    }

    /// One tick of the call's clock while [`mixing`](Self::mixing):
    /// `agent` is the agent's paced frame at 8 kHz, if it released one.
    /// Returns the caller's downlink and the agent's hearing; each linked
    /// leg's mix goes to its edge.
    pub fn tick(&mut self, agent: Option<&[i16]>) -> TickOut {
        let blend = self.blend();
        let caller8 = self.caller_queue.pop_front();
        let head = self.caller_queue.front();
        if self
            .caller_trim
            .after_tick(self.caller_queue.len(), || head.is_none_or(|f| is_quiet(f)))
        {
            self.caller_queue.pop_front();
            self.stats.trimmed_frames += 1;
        }
        let mut agent8 = [0i16; TICK_8K];
        if let Some(pcm) = agent {
            let n = pcm.len().min(TICK_8K);
            agent8[..n].copy_from_slice(&pcm[..n]);
        }
        let mut buf = [0i16; TICK_SAMPLES];
        let at = MediaTime(self.stats.mixed_ticks * TICK_SAMPLES as u64);
        // The two 8 kHz legs, converted every tick so their filters run on
        // (a silent tick still moves them).
        self.up_caller.process(
            caller8.as_ref().map_or(&[0; TICK_8K][..], |c| &c[..]),
            &mut buf,
        );
        if caller8.is_some() {
            let frame = Frame::from_samples(INTERNAL_RATE, at, &buf)
                .unwrap_or_else(|_| Frame::silence(INTERNAL_RATE, at));
            let _ = self.mixer.put_frame(mixer_id(CALLER), &frame);
        }
        self.up_agent.process(&agent8, &mut buf);
        if agent.is_some() && self.agent_in {
            let frame = Frame::from_samples(INTERNAL_RATE, at, &buf)
                .unwrap_or_else(|_| Frame::silence(INTERNAL_RATE, at));
            let _ = self.mixer.put_frame(mixer_id(AGENT), &frame);
        }
        for leg in &mut self.linked {
            if let Some(frame) = leg.queue.pop_front() {
                let _ = self.mixer.put_frame(mixer_id(leg.id), &frame);
            }
            let head = leg.queue.front();
            if leg.trim.after_tick(leg.queue.len(), || {
                head.is_none_or(|f| is_quiet(f.samples()))
            }) {
                leg.queue.pop_front();
                self.stats.trimmed_frames += 1;
            }
        }
        if let Some(source) = &mut self.hold {
            let mut hold = Frame::silence(INTERNAL_RATE, at);
            if source.next_frame(hold.samples_mut()) {
                let _ = self.mixer.put_hold(&hold);
            } else {
                self.hold = None;
            }
        }
        self.mixer.mix();
        self.stats.mixed_ticks += 1;
        for leg in &self.linked {
            if let Some(mix) = self.mixer.output(mixer_id(leg.id)) {
                leg.down.push(mix.clone());
            }
        }
        let mut caller = [0i16; TICK_8K];
        if let Some(mix) = self.mixer.output(mixer_id(CALLER)) {
            self.down_caller.process(mix.samples(), &mut caller);
        }
        let mut hearing = None;
        if let Some(mix) = self.mixer.output(mixer_id(AGENT)) {
            let mut h = [0i16; TICK_8K];
            self.down_agent.process(mix.samples(), &mut h);
            hearing = Some(h);
        }
        let direct_hearing = caller8.unwrap_or([0; TICK_8K]);
        match blend {
            Blend::Mixed => {}
            Blend::Engaging => {
                crossfade(&mut caller, &agent8, false);
                if let Some(h) = &mut hearing {
                    crossfade(h, &direct_hearing, false);
                }
            }
            Blend::Disengaging => {
                crossfade(&mut caller, &agent8, true);
                if let Some(h) = &mut hearing {
                    crossfade(h, &direct_hearing, true);
                }
                // Back to the direct path: a fresh mixer and converters
                // for the next time the room engages.
                *self.mixer = Mixer::new(self.policy);
                self.up_caller = Upsampler2::new();
                self.up_agent = Upsampler2::new();
                self.down_caller = Downsampler2::new();
                self.down_agent = Downsampler2::new();
                self.engaged = false;
            }
        }
        TickOut { caller, hearing }
    }

    /// Decides this tick's blend, engaging or disengaging the mixer.
    fn blend(&mut self) -> Blend {
        if !self.engaged {
            self.engaged = true;
            self.stats.engaged += 1;
            let _ = self.mixer.attach(mixer_id(CALLER), Role::Caller);
            let _ = self.mixer.set_muted(mixer_id(CALLER), self.caller_muted);
            if self.agent_in {
                let _ = self.mixer.attach(mixer_id(AGENT), Role::Agent);
            }
            for leg in &self.linked {
                let _ = self.mixer.attach(mixer_id(leg.id), role(leg.role));
                let _ = self.mixer.set_muted(mixer_id(leg.id), leg.muted);
            }
            self.mixer.set_policy(self.policy);
            return Blend::Engaging;
        }
        // Disengage once nothing needs a mix and every detached leg has
        // faded out (the mixer holds only the caller and the agent).
        let only_two = self.mixer.legs().count() == 2;
        if !self.wants_mix() && only_two {
            // The caller and the agent fade out of the mix while the
            // direct path fades in.
            let _ = self.mixer.detach(mixer_id(CALLER));
            let _ = self.mixer.detach(mixer_id(AGENT));
            return Blend::Disengaging;
        }
        Blend::Mixed
    }
}

/// Adds `direct` into `out` with a linear ramp over the tick: falling from
/// 1 to 0 (`rising` false, the room engaging) or rising from 0 to 1.
/// The mixer fades its own legs the other way over the same tick.
fn crossfade(out: &mut [i16; TICK_8K], direct: &[i16; TICK_8K], rising: bool) {
    for (k, (o, &d)) in out.iter_mut().zip(direct).enumerate() {
        // The mixer's ramp reaches sample 2k+1 at 16 kHz: (2k + 2) / 320.
        let up = (2 * k as i32 + 2) * 32_768 / TICK_SAMPLES as i32;
        let g = if rising { up } else { 32_768 - up };
        let v = i32::from(*o) + ((i32::from(d) * g) >> 15);
        *o = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

#[cfg(test)]
mod tests;
