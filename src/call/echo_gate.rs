//! The call's echo seam: what the agent played, what came back, and a
//! verdict per caller frame (is it the agent's echo, or the caller?).
//!
//! This is the interim detector until `media::echo::EchoControl` (an echo
//! canceller/suppressor with the same method names) is wired in; the call
//! core talks only to [`EchoGate`], so swapping it is local to this file.
//!
//! It is a delay-aligned Geigel test. The agent's playout and the caller's
//! audio are both cut into 10 ms sub-frames and turned into levels. An echo
//! is never louder than the caller-side audio it is part of, so for each
//! candidate delay k (0 to 640 ms) the echo return loss is at least
//! `agent(t − k) − caller(t)` at every instant: the gate keeps that bound,
//! `loss[k]`, as a high quantile of those observations (it rises 4 dB per
//! sub-frame towards a larger one and relaxes 0.1 dB towards a smaller
//! one, about the 97th percentile: fast to learn, an agent frame that
//! never reached the line, such as one a Twilio `clear` dropped, cannot
//! blow it up, and a path whose delay moves, as a leg's playout queue
//! does between answers, is learnt at its new delay within a second). Double-talk only makes the caller side louder, so
//! it can loosen the bound but never make it wrong: no freezing is needed.
//! The echo expected in a caller sub-frame is then the loudest
//! `agent(t − k ± 10 ms) − loss[k]` over all k. At the true delay the bound
//! is tight (the real loss); at wrong delays it grows large as soon as the
//! agent was loud there while the line was quiet, so they drop out. Every
//! bound starts at G.168's 6 dB (the classic Geigel assumption), so before
//! anything is learnt the gate is conservative. A caller sub-frame is the
//! caller's own sound when it stands `margin_db` above the expected echo.
//!
//! The caller's samples are not changed here (the VAD's noise floor must
//! keep seeing the line's real noise); the core decides what the model gets.
//! Sans-IO, no allocation after construction.

/// Sub-frame length in samples (10 ms at 8 kHz).
const SUB: usize = 80;
/// Candidate delays, in sub-frames (0 to 640 ms).
const DELAYS: usize = 65;
/// Timing slack between what was released and when it played, in
/// sub-frames either side (a leg's clock and the caller's frames drift by a
/// frame or so against the playout clock).
const SLACK: usize = 2;
/// Far-end history kept, in sub-frames.
const HISTORY: usize = DELAYS + 2 * SLACK + 2;
/// Agent sub-frames quieter than this cannot be the source of audible echo.
const FAR_ACTIVE_DBFS: f32 = -50.0;
/// Caller sub-frames quieter than this are never the caller's speech.
const NEAR_FLOOR_DBFS: f32 = -55.0;
/// Echo loss assumed before anything is learnt (ITU-T G.168's 6 dB).
const ASSUMED_LOSS_DB: f32 = 6.0;
/// Largest loss bound kept: beyond this the echo is inaudible anyway.
const MAX_LOSS_DB: f32 = 70.0;
/// Caller levels are floored here when bounding the loss (digital silence
/// would otherwise claim an infinite loss).
const NEAR_BOUND_FLOOR_DBFS: f32 = -75.0;
/// How fast a loss bound rises towards a larger observation, and relaxes
/// towards a smaller one, dB per agent-active sub-frame.
const LOSS_UP_DB: f32 = 4.0;
const LOSS_DOWN_DB: f32 = 0.1;

/// Settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EchoConfig {
    /// How far above the predicted echo a caller sub-frame must stand.
    pub margin_db: f32,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig { margin_db: 6.0 }
    }
}

/// The verdict on one caller frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EchoVerdict {
    /// The agent was audible within the echo path's reach.
    pub far_end_active: bool,
    /// Only the agent's echo (and line noise) is in this frame.
    pub echo_only: bool,
    /// The caller is making sound of their own (alone or over the echo).
    pub near_speech: bool,
    /// Level of the caller frame as received, dBFS.
    pub level_in_dbfs: f32,
    /// Level after echo control (unchanged by this detector), dBFS.
    pub level_out_dbfs: f32,
    /// How far the loudest sub-frame stands above the echo predicted for
    /// it, dB (`near_speech` is this above the margin).
    pub excess_db: f32,
}

/// The per-call echo detector. See the module docs.
#[derive(Clone, Debug)]
pub struct EchoGate {
    config: EchoConfig,
    /// Agent sub-frame levels, a ring; `far_pos` is the next write.
    far: [f32; HISTORY],
    far_pos: usize,
    /// Lower bound of the echo loss per candidate delay, dB.
    loss: [f32; DELAYS],
}

fn sub_db(samples: &[i16]) -> f32 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let ms = sum / samples.len().max(1) as f64;
    if ms <= 0.0 {
        -120.0
    } else {
        (10.0 * (ms / (32768.0 * 32768.0)).log10()) as f32
    }
}

impl EchoGate {
    /// A detector that has heard nothing.
    pub fn new(config: EchoConfig) -> EchoGate {
        EchoGate {
            config,
            far: [-120.0; HISTORY],
            far_pos: 0,
            loss: [ASSUMED_LOSS_DB; DELAYS],
        }
    }

