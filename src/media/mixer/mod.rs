//! The room mixer: one per call, one tick per 20 ms of the call's playout
//! clock, one mix out per listening leg.
//!
//! A call is a room of legs (caller, agent, rep, monitor, coach;
//! [`Role`]). On every tick each leg hands in its latest frame
//! ([`Mixer::put_frame`]), the call may hand in a frame of the hold source
//! ([`Mixer::put_hold`]), and [`Mixer::mix`] builds, for every leg, what
//! that leg hears: everyone but itself, filtered by the [`RoutePolicy`]
//! the call set. The edges (codecs, resamplers, jitter buffers) live with
//! the legs; the mixer sees only the internal format.
//!
//! Owns: the legs' slots, the gain of every listener–speaker pair and its
//! fades, the mixes. Never: I/O, reading a clock (the room calls `mix` once
//! per tick of its clock), allocating after [`Mixer::new`], knowing how a
//! leg reached the call.
//!
//! Decisions (decision 0021):
//! - **Internal format**: 16 kHz mono i16 ([`INTERNAL_RATE`], 320 samples
//!   per tick), summed in i32 and saturated to i16 once per output sample
//!   (hard clipping, as FreeSWITCH, Janus and Asterisk do; speech legs sit
//!   20 dB or more below full scale, so it almost never engages).
//! - **Cost grows with talkers**: speakers heard at full gain by every
//!   other leg are summed once into a bus; each listener gets the bus minus
//!   its own frame, plus only the speakers with special routing (coach,
//!   hold, an agent during the brief) or a fade in progress.
//! - **Fades**: every change of a pair's gain (a leg attaching, detaching,
//!   being muted, a new policy) ramps linearly over exactly one tick
//!   ([`FADE_SAMPLES`], 20 ms), as libwebrtc's audio mixer ramps a source
//!   in and out, so nothing switches mid-waveform. A detached leg's last
//!   mix is readable until the next tick, then its slot is free.
//! - **Missing frames are silence**: a leg that handed in nothing this tick
//!   (late, lost, not started) contributes nothing; the others mix as
//!   usual. Concealment is the leg's edge's job (its jitter buffer), not
//!   the mixer's.

use super::frame::{Frame, MediaTime, SampleRate};

mod routing;

pub use routing::{Role, RoutePolicy, Speaker};

/// The mixer's one sample rate: every leg converts to and from it at its
/// edge (decision 0021 says why 16 kHz).
pub const INTERNAL_RATE: SampleRate = SampleRate::Hz16000;

/// Samples in one tick at [`INTERNAL_RATE`].
pub const TICK_SAMPLES: usize = INTERNAL_RATE.samples_per_frame();

/// Length of every fade: one tick.
pub const FADE_SAMPLES: usize = TICK_SAMPLES;

/// The most legs one room holds (caller, agent, a rep, supervisors, and
/// room to spare for a second rep during a handover).
pub const MAX_LEGS: usize = 8;

/// Unity gain in Q15.
const UNITY: i32 = 1 << 15;
/// The hold source's column in the gain table (after the legs').
const HOLD: usize = MAX_LEGS;
const SPEAKERS: usize = MAX_LEGS + 1;

/// A leg of the room, named by the call (the mixer only compares ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

/// What went wrong talking to the mixer. None of these is the network's
/// doing: each is a bug or a full room in the caller of the mixer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MixerError {
    /// The room already has [`MAX_LEGS`] legs: refuse the new leg (answer
    /// the attach command with this error) or detach one first.
    #[error("the room is full: {max} legs; detach one before attaching {leg:?}")]
    RoomFull {
        /// The leg that could not attach.
        leg: LegId,
        /// The cap.
        max: usize,
    },
    /// A leg with this id is in the room (perhaps still fading out): pick a
    /// fresh id per attach.
    #[error("leg {0:?} is already in the room")]
    AlreadyAttached(LegId),
    /// No leg with this id is in the room: it was never attached, or it was
    /// detached already. Drop the frame or command.
    #[error("leg {0:?} is not in the room")]
    UnknownLeg(LegId),
    /// A frame at another rate: the leg's edge must convert to
    /// [`INTERNAL_RATE`] before the mixer.
    #[error("the mixer takes {expected} frames, got {got}: convert at the leg's edge")]
    WrongRate {
        /// [`INTERNAL_RATE`].
        expected: SampleRate,
        /// What came.
        got: SampleRate,
    },
}

