//! The jitter buffer: RTP packets in, one 20 ms frame out per tick.
//!
//! Sans-IO: arrival times and tick times are arguments ([`Duration`] on the
//! call's clock). Payloads are copied into a fixed ring of slots, so pushing
//! and popping never allocate.
//!
//! Playout is scheduled by deadline: a packet is due at its RTP time plus
//! the smallest transit seen so far plus the target depth. One
//! [`pop`](JitterBuffer::pop) per tick releases the next sequence number: the
//! packet if it arrived, a concealment frame if its deadline passed without
//! it, or nothing while the buffer is still filling.
//!
//! Decisions:
//! - 20 ms G.711 frames only (160-byte payloads); other sizes are refused
//!   with an error. The SIP issue adds ptime negotiation.
//! - The target depth follows a decaying peak of observed transit above the
//!   minimum, rounded up to whole frames and clamped to
//!   `[min_depth_ms, max_depth_ms]` (0–60 ms). It only grows mid-stream
//!   (by holding one tick); it shrinks at talkspurt starts (RTP marker), so
//!   audio is never dropped to catch up.
//! - A timestamp that disagrees with its sequence number by more than one
//!   second, a sequence jump of more than 100, or a new SSRC, is a resync:
//!   the new packets are renumbered to follow the old ones directly, so the
//!   output continues without a gap (or, if the old stream had already
//!   drained, they play one target depth after arrival).
//! - A packet that arrives after its sequence was played or concealed is
//!   dropped and counted late. Its frame was concealed, so
//!   `concealed == lost in the network + late`.

use std::time::Duration;

use super::g711::Law;

/// Frame duration in RTP timestamp units at 8 kHz.
const TS_PER_FRAME: u64 = 160;
/// Payload bytes of a 20 ms G.711 frame.
pub const FRAME_BYTES: usize = 160;
/// Slots in the ring: 32 frames, 640 ms.
const SLOTS: usize = 32;
const FRAME: Duration = Duration::from_millis(20);
/// A timestamp this far (in samples) from where its sequence number puts it
/// is a new timeline.
const RESYNC_TS: i64 = 8_000;
/// A sequence jump this large is a new timeline.
const RESYNC_SEQ: i64 = 100;

/// An RTP packet as the jitter buffer needs it.
#[derive(Clone, Copy, Debug)]
pub struct RtpPacket<'a> {
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp (8 kHz units).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// RTP marker bit (start of a talkspurt for audio).
    pub marker: bool,
    /// The G.711 payload.
    pub payload: &'a [u8],
}

/// Errors from pushing a packet. None of them disturbs the buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JitterError {
    /// Only 20 ms frames are supported.
    #[error("payload of {0} bytes is not one 20 ms G.711 frame (160 bytes)")]
    UnsupportedPayloadSize(usize),
}

/// What happened to a pushed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued for playout.
    Queued,
    /// Queued after a resync (new SSRC or timeline).
    Resynced,
    /// Already queued or played.
    Duplicate,
    /// Arrived after its playout time; dropped.
    Late,
    /// Too far ahead of playout for the ring; dropped.
    Overflow,
}

/// How missing packets are concealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concealment {
    /// Silence.
    Silence,
    /// Repeat the last frame, 6 dB quieter each time, then silence after
    /// three.
    RepeatAndFade,
}

/// Settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest target depth.
    pub min_depth_ms: u32,
    /// Largest target depth (at most 60 in practice).
    pub max_depth_ms: u32,
    /// Depth before anything is known about the network.
    pub initial_depth_ms: u32,
    /// How gaps are filled.
    pub concealment: Concealment,
    /// The payload's G.711 law (for concealment, which fades decoded audio).
    pub law: Law,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_depth_ms: 0,
            max_depth_ms: 60,
            initial_depth_ms: 40,
            concealment: Concealment::RepeatAndFade,
            law: Law::Ulaw,
        }
    }
}

/// RFC 3550 receiver statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted (not duplicates).
    pub received: u64,
    /// Packets that arrived too late to play.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets dropped because the ring was full.
    pub overflow: u64,
    /// Frames concealed (missing at their deadline).
    pub concealed: u64,
    /// Frames played from packets.
    pub played: u64,
    /// Frames skipped to win back a frame of latency (rare: only when the
    /// minimum transit drops after playout started).
    pub trimmed: u64,
    /// Resyncs (SSRC changes and timeline jumps).
    pub resyncs: u64,
    /// Extended highest sequence number received (RFC 3550 §6.4.1).
    pub highest_sequence: u64,
    /// Interarrival jitter in timestamp units (RFC 3550 §6.4.1, A.8).
    pub jitter: u32,
    /// Cumulative number of packets lost (expected − received).
    pub cumulative_lost: i64,
}

