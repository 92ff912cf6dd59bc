//! A running call's side of the registry (decision 0022): its
//! [`Registration`] and command queue, and what the driver publishes as
//! live events. Everything here is synchronous and never waits: the
//! broadcast drops for slow subscribers, never for the call.

use tokio::sync::mpsc;

use super::call_log::CallLog;
use super::registry::{
    command_queue, CallCommand, CallState, CallSummary, LiveEventKind, Registration, SharedRegistry,
};
use super::tools::CallIdentity;
use super::BargeInRecord;
use crate::model::ModelEvent;

/// One call's place in the registry, held by its driver.
#[derive(Debug)]
pub struct LiveCall {
    registration: Registration,
    /// Whether the agent has spoken (the call is `live`).
    live: bool,
}

impl LiveCall {
    /// Registers the call; `None` (logged) when it cannot be listed, in
    /// which case the call goes on unlisted.
    pub fn register(
        registry: &SharedRegistry,
        identity: &CallIdentity,
    ) -> Option<(LiveCall, mpsc::Receiver<CallCommand>)> {
        let registered = CallSummary::connecting(identity).and_then(|summary| {
            let (handle, commands) = command_queue(summary.id);
            registry
                .register(summary, handle)
                .map(|registration| (registration, commands))
        });
        match registered {
            Ok((registration, commands)) => Some((
                LiveCall {
                    registration,
                    live: false,
                },
                commands,
            )),
            Err(e) => {
                tracing::warn!(error = %e, "the call is not listed in the live-call registry");
                None
            }
        }
    }

    /// A model event, after the log took it (`log` has its line).
    pub fn on_model_event(&mut self, log: Option<&CallLog>, event: &ModelEvent) {
        match event {
            ModelEvent::AudioDelta { .. } if !self.live => {
                self.live = true;
                self.registration.set_state(CallState::Live);
            }
            ModelEvent::AgentTranscriptDone { item_id, .. }
            | ModelEvent::CallerTranscript { item_id, .. } => {
                if let Some(line) = log.and_then(|l| l.line(item_id)) {
                    self.registration.publish(LiveEventKind::Transcript(line));
                }
            }
            ModelEvent::FunctionCall { call_id, name, .. } => {
                self.registration.publish(LiveEventKind::ToolCall {
                    id: call_id.clone(),
                    name: name.clone(),
                });
            }
            _ => {}
        }
    }

    /// A barge-in, after the log cut the interrupted line: the event, then
    /// the line again as heard.
    pub fn on_barge_in(&mut self, log: Option<&CallLog>, record: &BargeInRecord) {
        let (item_id, heard_ms) = match &record.truncated_item {
            Some((item, heard)) => (Some(item.clone()), Some(*heard)),
            None => (None, None),
        };
        self.registration.publish(LiveEventKind::BargeIn {
            item_id: item_id.clone(),
            heard_ms,
            trigger: record.trigger,
        });
        if let Some(line) = item_id.and_then(|id| log.and_then(|l| l.line(&id))) {
            if line.interrupted {
                self.registration.publish(LiveEventKind::Transcript(line));
            }
        }
    }

    /// A tool's answer reached the call.
    pub fn on_tool_result(&mut self, call_id: &str) {
        self.registration.publish(LiveEventKind::ToolResult {
            id: call_id.to_owned(),
        });
    }

    /// A text item was added through the handle.
    pub fn on_text_added(&mut self, text: &str) {
        self.registration.publish(LiveEventKind::TextAdded {
            text: text.to_owned(),
        });
    }

    /// The room changed: its legs (the caller's transport is the
    /// ingress's) and, for a brief or a bridge, the state; `None` goes
    /// back to `live` (or `connecting` before the agent spoke).
    pub fn room_changed(
        &mut self,
        mut legs: Vec<super::registry::LegSummary>,
        ingress: &'static str,
        state: Option<CallState>,
    ) {
        for leg in &mut legs {
            if leg.role == super::registry::LegRole::Caller {
                leg.transport = ingress;
            }
        }
        self.registration.set_legs(legs);
        let state = state.unwrap_or(if self.live {
            CallState::Live
        } else {
            CallState::Connecting
        });
        self.registration.set_state(state);
    }

    /// The long-silence flag went up or down; `began` is when the
    /// silence began, RFC 3339 UTC.
    pub fn on_long_silence(&mut self, change: super::SilenceChange, began: String) {
        match change {
            super::SilenceChange::Began { .. } => {
                self.registration.set_silent(Some(began.clone()), &began, 0)
            }
            super::SilenceChange::Ended { lasted, .. } => {
                self.registration
                    .set_silent(None, &began, lasted.as_millis() as u64)
            }
        }
    }

    /// The call is hanging up.
    pub fn ending(&mut self) {
        self.registration.set_state(CallState::Ending);
    }
}

/// The next command, or never when the call is not listed.
pub async fn next_command(
    commands: Option<&mut mpsc::Receiver<CallCommand>>,
) -> Option<CallCommand> {
    match commands {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
