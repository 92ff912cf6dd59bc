//! No dead air while a tool runs: the call core's filler (decision 0017).
//!
//! When a tool has not answered `filler_after_ms` after the model called
//! it, the caller hears a filler: the configured prompt once (if any), then
//! a soft "working" pattern, one second at a time, until the answer's first
//! audio arrives. The pattern is generated here, so its longest silence
//! (720 ms) is known and the 1.5 s bound holds whatever the tool does.
//!
//! The filler goes through the pacer like the agent's audio, so barge-in,
//! echo gating and pausing treat it the same; it has pacer sources of its
//! own (never a model item), so no mark counts it and no truncation
//! reports it as agent speech heard. One second is queued at a time, only
//! while nothing else is, so agent audio that arrives drops it at a frame
//! boundary instead of waiting behind it.

use std::sync::Arc;
use std::time::Duration;

use super::CallCore;
use crate::media::pacer::SourceId;

/// Pacer sources at and above this carry filler audio (model items count
/// up from 1, the hold tone is 0).
pub(super) const FILLER_SOURCE_BASE: u64 = 1 << 62;
/// Tool calls tracked at once: the sidecar runs 4 per call and answers
/// the rest `busy` at once, so 16 is never reached in practice; beyond it
/// a call is not tracked (it gets no filler of its own).
const MAX_PENDING: usize = 16;
/// After the last tool answered, the filler goes on until the model's
/// answer starts playing, but no longer than this.
pub(super) const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// One beat of the working pattern, in 8 kHz samples (1 s).
const BEAT_SAMPLES: usize = 8_000;

/// Whether a pacer source is filler audio.
pub(super) fn is_filler(source: u64) -> bool {
    source >= FILLER_SOURCE_BASE
}

/// When the caller hears a filler while a tool runs, and what.
#[derive(Clone, Debug)]
pub struct FillerConfig {
    /// How long a tool may run before the filler starts, for tools with no
    /// entry in `after_per_tool` (built-ins included): 700 ms.
    pub after: Duration,
    /// `[[tools]] filler_after_ms`, by tool name.
    pub after_per_tool: Vec<(String, Duration)>,
    /// 8 kHz audio played once at the start of each filler, before the
    /// working pattern (`[call] filler_wav`).
    pub prompt: Option<Arc<Vec<i16>>>,
}

impl Default for FillerConfig {
    fn default() -> Self {
        FillerConfig {
            after: Duration::from_millis(700),
            after_per_tool: Vec::new(),
            prompt: None,
        }
    }
}

impl FillerConfig {
    fn after(&self, tool: &str) -> Duration {
        // An MCP server's tool, `<entry>__<tool>`, takes its entry's value
        // (entry names never hold `__`, decision 0015).
        let entry = tool.split_once("__").map_or(tool, |(entry, _)| entry);
        self.after_per_tool
            .iter()
            .find(|(name, _)| name == tool)
            .or_else(|| self.after_per_tool.iter().find(|(name, _)| name == entry))
            .map_or(self.after, |(_, after)| *after)
    }
}

/// The filler's state in one call.
#[derive(Debug, Default)]
pub(super) struct Filler {
    /// Tool calls running: (call id, when the filler is due for it).
    pending: Vec<(String, Duration)>,
    /// The last tool answered; the filler holds until the model's answer
    /// plays, or until this time.
    answer_by: Option<Duration>,
    /// The prompt was played in this filler episode.
    prompt_played: bool,
    /// Filler audio is queued in the pacer (or being played).
    queued: bool,
    /// Next filler source id, counted from [`FILLER_SOURCE_BASE`].
    next_source: u64,
    /// When the current episode first put audio out, for tests and logs.
    pub(super) started_at: Option<Duration>,
    /// The latest tick's time: the call clock for inputs that come
    /// without one (a tool's result, a key press).
    pub(super) now: Duration,
}

