//! A silent caller: re-prompt, then goodbye (decision 0017).
//!
//! Two clocks, both on the call clock the ticks bring:
//!
//! - **Dead air**: nobody is doing anything (the caller is quiet, the agent
//!   is not speaking or answering, no tool runs). After
//!   `silence_reprompt_secs` of it the model is asked, with instructions
//!   for that response only, whether the caller is still there. Each
//!   re-prompt restarts this clock, so a caller who stays silent is asked
//!   again every `silence_reprompt_secs` plus the prompt.
//! - **The caller's silence**: restarted when the caller speaks (real
//!   speech, as barge-in judges it: not echo, not noise) or presses a key;
//!   held while the agent is busy before the first re-prompt; the
//!   re-prompts themselves do not hold it. After `silence_hangup_secs` of it
//!   the model is asked to say goodbye, and the call ends when that answer
//!   has played (as `end_call`), or [`GOODBYE_HANGUP`] after asking at the
//!   latest. A caller who speaks before the goodbye is over calls it off.
//!   A second or later re-prompt is skipped when the goodbye is due within
//!   `silence_reprompt_secs`, so that the two do not crowd each other.

use std::time::Duration;

use super::{CallCore, CallOutput};
use crate::model::ModelCommand;

/// Instructions for the re-prompt response.
pub const REPROMPT_INSTRUCTIONS: &str =
    "The caller has been silent for a while. Ask briefly whether they are still there.";
/// Instructions for the goodbye response.
pub const GOODBYE_INSTRUCTIONS: &str = "The caller has been silent for a long time. Say a brief, \
     polite goodbye; the call ends when you finish.";
/// From asking for the goodbye, the call ends once the answer has played
/// or after this at the latest, played or not.
pub const GOODBYE_HANGUP: Duration = Duration::from_secs(15);
/// Without an answer to the goodbye request (a model that says nothing),
/// the call ends when whatever plays is over, this long after asking.
const GOODBYE_WAIT: Duration = Duration::from_secs(8);

/// The silence clocks of one call.
#[derive(Debug, Default)]
pub(super) struct Silence {
    /// Since when nothing has happened on the call.
    idle_since: Option<Duration>,
    /// Since when the caller has neither spoken nor pressed a key.
    caller_quiet_since: Option<Duration>,
    /// A re-prompt went out since the caller last spoke.
    reprompted: bool,
    /// The goodbye was asked for at this time, with this many responses
    /// started before it.
    goodbye: Option<(Duration, u32)>,
}

impl CallCore {
    /// Whether the caller is speaking now: real speech as barge-in judges
    /// it (not echo, not noise).
    pub(super) fn caller_speaking(&self) -> bool {
        self.turn_real
            || self.judge.pause().is_some()
            || (self.vad.is_speaking() && self.barge.confirmed())
    }

    /// The caller pressed a key or spoke: both clocks restart.
    pub(super) fn silence_caller_active(&mut self, now: Duration) {
        self.silence.idle_since = Some(now);
        self.silence.caller_quiet_since = Some(now);
        self.silence.reprompted = false;
        if self.silence.goodbye.take().is_some() {
            tracing::info!("the caller spoke before the goodbye ended: the call goes on");
        }
    }

    /// Runs the silence clocks; called on every tick.
    pub(super) fn silence_tick(&mut self, now: Duration) {
        let reprompt = Duration::from_secs(self.config.silence_reprompt_secs);
        let hangup = Duration::from_secs(self.config.silence_hangup_secs);
        if self.stream_started_at.is_none()
            || self.hung_up
            || self.model_state != super::ModelState::Ready
            || self.sidelined()
        {
            self.silence.idle_since = Some(now);
            return;
        }
        if let Some((asked, responses)) = self.silence.goodbye {
            let answered = self.stats.responses > responses && self.active_response.is_none();
            if !self.hangup_when_played && (answered || now >= asked + GOODBYE_WAIT) {
                self.hangup_when_played = true;
                self.maybe_hang_up();
            }
            if !self.hung_up && now >= asked + GOODBYE_HANGUP {
                tracing::info!("goodbye still playing at its bound: hanging up");
                self.hung_up = true;
                self.outputs.push_back(CallOutput::Hangup);
            }
        }
        if self.hangup_when_played {
            return;
        }
        if self.caller_speaking() {
            self.silence_caller_active(now);
            return;
        }
        let busy =
            self.agent_speaking() || self.active_response.is_some() || self.filler.tool_pending();
        let idle_since = *self.silence.idle_since.get_or_insert(now);
        let caller_quiet_since = *self.silence.caller_quiet_since.get_or_insert(now);
        if busy {
            self.silence.idle_since = Some(now);
            if !self.silence.reprompted {
                self.silence.caller_quiet_since = Some(now);
            }
            return;
        }
        if self.silence.goodbye.is_some() {
            return;
        }
        if hangup > Duration::ZERO && now >= caller_quiet_since + hangup {
            tracing::info!(
                silent_secs = self.config.silence_hangup_secs,
                "caller silent: saying goodbye, then ending the call"
            );
            self.silence.goodbye = Some((now, self.stats.responses));
            self.silence.idle_since = Some(now);
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: Some(GOODBYE_INSTRUCTIONS.into()),
                }));
        } else if reprompt > Duration::ZERO
            && now >= idle_since + reprompt
            // Not a second re-prompt just before the goodbye.
            && !(self.silence.reprompted
                && hangup > Duration::ZERO
                && now + reprompt > caller_quiet_since + hangup)
        {
            tracing::info!(
                silent_secs = self.config.silence_reprompt_secs,
                "caller silent: asking whether they are still there"
            );
            self.silence.reprompted = true;
            self.silence.idle_since = Some(now);
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: Some(REPROMPT_INSTRUCTIONS.into()),
                }));
        }
    }
}

#[cfg(test)]
mod tests;