/// One tick's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// Still filling to the target depth, or holding a tick to grow it:
    /// nothing to play.
    Buffering,
    /// The frame of `sequence` (extended), as received.
    Frame {
        /// Extended sequence number.
        sequence: u64,
        /// Extended RTP timestamp (on the buffer's continuous timeline).
        timestamp: u64,
        /// G.711 payload.
        payload: &'a [u8; FRAME_BYTES],
    },
    /// `sequence` was missing at its deadline; play this instead.
    Concealed {
        /// Extended sequence number of the missing packet.
        sequence: u64,
        /// The G.711 payload to play (faded repeat or silence).
        payload: &'a [u8; FRAME_BYTES],
    },
}

#[derive(Clone, Copy)]
struct Slot {
    occupied: bool,
    sequence: u64,
    timestamp: u64,
    payload: [u8; FRAME_BYTES],
}

const EMPTY_SLOT: Slot = Slot {
    occupied: false,
    sequence: 0,
    timestamp: 0,
    payload: [0; FRAME_BYTES],
};

/// Maps one sender's 16-bit sequence numbers and 32-bit timestamps onto the
/// buffer's continuous 64-bit timeline.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    ssrc: u32,
    /// Extended sequence of the last packet seen from this sender.
    last_ext_seq: u64,
    last_raw_seq: u16,
    /// Added to raw timestamps (extended).
    ts_offset: i64,
    last_raw_ts: u32,
    ts_wraps: i64,
}