impl Filler {
    /// Whether a tool call is running.
    pub(super) fn tool_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// One second of the working pattern: two soft rising pips (120 ms each,
/// 40 ms apart, about -26 dBFS, 10 ms ramps), then 720 ms of silence.
fn beat() -> &'static [i16] {
    static BEAT: std::sync::OnceLock<Vec<i16>> = std::sync::OnceLock::new();
    BEAT.get_or_init(|| {
        let mut out = vec![0i16; BEAT_SAMPLES];
        let pip = 960; // 120 ms
        let ramp = 80.0; // 10 ms
        for (start, hz) in [(0usize, 523.25f64), (pip + 320, 659.25)] {
            for i in 0..pip {
                let t = i as f64 / 8_000.0;
                let edge = (i.min(pip - 1 - i) as f64 / ramp).min(1.0);
                let gain = 0.5 - 0.5 * (std::f64::consts::PI * edge).cos();
                out[start + i] =
                    (1_600.0 * gain * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16;
            }
        }
        out
    })
}

impl CallCore {
    /// The model called a tool that runs elsewhere (the sidecar).
    pub(super) fn filler_tool_started(&mut self, now: Duration, call_id: &str, name: &str) {
        if self.filler.pending.len() == MAX_PENDING {
            return;
        }
        let due = now + self.config.filler.after(name);
        self.filler.pending.push((call_id.to_owned(), due));
        self.filler.answer_by = None;
    }

    /// A tool answered (its output is on its way to the model).
    pub(super) fn filler_tool_finished(&mut self, call_id: &str) {
        let now = self.filler.now;
        let before = self.filler.pending.len();
        self.filler.pending.retain(|(id, _)| id != call_id);
        if before > 0 && self.filler.pending.is_empty() {
            self.filler.answer_by = Some(now + ANSWER_WAIT);
        }
    }

    /// The model's audio is about to be queued: the filler gives way at
    /// once (what is queued of it is dropped; what was released played).
    pub(super) fn filler_yield(&mut self) {
        if self.filler.queued {
            self.pacer.flush();
            self.filler.queued = false;
        }
        if self.filler.pending.is_empty() {
            self.end_filler_episode();
        }
    }

    fn end_filler_episode(&mut self) {
        self.filler.answer_by = None;
        self.filler.prompt_played = false;
        self.filler.started_at = None;
    }

    /// Called on every tick after the pacer ran: queues the next second of
    /// filler when one is due and nothing else is playing.
    pub(super) fn filler_tick(&mut self, now: Duration) {
        self.filler.now = now;
        if self.filler.queued && self.pacer.is_empty() {
            self.filler.queued = false;
        }
        if let Some(by) = self.filler.answer_by {
            if now >= by {
                self.end_filler_episode();
            }
        }
        let waiting = self.filler.answer_by.is_some()
            || self.filler.pending.iter().any(|(_, due)| now >= *due);
        if !waiting
            || self.filler.queued
            || !self.pacer.is_empty()
            || self.hangup_when_played
            || self.hung_up
            || !matches!(
                self.model_state,
                super::ModelState::Ready | super::ModelState::Reconnecting
            )
            // The caller has the floor (or is being listened to): the
            // filler must not hold back the answer to their turn.
            || self.turn_real
            || self.judge.pause().is_some()
            || self.vad.is_speaking()
        {
            return;
        }
        // Not before the first due time (an answer-wait alone starts
        // nothing: no tool ran long enough to need a filler).
        if self.filler.started_at.is_none()
            && !self.filler.pending.iter().any(|(_, due)| now >= *due)
        {
            return;
        }
        let source = SourceId(FILLER_SOURCE_BASE + self.filler.next_source);
        self.filler.next_source += 1;
        let prompt = (!self.filler.prompt_played)
            .then(|| self.config.filler.prompt.clone())
            .flatten();
        self.filler.prompt_played = true;
        let audio: &[i16] = match &prompt {
            Some(prompt) => prompt,
            None => beat(),
        };
        if self.pacer.push(source, audio).is_ok() {
            self.pacer.finish(source);
            self.filler.queued = true;
            if self.filler.started_at.is_none() {
                self.filler.started_at = Some(now);
                tracing::debug!("tool still running: filler started");
            }
        }
    }
}

#[cfg(test)]
mod tests;
