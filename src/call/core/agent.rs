//! What a call does for its agent beyond the conversation (decision
//! 0020): the start-up lookup whose result reaches the model before the
//! greeting is asked for, and the time limit at which the agent says
//! goodbye and the call ends.
//!
//! Both are hooks of [`CallCore`], driven by its inputs and the call clock
//! like everything else in it.

use std::time::Duration;

use super::{CallCore, CallOutput, ModelState};
use crate::model::{ConversationItem, ModelCommand};

/// The tool call id of the start-up lookup (never one the model makes:
/// OpenAI's ids start with `call_`).
pub const LOOKUP_CALL_ID: &str = "warmline-lookup";
/// The instruction for the goodbye at the time limit.
pub const TIME_LIMIT_GOODBYE: &str = "The call has reached its time limit. In one short \
     sentence, tell the caller you have to end the call now, and say goodbye.";
/// The goodbye gets this long to be said; then the call ends regardless.
pub const TIME_LIMIT_GRACE: Duration = Duration::from_secs(15);

/// The agent's state in one call.
#[derive(Debug, Default)]
pub(super) struct AgentState {
    /// The lookup runs; the greeting waits for its result.
    lookup_pending: bool,
    /// The stream started while the lookup ran: the greeting is owed.
    greeting_owed: bool,
    /// The time limit was reached at this call time.
    limit_reached_at: Option<Duration>,
    /// The response active when the limit was reached (not the goodbye).
    limit_active: Option<String>,
}

impl CallCore {
    /// At creation: start the lookup, if the agent has one.
    pub(super) fn agent_start(&mut self) {
        if let Some(tool) = self.config.lookup.clone() {
            self.agent.lookup_pending = true;
            self.outputs.push_back(CallOutput::RunTool {
                call_id: LOOKUP_CALL_ID.to_owned(),
                name: tool,
                arguments: "{}".to_owned(),
            });
        }
    }

    /// The stream started: whether the greeting must wait for the lookup.
    pub(super) fn agent_holds_greeting(&mut self) -> bool {
        if self.agent.lookup_pending {
            self.agent.greeting_owed = true;
        }
        self.agent.lookup_pending
    }

    /// A tool result: true when it was the lookup's (then it goes to the
    /// model as context, followed by the greeting if it is owed).
    pub(super) fn agent_tool_result(&mut self, call_id: &str, output: &str) -> bool {
        if call_id != LOOKUP_CALL_ID || !self.agent.lookup_pending {
            return false;
        }
        self.agent.lookup_pending = false;
        let item = ConversationItem::Context(format!(
            "Caller lookup result (JSON, from the start-up lookup; use it, do not read it out): {output}"
        ));
        self.transcript.push(item.clone());
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::Replay(vec![item])));
        if std::mem::take(&mut self.agent.greeting_owed) {
            if let Some(greeting) = self.config.greeting.clone() {
                self.outputs
                    .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                        instructions: Some(greeting),
                    }));
            }
        }
        true
    }

    /// On every tick: the time limit.
    pub(super) fn agent_tick(&mut self, now: Duration) {
        let (Some(limit), Some(started)) = (self.config.max_duration, self.stream_started_at)
        else {
            return;
        };
        if self.hung_up || self.hangup_when_played {
            return;
        }
        match self.agent.limit_reached_at {
            None if now >= started + limit => {
                self.agent.limit_reached_at = Some(now);
                tracing::info!(
                    limit_secs = limit.as_secs(),
                    "the call reached its time limit: goodbye, then hang up"
                );
                if self.model_state == ModelState::Ready {
                    self.agent.limit_active = self.active_response.clone();
                    self.outputs
                        .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                            instructions: Some(TIME_LIMIT_GOODBYE.to_owned()),
                        }));
                } else {
                    self.end_with_prompt(None);
                }
            }
            Some(at) if now >= at + TIME_LIMIT_GRACE => {
                tracing::warn!("no goodbye within the grace time: hanging up");
                self.end_with_prompt(None);
            }
            _ => {}
        }
    }

    /// A response ended: after the limit, the goodbye's end hangs up once
    /// it has been heard.
    pub(super) fn agent_response_done(&mut self, response_id: &str) {
        if self.agent.limit_reached_at.is_some()
            && self.agent.limit_active.as_deref() != Some(response_id)
        {
            self.hangup_when_played = true;
        }
    }
}

#[cfg(test)]
mod tests;