/// The jitter buffer. See the module docs.
pub struct JitterBuffer {
    config: JitterConfig,
    slots: Box<[Slot; SLOTS]>,
    timeline: Option<Timeline>,
    /// Next extended sequence to play.
    next_seq: u64,
    /// Its timestamp.
    next_ts: u64,
    started: bool,
    /// Smallest (arrival − RTP time) seen, in microseconds.
    base_transit_us: Option<i64>,
    /// Decaying peak of transit above base, microseconds.
    peak_excess_us: f64,
    target: Duration,
    /// Applied target (changes at safe points).
    applied_target: Duration,
    /// For RFC 3550 jitter: previous transit in timestamp units.
    prev_transit_ts: Option<i64>,
    jitter_q4: i64,
    concealed_run: u32,
    last_frame: [u8; FRAME_BYTES],
    conceal_frame: [u8; FRAME_BYTES],
    /// First extended sequence received, for the loss count.
    base_seq: Option<u64>,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("next_seq", &self.next_seq)
            .field("target", &self.applied_target)
            .field("stats", &self.stats)
            .finish()
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> JitterBuffer {
        let initial = Duration::from_millis(u64::from(
            config
                .initial_depth_ms
                .clamp(config.min_depth_ms, config.max_depth_ms),
        ));
        JitterBuffer {
            config,
            slots: Box::new([EMPTY_SLOT; SLOTS]),
            timeline: None,
            next_seq: 0,
            next_ts: 0,
            started: false,
            base_transit_us: None,
            peak_excess_us: 0.0,
            target: initial,
            applied_target: initial,
            prev_transit_ts: None,
            jitter_q4: 0,
            concealed_run: 0,
            last_frame: [config.law.silence_code(); FRAME_BYTES],
            conceal_frame: [config.law.silence_code(); FRAME_BYTES],
            base_seq: None,
            stats: JitterStats::default(),
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The depth playout currently aims for.
    pub fn target_depth(&self) -> Duration {
        self.applied_target
    }

    /// Takes one packet that arrived at `arrival`.
    pub fn push(
        &mut self,
        packet: RtpPacket<'_>,
        arrival: Duration,
    ) -> Result<PushOutcome, JitterError> {
        if packet.payload.len() != FRAME_BYTES {
            return Err(JitterError::UnsupportedPayloadSize(packet.payload.len()));
        }
        let (seq, ts, resynced) = self.extend(&packet, arrival);
        if self.started && seq < self.next_seq {
            // Its frame was played or concealed already. (A duplicate of a
            // played packet also lands here and counts as late.)
            self.stats.late += 1;
            return Ok(PushOutcome::Late);
        }
        if seq >= self.next_seq + SLOTS as u64 {
            self.stats.overflow += 1;
            return Ok(PushOutcome::Overflow);
        }
        let slot = &mut self.slots[(seq % SLOTS as u64) as usize];
        if slot.occupied && slot.sequence == seq {
            self.stats.duplicates += 1;
            return Ok(PushOutcome::Duplicate);
        }
        *slot = Slot {
            occupied: true,
            sequence: seq,
            timestamp: ts,
            payload: [0; FRAME_BYTES],
        };
        slot.payload.copy_from_slice(packet.payload);
        self.stats.received += 1;
        self.stats.highest_sequence = self.stats.highest_sequence.max(seq);
        let base = *self.base_seq.get_or_insert(seq);
        let expected = self.stats.highest_sequence - base + 1;
        self.stats.cumulative_lost = expected as i64 - self.stats.received as i64;
        self.observe_transit(ts, arrival, packet.marker);
        Ok(if resynced {
            PushOutcome::Resynced
        } else {
            PushOutcome::Queued
        })
    }

    /// Maps the packet onto the continuous timeline, resyncing when needed.
    fn extend(&mut self, p: &RtpPacket<'_>, arrival: Duration) -> (u64, u64, bool) {
        let Some(mut tl) = self.timeline else {
            let tl = Timeline {
                ssrc: p.ssrc,
                last_ext_seq: u64::from(p.sequence),
                last_raw_seq: p.sequence,
                ts_offset: 0,
                last_raw_ts: p.timestamp,
                ts_wraps: 0,
            };
            self.timeline = Some(tl);
            self.next_seq = u64::from(p.sequence);
            self.next_ts = u64::from(p.timestamp);
            return (u64::from(p.sequence), u64::from(p.timestamp), false);
        };
        let seq_delta = i64::from(p.sequence.wrapping_sub(tl.last_raw_seq) as i16);
        let mut ts_wraps = tl.ts_wraps;
        let ts_delta = i64::from(p.timestamp.wrapping_sub(tl.last_raw_ts) as i32);
        if ts_delta > 0 && p.timestamp < tl.last_raw_ts {
            ts_wraps += 1;
        } else if ts_delta < 0 && p.timestamp > tl.last_raw_ts {
            ts_wraps -= 1;
        }
        let ext_seq = tl.last_ext_seq as i64 + seq_delta;
        let ext_ts_raw = ts_wraps * (1 << 32) + i64::from(p.timestamp);
        let ext_ts = ext_ts_raw + tl.ts_offset;
        let expected_ts = self.ts_for_seq(ext_seq, &tl);
        let jump = p.ssrc != tl.ssrc
            || seq_delta.abs() > RESYNC_SEQ
            || (ext_ts - expected_ts).abs() > RESYNC_TS;
        if !jump {
            if seq_delta > 0 {
                tl.last_ext_seq = ext_seq as u64;
                tl.last_raw_seq = p.sequence;
                tl.last_raw_ts = p.timestamp;
                tl.ts_wraps = ts_wraps;
            }
            self.timeline = Some(tl);
            return (ext_seq.max(0) as u64, ext_ts.max(0) as u64, false);
        }
        // Resync: the new packet follows the newest packet we know of.
        self.stats.resyncs += 1;
        let follow_seq = self
            .stats
            .highest_sequence
            .max(self.next_seq.saturating_sub(1))
            + 1;
        let follow_ts = self.ts_for_seq(follow_seq as i64, &tl);
        let new = Timeline {
            ssrc: p.ssrc,
            last_ext_seq: follow_seq,
            last_raw_seq: p.sequence,
            ts_offset: follow_ts - i64::from(p.timestamp),
            last_raw_ts: p.timestamp,
            ts_wraps: 0,
        };
        self.timeline = Some(new);
        // If the old stream has drained, play the new one a target depth
        // from now instead of at a deadline already past.
        let drained = !self.has_queued();
        let ts = follow_ts.max(0) as u64;
        if drained {
            let rtp_us = ts as i64 * 125;
            self.base_transit_us = Some(arrival.as_micros() as i64 - rtp_us);
            if self.started {
                self.next_seq = follow_seq;
                self.next_ts = ts;
            }
        }
        self.prev_transit_ts = None;
        (follow_seq, ts, true)
    }

    fn ts_for_seq(&self, ext_seq: i64, tl: &Timeline) -> i64 {
        let last_ts = tl.ts_wraps * (1 << 32) + i64::from(tl.last_raw_ts) + tl.ts_offset;
        last_ts + (ext_seq - tl.last_ext_seq as i64) * TS_PER_FRAME as i64
    }

    fn has_queued(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.occupied && (!self.started || s.sequence >= self.next_seq))
    }

    fn observe_transit(&mut self, ts: u64, arrival: Duration, marker: bool) {
        let arrival_us = arrival.as_micros() as i64;
        let transit_us = arrival_us - ts as i64 * 125;
        let base = self
            .base_transit_us
            .map_or(transit_us, |b| b.min(transit_us));
        self.base_transit_us = Some(base);
        let excess = (transit_us - base) as f64;
        // Decay the peak by half over about five seconds of packets.
        self.peak_excess_us = (self.peak_excess_us * 0.9972).max(excess);
        let frames = (self.peak_excess_us / 20_000.0).ceil() as u64;
        let target_ms = (frames * 20).clamp(
            u64::from(self.config.min_depth_ms),
            u64::from(self.config.max_depth_ms),
        );
        // Keep the initial depth until half a second of packets has shown
        // what the network does.
        if self.stats.received < 25 {
            return self.update_rfc3550_jitter(ts, arrival_us);
        }
        self.target = Duration::from_millis(target_ms);
        if self.target > self.applied_target || marker {
            // Growing is always safe (we hold a tick); shrinking waits for a
            // talkspurt start.
            self.applied_target = self.target;
        }
        self.update_rfc3550_jitter(ts, arrival_us);
    }

    /// RFC 3550 A.8 interarrival jitter, in timestamp units.
    fn update_rfc3550_jitter(&mut self, ts: u64, arrival_us: i64) {
        let transit_ts = arrival_us * 8 / 1000 - ts as i64;
        if let Some(prev) = self.prev_transit_ts {
            let d = (transit_ts - prev).abs();
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4);
            self.stats.jitter = (self.jitter_q4 >> 4).max(0) as u32;
        }
        self.prev_transit_ts = Some(transit_ts);
    }

