//! Deciding that the caller is talking over the agent.
//!
//! While the agent speaks, a speech-started from the VAD is not enough:
//! the agent's own voice comes back as echo, and coughs and clicks start
//! the VAD too (decision 0003). A frame counts toward a barge-in only when
//! it is
//! - **not echo**: its level is no more than `echo_margin_db` below the
//!   loudest frame the agent played in the last `echo_window_ms` (a Geigel
//!   double-talk test: echo returns 10–25 dB down, a caller talking over
//!   the agent is about as loud as the agent), and
//! - **voiced**: it has a pitch (normalised autocorrelation at 60–400 Hz
//!   lags ≥ `min_voicing`), which a cough or a click does not.
//!
//! Barge-in fires when the VAD says the caller is speaking and at least
//! `min_qualifying_frames` of the last five frames qualified. With the
//! defaults that is 40 ms of voiced, non-echo speech, inside the VAD's own
//! 60 ms minimum, so the decision comes with the VAD's speech-started.

use std::collections::VecDeque;

use crate::media::frame::Frame;
use crate::media::vad::voicing;

/// Barge-in settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BargeInConfig {
    /// A caller frame this far below the agent's recent peak is echo.
    pub echo_margin_db: f32,
    /// How far back the agent's playout is remembered (covers the echo
    /// path's delay).
    pub echo_window_ms: u32,
    /// Voicing a frame needs to count.
    pub min_voicing: f32,
    /// Qualifying frames among the last five for a barge-in.
    pub min_qualifying_frames: usize,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        BargeInConfig {
            echo_margin_db: 12.0,
            echo_window_ms: 300,
            min_voicing: 0.5,
            min_qualifying_frames: 2,
        }
    }
}

/// Per-call barge-in state. Sans-IO.
#[derive(Clone, Debug)]
pub struct BargeInDetector {
    config: BargeInConfig,
    /// Levels (dBFS) of the agent frames played recently, newest last.
    agent_levels: VecDeque<f32>,
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
            agent_levels: VecDeque::with_capacity(32),
            recent: VecDeque::with_capacity(5),
            previous: [0; 160],
        }
    }

    /// Records one 20 ms frame the agent played (or silence when it played
    /// nothing this tick).
    pub fn agent_played(&mut self, level_dbfs: f32) {
        let keep = (self.config.echo_window_ms / 20).max(1) as usize;
        while self.agent_levels.len() >= keep {
            self.agent_levels.pop_front();
        }
        self.agent_levels.push_back(level_dbfs);
    }

    /// Looks at one 8 kHz caller frame; returns whether it qualifies.
    pub fn caller_frame(&mut self, frame: &Frame) -> bool {
        let samples = frame.samples();
        let mut window = [0i16; 320];
        window[..160].copy_from_slice(&self.previous);
        let n = samples.len().min(160);
        window[160..160 + n].copy_from_slice(&samples[..n]);
        self.previous[..n].copy_from_slice(&samples[..n]);

        let level = frame.level_dbfs();
        let agent_peak = self
            .agent_levels
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let echo = level < agent_peak - self.config.echo_margin_db;
        let voiced = voicing(&window, 8_000) >= self.config.min_voicing;
        let qualifies = voiced && !echo;
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

    /// Forgets the recent caller frames (after a barge-in).
    pub fn reset_caller(&mut self) {
        self.recent.clear();
    }
}