    /// Records what the agent released on one playout tick (160 samples;
    /// silence when it released nothing).
    pub fn far_end(&mut self, played: &[i16]) {
        for sub in played.chunks(SUB) {
            self.far[self.far_pos] = sub_db(sub);
            self.far_pos = (self.far_pos + 1) % HISTORY;
        }
    }

    /// The agent level `back` sub-frames before the newest one.
    fn far_at(&self, back: usize) -> f32 {
        let idx = (self.far_pos + HISTORY * 2 - 1 - back.min(HISTORY - 1)) % HISTORY;
        self.far[idx]
    }

    /// The delay (sub-frames) with the tightest loss bound, and the bound.
    fn estimate(&self) -> Option<(usize, f32)> {
        let (k, &loss) = self
            .loss
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        // Untouched bounds say nothing yet.
        (loss > ASSUMED_LOSS_DB && loss < MAX_LOSS_DB).then_some((k, loss))
    }

    /// Judges one 8 kHz caller frame (160 samples). The samples are left
    /// as they are (see the module docs).
    pub fn near_end(&mut self, caller: &mut [i16]) -> EchoVerdict {
        let level_in = sub_db(caller);
        let subs = caller.len() / SUB;
        let mut near_subs = 0;
        let mut excess = f32::NEG_INFINITY;
        let mut echo_audible = false;
        for j in 0..subs {
            let near_db = sub_db(&caller[j * SUB..(j + 1) * SUB]);
            // Sub-frame j of this frame lines up with far sub-frame
            // (subs - 1 - j) back at zero delay.
            let base = subs - 1 - j;
            let mut predicted = -120.0f32;
            for k in 0..DELAYS {
                let lo = (base + k).saturating_sub(SLACK);
                let around = (lo..=base + k + SLACK)
                    .map(|b| self.far_at(b))
                    .fold(-120.0, f32::max);
                predicted = predicted.max(around - self.loss[k]);
                // The quietest within the slack: a path a little off the
                // grid must not look like more loss than it has.
                let floor = (lo..=base + k + SLACK)
                    .map(|b| self.far_at(b))
                    .fold(120.0, f32::min);
                if floor > FAR_ACTIVE_DBFS {
                    let bound = (floor - near_db.max(NEAR_BOUND_FLOOR_DBFS)).min(MAX_LOSS_DB);
                    let l = self.loss[k];
                    self.loss[k] = if bound > l {
                        l + (bound - l).min(LOSS_UP_DB)
                    } else {
                        (l - LOSS_DOWN_DB).max(bound)
                    }
                    .max(ASSUMED_LOSS_DB);
                }
            }
            if predicted > NEAR_FLOOR_DBFS {
                echo_audible = true;
            }
            if near_db > NEAR_FLOOR_DBFS {
                excess = excess.max(near_db - predicted);
                if near_db > predicted + self.config.margin_db {
                    near_subs += 1;
                }
            }
        }
        let near_speech = near_subs > 0;
        EchoVerdict {
            far_end_active: echo_audible,
            echo_only: echo_audible && !near_speech,
            near_speech,
            level_in_dbfs: level_in,
            level_out_dbfs: level_in,
            excess_db: excess,
        }
    }

    /// The echo delay found, in ms.
    pub fn delay_ms(&self) -> Option<u32> {
        self.estimate().map(|(k, _)| (k * SUB / 8) as u32)
    }

    /// Forgets the echo path.
    pub fn reset(&mut self) {
        *self = EchoGate::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechlike(i: usize) -> i16 {
        // A 150 Hz buzz whose loudness rises and falls like syllables.
        let t = i as f32 / 8000.0;
        let env = (0.5 + 0.5 * (2.0 * std::f32::consts::PI * 3.0 * t).sin()).powi(2);
        (8000.0 * env * (2.0 * std::f32::consts::PI * 150.0 * t).sin()) as i16
    }

    #[test]
    fn finds_the_echo_delay_and_calls_the_echo_echo() {
        for delay_ms in [20usize, 150, 500] {
            let mut gate = EchoGate::new(EchoConfig::default());
            let delay = delay_ms * 8;
            let played: Vec<i16> = (0..8000 * 4).map(speechlike).collect();
            let mut echo_frames = 0;
            let mut caller_frames = 0;
            for f in 0..200 {
                gate.far_end(&played[f * 160..(f + 1) * 160]);
                let mut near: Vec<i16> = (f * 160..(f + 1) * 160)
                    .map(|i| if i >= delay { played[i - delay] / 3 } else { 0 })
                    .collect();
                let v = gate.near_end(&mut near);
                if f > 50 {
                    if v.near_speech {
                        caller_frames += 1;
                    } else {
                        echo_frames += 1;
                    }
                }
            }
            assert_eq!(caller_frames, 0, "delay {delay_ms}");
            assert!(echo_frames > 100);
            let found = gate.delay_ms().expect("delay found");
            assert!(
                found.abs_diff(delay_ms as u32) <= 10,
                "{found} vs {delay_ms}"
            );
        }
    }
}