    fn deadline(&self, ts: u64) -> Option<Duration> {
        let base = self.base_transit_us?;
        let due_us = ts as i64 * 125 + base + self.applied_target.as_micros() as i64;
        Some(Duration::from_micros(due_us.max(0) as u64))
    }

    /// Runs one tick at `now`.
    pub fn pop(&mut self, now: Duration) -> Playout<'_> {
        if !self.started {
            let first = self
                .slots
                .iter()
                .filter(|s| s.occupied)
                .min_by_key(|s| s.sequence)
                .map(|s| (s.sequence, s.timestamp));
            let Some((seq, ts)) = first else {
                return Playout::Buffering;
            };
            match self.deadline(ts) {
                Some(due) if now >= due => {
                    self.started = true;
                    self.next_seq = seq;
                    self.next_ts = ts;
                }
                _ => return Playout::Buffering,
            }
        }
        let Some(due) = self.deadline(self.next_ts) else {
            return Playout::Buffering;
        };
        // The target grew: hold this tick so the extra depth builds up.
        if now + FRAME <= due {
            return Playout::Buffering;
        }
        let seq = self.next_seq;
        let idx = (seq % SLOTS as u64) as usize;
        let present = self.slots[idx].occupied && self.slots[idx].sequence == seq;
        if !present && now < due {
            return Playout::Buffering;
        }
        self.next_seq += 1;
        self.next_ts += TS_PER_FRAME;
        // Behind by a whole frame (the minimum transit dropped after we
        // started): skip this frame if the next one is here, so the hold
        // time stays within the target plus one frame.
        let next_idx = ((seq + 1) % SLOTS as u64) as usize;
        if present
            && now >= due + FRAME
            && self.slots[next_idx].occupied
            && self.slots[next_idx].sequence == seq + 1
        {
            self.slots[idx].occupied = false;
            self.stats.trimmed += 1;
            return self.pop(now);
        }
        if present {
            self.slots[idx].occupied = false;
            self.last_frame = self.slots[idx].payload;
            self.concealed_run = 0;
            self.stats.played += 1;
            let slot = &self.slots[idx];
            return Playout::Frame {
                sequence: seq,
                timestamp: slot.timestamp,
                payload: &slot.payload,
            };
        }
        self.stats.concealed += 1;
        self.concealed_run += 1;
        self.fill_concealment();
        Playout::Concealed {
            sequence: seq,
            payload: &self.conceal_frame,
        }
    }

    fn fill_concealment(&mut self) {
        let law = self.config.law;
        match self.config.concealment {
            Concealment::RepeatAndFade if self.concealed_run <= 3 => {
                let shift = self.concealed_run; // −6 dB per repeat
                for (out, &code) in self.conceal_frame.iter_mut().zip(&self.last_frame) {
                    *out = law.encode(law.decode(code) >> shift);
                }
            }
            _ => self.conceal_frame = [law.silence_code(); FRAME_BYTES],
        }
    }
}

#[cfg(test)]
mod tests;
