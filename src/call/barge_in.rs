//! Is the caller's sound a candidate interruption of the agent?
//!
//! While the agent speaks, a speech-started from the VAD is not enough:
//! the agent's own voice comes back as echo, and coughs and clicks start
//! the VAD too (decision 0003). A frame counts toward an interruption only
//! when it is
//! - **not echo**: the call's echo seam ([`super::echo_gate`]) found the
//!   caller's own sound in it, above what the agent's echo explains, and
//! - **voiced**: it has a pitch (normalised autocorrelation at 60–400 Hz
//!   lags ≥ `min_voicing`), which a cough, a click or line noise does not.
//!
//! A candidate needs the VAD to say the caller is speaking and at least
//! `min_qualifying_frames` of the last five frames to qualify. With the
//! defaults that is 40 ms of voiced, non-echo speech, inside the VAD's own
//! 60 ms minimum, so the agent pauses with the VAD's speech-started. What
//! happens next (resume, or cancel and truncate) is the turn judge's
//! ([`super::turn`]).

use std::collections::VecDeque;

use crate::media::frame::Frame;
use crate::media::vad::voicing;

/// Barge-in settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BargeInConfig {
    /// Voicing a frame needs to count.
    pub min_voicing: f32,
    /// Qualifying frames among the last five for a barge-in.
    pub min_qualifying_frames: usize,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        BargeInConfig {
            min_voicing: 0.5,
            min_qualifying_frames: 2,
        }
    }
}

/// Per-call barge-in state. Sans-IO.
#[derive(Clone, Debug)]
pub struct BargeInDetector {
    config: BargeInConfig,
    /// Whether each of the last five caller frames qualified.
    recent: VecDeque<bool>,
    /// The previous caller frame, for a 40 ms voicing window.
    previous: [i16; 160],
}

impl BargeInDetector {
    /// A detector that has heard nothing.
    pub fn new(config: BargeInConfig) -> BargeInDetector {
        BargeInDetector {
            config,
            recent: VecDeque::with_capacity(5),
            previous: [0; 160],
        }
    }

    /// Looks at one 8 kHz caller frame, `near_speech` being the echo
    /// seam's verdict on it; returns whether it qualifies.
    pub fn caller_frame(&mut self, frame: &Frame, near_speech: bool) -> bool {
        let samples = frame.samples();
        let mut window = [0i16; 320];
        window[..160].copy_from_slice(&self.previous);
        let n = samples.len().min(160);
        window[160..160 + n].copy_from_slice(&samples[..n]);
        self.previous[..n].copy_from_slice(&samples[..n]);

        let qualifies = near_speech && voicing(&window, 8_000) >= self.config.min_voicing;
        if self.recent.len() == 5 {
            self.recent.pop_front();
        }
        self.recent.push_back(qualifies);
        qualifies
    }

    /// Records a caller frame that cannot start a barge-in (silence, or the
    /// agent is quiet) without the cost of analysing it.
    pub fn skip_caller_frame(&mut self, frame: &Frame) {
        let n = frame.samples().len().min(160);
        self.previous[..n].copy_from_slice(&frame.samples()[..n]);
        if self.recent.len() == 5 {
            self.recent.pop_front();
        }
        self.recent.push_back(false);
    }

    /// Whether enough recent frames qualified for a barge-in.
    pub fn confirmed(&self) -> bool {
        self.recent.iter().filter(|&&q| q).count() >= self.config.min_qualifying_frames
    }

    /// How many of the last five frames qualified.
    pub fn qualifying(&self) -> usize {
        self.recent.iter().filter(|&&q| q).count()
    }

    /// Forgets the recent caller frames (after a barge-in).
    pub fn reset_caller(&mut self) {
        self.recent.clear();
    }
}