/// Counters for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixerStats {
    /// Ticks mixed.
    pub ticks: u64,
    /// Leg-ticks with no frame handed in (each counted as silence).
    pub missing_frames: u64,
    /// Leg-ticks that ran a fade (in, out, or a routing change).
    pub fades: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// In the room (the first tick after attach fades it in).
    Live,
    /// Detach requested: the next tick fades it out.
    Leaving,
    /// Faded out: its last mix is still readable; the slot is free.
    Gone,
}

#[derive(Clone)]
struct Slot {
    id: LegId,
    role: Role,
    state: SlotState,
    muted: bool,
    has_frame: bool,
    input: [i16; TICK_SAMPLES],
    output: Frame,
}

/// The room mixer. See the module docs.
///
/// About 24 KB inline (frames and the gain table); keep it in the call's
/// state, which is boxed once per call.
pub struct Mixer {
    slots: [Option<Slot>; MAX_LEGS],
    policy: RoutePolicy,
    /// `gains[listener][speaker]` in Q15 as of the end of the last tick.
    gains: [[i32; SPEAKERS]; MAX_LEGS],
    hold: [i16; TICK_SAMPLES],
    has_hold: bool,
    bus: [i32; TICK_SAMPLES],
    acc: [i32; TICK_SAMPLES],
    stats: MixerStats,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let legs: Vec<(LegId, Role)> = self.legs().collect();
        f.debug_struct("Mixer")
            .field("legs", &legs)
            .field("policy", &self.policy)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for Mixer {
    fn default() -> Mixer {
        Mixer::new(RoutePolicy::normal())
    }
}

impl Mixer {
    /// An empty room with `policy`.
    pub fn new(policy: RoutePolicy) -> Mixer {
        Mixer {
            slots: std::array::from_fn(|_| None),
            policy,
            gains: [[0; SPEAKERS]; MAX_LEGS],
            hold: [0; TICK_SAMPLES],
            has_hold: false,
            bus: [0; TICK_SAMPLES],
            acc: [0; TICK_SAMPLES],
            stats: MixerStats::default(),
        }
    }

    /// Adds a leg. It fades in (and starts hearing the room, faded in too)
    /// over the next tick.
    ///
    /// # Errors
    /// [`MixerError::AlreadyAttached`] when the id is in the room (even
    /// fading out); [`MixerError::RoomFull`] at [`MAX_LEGS`].
    pub fn attach(&mut self, leg: LegId, role: Role) -> Result<(), MixerError> {
        if self.find(leg).is_some() {
            return Err(MixerError::AlreadyAttached(leg));
        }
        let free = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_none_or(|s| s.state == SlotState::Gone))
            .ok_or(MixerError::RoomFull { leg, max: MAX_LEGS })?;
        // A fresh slot is heard by no one and hears no one: the first tick
        // ramps every gain up from zero.
        self.gains[free] = [0; SPEAKERS];
        for row in &mut self.gains {
            row[free] = 0;
        }
        self.slots[free] = Some(Slot {
            id: leg,
            role,
            state: SlotState::Live,
            muted: false,
            has_frame: false,
            input: [0; TICK_SAMPLES],
            output: Frame::silence(INTERNAL_RATE, MediaTime(0)),
        });
        Ok(())
    }

    /// Removes a leg: it fades out of everyone's mix over the next tick,
    /// whose mix it still gets; then it is gone.
    ///
    /// # Errors
    /// [`MixerError::UnknownLeg`] when it is not in the room.
    pub fn detach(&mut self, leg: LegId) -> Result<(), MixerError> {
        let i = self.find(leg).ok_or(MixerError::UnknownLeg(leg))?;
        if let Some(slot) = &mut self.slots[i] {
            slot.state = SlotState::Leaving;
        }
        Ok(())
    }

