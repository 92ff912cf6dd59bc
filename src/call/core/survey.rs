//! The call's own recorded prompts around the conversation (issue 16,
//! decision 0026): the recording announcement the caller hears first, and
//! the post-call survey (CSAT) that asks for a 1–5 rating by DTMF once the
//! agent (`end_call`) or a rep ends the call while the caller is still on
//! the line.
//!
//! The survey takes over the hang-up: where the call would hang up after
//! the agent's last words, it plays the prompt instead, stops playing
//! anything the model says, and waits for one key. `1`–`5` is the answer
//! (`CallEnded.csat`); any other key, or `timeout` of silence after the
//! prompt, ends the survey without one. Then the call hangs up. A drain or
//! any other end of the call (time limit, silent caller, unreachable
//! model, the caller hanging up) runs no survey: only an end the caller
//! was told about by the agent or a rep leads to one.
//!
//! Sans-IO like the rest of the core: time comes with the ticks.

use std::sync::Arc;
use std::time::Duration;

use super::{CallCore, ModelState, HOLD_SOURCE};
use crate::media::pacer::SourceId;

/// Without the prompt being heard in this much beyond its own length and
/// the timeout (a leg that never drains), the survey gives up.
const SLACK: Duration = Duration::from_secs(5);

/// The post-call survey of a call (`[csat]`, an agent's `csat`).
#[derive(Clone, Debug)]
pub struct SurveyConfig {
    /// Whether the survey runs for this call.
    pub enabled: bool,
    /// 8 kHz audio asking for the rating (`[csat] prompt_wav`).
    pub prompt: Arc<Vec<i16>>,
    /// How long the caller has to press a key once the prompt has played
    /// (`[csat] timeout_secs`).
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// The conversation goes on.
    #[default]
    Idle,
    /// The prompt plays (since the first tick after it was queued).
    Asking { since: Option<Duration> },
    /// The prompt has played; a key is awaited until `until`.
    Waiting { until: Duration },
    /// Over (answered or not): the call hangs up.
    Done,
}

/// The survey's state in one call.
#[derive(Debug, Default)]
pub(super) struct Survey {
    /// The agent or a rep ended the call: the survey runs before the
    /// hang-up.
    due: bool,
    phase: Phase,
    answer: Option<u8>,
}

impl CallCore {
    /// The stream started: a recorded call plays its announcement before
    /// anything else (the greeting's audio queues behind it).
    pub(super) fn announce(&mut self) {
        if !self.config.record {
            return;
        }
        if let Some(prompt) = self.config.announcement.clone() {
            let _ = self.pacer.push(SourceId(HOLD_SOURCE), &prompt);
            self.pacer.finish(SourceId(HOLD_SOURCE));
        }
    }

    /// The agent called `end_call`: the survey is due before the hang-up.
    pub(super) fn survey_on_end_call(&mut self) {
        self.survey.due = true;
    }

    /// A rep (or anyone other than the caller, the agent's own tools and
    /// the server) ends the call: the caller hears the survey, if there is
    /// one, then the call hangs up. The seam for reps (issue 14).
    pub fn end_with_survey(&mut self) {
        self.survey.due = true;
        self.hangup_when_played = true;
        self.maybe_hang_up();
    }

    /// The call is about to hang up: true while the survey holds it.
    pub(super) fn survey_takes_over(&mut self) -> bool {
        match self.survey.phase {
            Phase::Idle => {
                let Some(config) = self.config.survey.clone().filter(|s| s.enabled) else {
                    return false;
                };
                if !self.survey.due {
                    return false;
                }
                tracing::info!("the call was ended for the caller: asking for a rating");
                // Nothing the model says is played any more.
                self.model_state = ModelState::Closed;
                self.active_response = None;
                let _ = self.pacer.push(SourceId(HOLD_SOURCE), &config.prompt);
                self.pacer.finish(SourceId(HOLD_SOURCE));
                self.survey.phase = Phase::Asking { since: None };
                true
            }
            Phase::Asking { .. } | Phase::Waiting { .. } => true,
            Phase::Done => false,
        }
    }

    /// A key while the survey runs: true when the survey took it.
    pub(super) fn survey_key(&mut self, digit: char) -> bool {
        if !matches!(
            self.survey.phase,
            Phase::Asking { .. } | Phase::Waiting { .. }
        ) {
            return false;
        }
        self.survey.answer = digit
            .to_digit(10)
            .filter(|d| (1..=5).contains(d))
            .map(|d| d as u8);
        match self.survey.answer {
            Some(rating) => tracing::info!(rating, "the caller rated the call"),
            None => tracing::info!(%digit, "the caller pressed a key that is no rating: no answer"),
        }
        self.survey_done();
        true
    }

    /// On every tick: the prompt's end starts the wait; the wait's end
    /// ends the survey unanswered.
    pub(super) fn survey_tick(&mut self, now: Duration) {
        let Some(config) = &self.config.survey else {
            return;
        };
        let timeout = config.timeout;
        let bound = Duration::from_millis(config.prompt.len() as u64 / 8) + timeout + SLACK;
        match self.survey.phase {
            Phase::Asking { since } => {
                let since = since.unwrap_or(now);
                self.survey.phase = Phase::Asking { since: Some(since) };
                if !self.agent_speaking() {
                    self.survey.phase = Phase::Waiting {
                        until: now + timeout,
                    };
                } else if now >= since + bound {
                    tracing::warn!("the survey prompt never finished playing: hanging up");
                    self.survey_done();
                }
            }
            Phase::Waiting { until } if now >= until => {
                tracing::info!("no rating within the survey's timeout");
                self.survey_done();
            }
            _ => {}
        }
    }

    /// The server ends the call (drain, time limit): no survey.
    pub(super) fn survey_cancel(&mut self) {
        self.survey.due = false;
        if self.survey.phase != Phase::Idle {
            self.survey.phase = Phase::Done;
        }
    }

    fn survey_done(&mut self) {
        self.survey.phase = Phase::Done;
        self.pacer.flush();
        self.maybe_hang_up();
    }

    /// The caller's rating, 1 to 5, when the survey got one.
    pub fn survey_answer(&self) -> Option<u8> {
        self.survey.answer
    }
}

#[cfg(test)]
mod tests;
