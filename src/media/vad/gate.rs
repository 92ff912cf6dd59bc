//! [`NoiseGate`]: a frame is only allowed to count as speech when it stands
//! clear of the line's noise floor.
//!
//! Both detectors call the first frames of a new noise "speech" until their
//! own models adapt, and the WebRTC VAD keeps calling loud steady noise
//! speech. Phone lines carry steady noise from the first packet, so the gate
//! tracks a noise floor per stream (it follows quiet frames down quickly and
//! rises slowly, about 3 dB per second, so speech cannot drag it up) and
//! vetoes frames less than `margin_db` above it.
//!
//! Rising slowly alone is wrong when a line goes from digital silence to
//! room noise (a real caller's line did, 400 ms before the first word): at
//! 3 dB per second the gate would take seconds to close on −45 dBFS noise.
//! So when the last `steady_frames` frames all sit within `steady_spread_db`
//! of each other (steady noise; speech swings 10–20 dB from syllable to
//! syllable), the floor jumps to their quietest level.
//!
//! The floor starts at the first frame's level: a caller who speaks in the
//! very first 20 ms of a stream is not heard until the first pause. On a
//! phone call the agent greets first, so this costs nothing in practice.

use crate::media::frame::Frame;

/// Settings of the gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateConfig {
    /// How far above the noise floor a frame must be to count as speech.
    pub margin_db: f32,
    /// How fast the floor may rise, in dB per 20 ms frame.
    pub rise_db_per_frame: f32,
    /// The floor never goes below this (digital silence would pin it at
    /// −∞ and open the gate to any hiss).
    pub min_floor_dbfs: f32,
    /// Frames of steady level after which the floor jumps to them (0: never).
    pub steady_frames: usize,
    /// Most spread (dB) among those frames for the level to be steady.
    pub steady_spread_db: f32,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            margin_db: 9.0,
            rise_db_per_frame: 0.06,
            min_floor_dbfs: -70.0,
            steady_frames: 15,
            steady_spread_db: 3.0,
        }
    }
}

/// The per-stream noise-floor gate.
#[derive(Clone, Debug)]
pub struct NoiseGate {
    config: GateConfig,
    floor_dbfs: Option<f32>,
    /// Recent frame levels, a ring of `steady_frames`.
    recent: [f32; MAX_STEADY],
    seen: usize,
}

/// Longest steadiness window supported.
const MAX_STEADY: usize = 50;

impl NoiseGate {
    /// A gate that has not heard the stream yet.
    pub fn new(config: GateConfig) -> NoiseGate {
        NoiseGate {
            config,
            floor_dbfs: None,
            recent: [0.0; MAX_STEADY],
            seen: 0,
        }
    }

    /// The current floor estimate.
    pub fn floor_dbfs(&self) -> Option<f32> {
        self.floor_dbfs
    }

    /// Updates the floor with `frame` and says whether it stands clear of it.
    pub fn admit(&mut self, frame: &Frame) -> bool {
        let level = frame.level_dbfs().max(self.config.min_floor_dbfs);
        let floor = match self.floor_dbfs {
            None => level,
            // Down quickly (halfway per frame), up slowly.
            Some(f) if level < f => f + 0.5 * (level - f),
            Some(f) => (f + self.config.rise_db_per_frame).min(level),
        };
        let n = self.config.steady_frames.min(MAX_STEADY);
        let floor = if n > 0 {
            self.recent[self.seen % n] = level;
            self.seen += 1;
            let window = &self.recent[..n.min(self.seen)];
            let (lo, hi) = window
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &l| {
                    (lo.min(l), hi.max(l))
                });
            if self.seen >= n && hi - lo <= self.config.steady_spread_db && lo > floor {
                lo
            } else {
                floor
            }
        } else {
            floor
        };
        self.floor_dbfs = Some(floor);
        level >= floor + self.config.margin_db
    }

    /// Forgets the floor.
    pub fn reset(&mut self) {
        self.floor_dbfs = None;
        self.seen = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::{MediaTime, SampleRate};

    fn tone(level: i16) -> Frame {
        let mut f = Frame::silence(SampleRate::Hz8000, MediaTime(0));
        f.samples_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, s)| *s = if i % 4 < 2 { level } else { -level });
        f
    }

    #[test]
    fn steady_noise_from_the_first_frame_never_opens_the_gate() {
        let mut g = NoiseGate::new(GateConfig::default());
        assert!((0..500).all(|_| !g.admit(&tone(1000))));
    }

    #[test]
    fn speech_well_above_the_floor_opens_it_and_cannot_drag_the_floor_up() {
        let mut g = NoiseGate::new(GateConfig::default());
        for _ in 0..50 {
            g.admit(&tone(100)); // about −50 dBFS
        }
        // 3 s of syllables 24–30 dB up stays admitted.
        assert!((0..150).all(|i| g.admit(&tone(if i % 6 < 3 { 3200 } else { 1600 }))));
    }

    #[test]
    fn a_line_that_goes_from_silence_to_steady_noise_closes_within_300_ms() {
        let mut g = NoiseGate::new(GateConfig::default());
        for _ in 0..50 {
            g.admit(&Frame::silence(SampleRate::Hz8000, MediaTime(0)));
        }
        let admitted: Vec<bool> = (0..50).map(|_| g.admit(&tone(180))).collect();
        assert!(admitted[15..].iter().all(|a| !a), "{admitted:?}");
    }

    #[test]
    fn digital_silence_does_not_pin_the_floor_below_the_minimum() {
        let mut g = NoiseGate::new(GateConfig::default());
        for _ in 0..100 {
            g.admit(&Frame::silence(SampleRate::Hz8000, MediaTime(0)));
        }
        assert_eq!(g.floor_dbfs(), Some(-70.0));
    }
}