    /// Mutes or unmutes a leg: a muted leg is heard by no one (it still
    /// hears the room). Fades like any routing change.
    ///
    /// # Errors
    /// [`MixerError::UnknownLeg`] when it is not in the room.
    pub fn set_muted(&mut self, leg: LegId, muted: bool) -> Result<(), MixerError> {
        let i = self.find(leg).ok_or(MixerError::UnknownLeg(leg))?;
        if let Some(slot) = &mut self.slots[i] {
            slot.muted = muted;
        }
        Ok(())
    }

    /// Replaces the routing table; the changes fade in over the next tick.
    pub fn set_policy(&mut self, policy: RoutePolicy) {
        self.policy = policy;
    }

    /// The routing table in force.
    pub fn policy(&self) -> RoutePolicy {
        self.policy
    }

    /// Hands in `leg`'s frame for the coming tick. A second frame in the
    /// same tick replaces the first (the latest wins: a leg that bunched
    /// frames up is behind, and the newest is the one to play).
    ///
    /// # Errors
    /// [`MixerError::UnknownLeg`], or [`MixerError::WrongRate`] when the
    /// frame is not at [`INTERNAL_RATE`].
    pub fn put_frame(&mut self, leg: LegId, frame: &Frame) -> Result<(), MixerError> {
        check_rate(frame)?;
        let i = self.find(leg).ok_or(MixerError::UnknownLeg(leg))?;
        if let Some(slot) = &mut self.slots[i] {
            slot.input.copy_from_slice(frame.samples());
            slot.has_frame = true;
        }
        Ok(())
    }

    /// Hands in the hold source's frame for the coming tick (heard by whom
    /// the policy says; nobody in [`RoutePolicy::normal`]).
    ///
    /// # Errors
    /// [`MixerError::WrongRate`].
    pub fn put_hold(&mut self, frame: &Frame) -> Result<(), MixerError> {
        check_rate(frame)?;
        self.hold.copy_from_slice(frame.samples());
        self.has_hold = true;
        Ok(())
    }

    /// Mixes one tick: every leg's mix is then readable with
    /// [`output`](Self::output), stamped with the tick's media time. The
    /// frames handed in are consumed; a leg that hands in nothing before
    /// the next call is silent in it.
    pub fn mix(&mut self) {
        let at = MediaTime(self.stats.ticks * TICK_SAMPLES as u64);
        // Legs that faded out last tick: their last mix has been read.
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.state == SlotState::Gone) {
                *slot = None;
            }
        }
        let targets = self.targets();
        // Open speakers: heard at steady full gain by every other leg.
        let mut open = [false; MAX_LEGS];
        for (s, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if slot.state == SlotState::Gone {
                continue;
            }
            if !slot.has_frame {
                self.stats.missing_frames += 1;
            }
            open[s] = self
                .present()
                .all(|l| l == s || (self.gains[l][s] == UNITY && targets[l][s] == UNITY));
        }
        self.bus.fill(0);
        for (s, slot) in self.slots.iter().enumerate() {
            if let Some(slot) = slot {
                if open[s] && slot.has_frame {
                    add(&mut self.bus, &slot.input);
                }
            }
        }
        for l in 0..MAX_LEGS {
            let Some(listener) = &self.slots[l] else {
                continue;
            };
            if listener.state == SlotState::Gone {
                continue;
            }
            self.acc.copy_from_slice(&self.bus);
            if open[l] && listener.has_frame {
                sub(&mut self.acc, &listener.input);
            }
            let mut faded = false;
            for s in 0..SPEAKERS {
                if s == l || (s < MAX_LEGS && open[s]) {
                    continue;
                }
                let input = if s == HOLD {
                    if !self.has_hold {
                        continue;
                    }
                    &self.hold
                } else {
                    match &self.slots[s] {
                        Some(slot) if slot.has_frame && slot.state != SlotState::Gone => {
                            &slot.input
                        }
                        _ => continue,
                    }
                };
                let (from, to) = (self.gains[l][s], targets[l][s]);
                match (from, to) {
                    (0, 0) => {}
                    (UNITY, UNITY) => add(&mut self.acc, input),
                    _ => {
                        ramp(&mut self.acc, input, from, to);
                        faded = true;
                    }
                }
            }
            if faded {
                self.stats.fades += 1;
            }
            if let Some(listener) = &mut self.slots[l] {
                listener.output.set_timestamp(at);
                saturate(&self.acc, listener.output.samples_mut());
            }
        }
        self.gains = targets;
        for slot in self.slots.iter_mut().flatten() {
            slot.has_frame = false;
            if slot.state == SlotState::Leaving {
                slot.state = SlotState::Gone;
            }
        }
        self.has_hold = false;
        self.stats.ticks += 1;
    }

    /// What `leg` hears, as of the last [`mix`](Self::mix) (a leg attached
    /// since has silence). `None` for a leg not in the room.
    pub fn output(&self, leg: LegId) -> Option<&Frame> {
        self.find_any(leg)
            .and_then(|i| self.slots[i].as_ref())
            .map(|s| &s.output)
    }

    /// The legs in the room (those fading out included), in slot order.
    pub fn legs(&self) -> impl Iterator<Item = (LegId, Role)> + '_ {
        self.slots
            .iter()
            .flatten()
            .filter(|s| s.state != SlotState::Gone)
            .map(|s| (s.id, s.role))
    }

    /// Counters.
    pub fn stats(&self) -> MixerStats {
        self.stats
    }

    /// Slot of a leg in the room (not faded out).
    fn find(&self, leg: LegId) -> Option<usize> {
        self.slots.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.id == leg && s.state != SlotState::Gone)
        })
    }

    /// Slot of a leg, faded out or not.
    fn find_any(&self, leg: LegId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == leg))
    }

    fn present(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.state != SlotState::Gone).map(|_| i))
    }

    /// The gains this tick ends at: the policy applied to the legs' roles
    /// and states.
    fn targets(&self) -> [[i32; SPEAKERS]; MAX_LEGS] {
        let mut t = [[0; SPEAKERS]; MAX_LEGS];
        for (l, listener) in self.slots.iter().enumerate() {
            let Some(listener) = listener else { continue };
            if listener.state == SlotState::Gone {
                continue;
            }
            for (s, speaker) in self.slots.iter().enumerate() {
                let Some(speaker) = speaker else { continue };
                let heard = s != l
                    && speaker.state == SlotState::Live
                    && !speaker.muted
                    && self
                        .policy
                        .hears(listener.role, Speaker::Role(speaker.role));
                t[l][s] = if heard { UNITY } else { 0 };
            }
            if self.policy.hears(listener.role, Speaker::Hold) {
                t[l][HOLD] = UNITY;
            }
        }
        t
    }
}

fn check_rate(frame: &Frame) -> Result<(), MixerError> {
    if frame.rate() == INTERNAL_RATE {
        Ok(())
    } else {
        Err(MixerError::WrongRate {
            expected: INTERNAL_RATE,
            got: frame.rate(),
        })
    }
}

fn add(acc: &mut [i32; TICK_SAMPLES], input: &[i16; TICK_SAMPLES]) {
    for (a, &x) in acc.iter_mut().zip(input) {
        *a += i32::from(x);
    }
}

fn sub(acc: &mut [i32; TICK_SAMPLES], input: &[i16; TICK_SAMPLES]) {
    for (a, &x) in acc.iter_mut().zip(input) {
        *a -= i32::from(x);
    }
}

/// Adds `input` with its gain moving linearly from `from` to `to` (Q15)
/// across the tick: sample k gets `from + (to - from) * (k + 1) / FADE`,
/// so the last sample is at the target and the next tick continues from it.
fn ramp(acc: &mut [i32; TICK_SAMPLES], input: &[i16; TICK_SAMPLES], from: i32, to: i32) {
    let span = to - from;
    for (k, (a, &x)) in acc.iter_mut().zip(input).enumerate() {
        let g = from + span * (k as i32 + 1) / FADE_SAMPLES as i32;
        // |x| ≤ 2^15 and g ≤ 2^15: the product fits in i32.
        *a += (i32::from(x) * g) >> 15;
    }
}

fn saturate(acc: &[i32; TICK_SAMPLES], out: &mut [i16]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

#[cfg(test)]
mod tests;
