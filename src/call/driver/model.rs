//! The driver's side of the model session: its events (and the tools
//! its function calls run), the commands sent to it through the outbox,
//! and reopening it (a fresh session in
//! place of one that dropped, with backoff while it cannot be reached).

use std::time::Duration;

use tokio::time::Instant;

use super::CallDriver;
use crate::call::events::EndReason;
use crate::call::outbox::Pushed;
use crate::call::tools::ToolCall;
use crate::model::link::{ModelLink, RealtimeModel};
use crate::model::ModelCommand;

/// Reconnect attempts before giving up on the model.
const MAX_RECONNECTS: u32 = 5;

impl CallDriver {
    pub(super) fn on_model(&mut self, link: Option<ModelLink>) {
        let now = self.now();
        match link {
            Some(ModelLink::Event(event)) => {
                if event == crate::model::ModelEvent::Ready {
                    self.reconnect_attempts = 0;
                }
                if let crate::model::ModelEvent::FunctionCall { .. } = event {
                    self.function_call_at = Some(std::time::Instant::now());
                }
                self.transfer_on_model_event(&event);
                if let Some(log) = &mut self.log {
                    log.on_model_event(now, &event);
                }
                if let Some(live) = &mut self.live {
                    live.on_model_event(self.log.as_ref(), &event);
                }
                self.core.on_model_event(now, event);
            }
            Some(ModelLink::Lost(reason)) => {
                tracing::warn!(%reason, "model session lost mid-call");
                self.model_alive = false;
                self.core.on_model_lost();
            }
            Some(ModelLink::Unreachable(reason)) => {
                self.model_alive = false;
                if self.reconnect_attempts > 0 {
                    tracing::warn!(%reason, "model still unreachable");
                    self.schedule_reconnect();
                } else {
                    tracing::error!(%reason, "model unreachable: telling the caller and ending the call");
                    self.hangup_cause = Some(EndReason::ModelUnreachable);
                    self.core.on_model_unreachable();
                }
            }
            None => {
                self.model_alive = false;
                self.core.on_model_lost();
            }
        }
    }

    /// Never blocks the audio path: under back-pressure caller audio is
    /// dropped (counted, logged at most every 10 s) and control waits in
    /// the outbox, in order (see [`ModelOutbox`]).
    pub(super) fn send_model(&mut self, command: ModelCommand) {
        match self.outbox.push(&self.model.commands, command) {
            Pushed::Sent | Pushed::Queued => {}
            Pushed::AudioDropped => {
                self.metrics.model_audio_dropped(1);
                if let Some(dropped) = self.outbox.drop_report(self.now()) {
                    tracing::warn!(
                        frames = dropped.frames,
                        ms = dropped.ms(),
                        control_waiting = self.outbox.queued(),
                        "model socket is behind: caller audio dropped"
                    );
                }
            }
            Pushed::Closed => self.model_closed_with_control(),
            Pushed::Overflow(command) => {
                tracing::error!(
                    queued = self.outbox.queued(),
                    ?command,
                    "the model session has read no command for too long; reopening it \
                     and replaying the conversation (a bug if the socket is healthy)"
                );
                self.outbox.session_replaced();
                self.model_alive = false;
                self.core.on_model_lost();
            }
        }
    }

    /// Opens a new model session in place of the current one. Control
    /// queued for the old one is moot: the new one is replayed the
    /// conversation when it is ready.
    pub(super) fn open_model(&mut self) {
        self.transfer_session_gone();
        let moot = self.outbox.session_replaced();
        if moot > 0 {
            tracing::info!(
                commands = moot,
                "model session replaced with control still queued for it"
            );
        }
        self.model = self.setup.backend.open(self.setup.session.clone());
    }

    /// The session's queue closed: its task ended and reports why on the
    /// event channel (lost or unreachable), which reopens it.
    pub(super) fn model_closed_with_control(&mut self) {
        let moot = self.outbox.session_replaced();
        if moot > 0 {
            tracing::debug!(
                commands = moot,
                "model session closed with control queued; its successor gets the replay"
            );
        }
    }

    pub(super) fn schedule_reconnect(&mut self) {
        self.reconnect_attempts += 1;
        if self.reconnect_attempts > MAX_RECONNECTS {
            tracing::error!("model unreachable after {MAX_RECONNECTS} attempts: ending the call");
            self.hangup_cause = Some(EndReason::ModelUnreachable);
            self.core.on_model_unreachable();
            return;
        }
        let backoff = Duration::from_millis(100 << self.reconnect_attempts.min(6));
        self.reconnect_at = Some(Instant::now() + backoff);
    }

    /// Runs a function call the model made: through the call's tools
    /// beside the audio path, or answered at once when none are configured.
    pub(super) fn run_tool(&mut self, call_id: String, name: String, arguments: String) {
        let arrived = self
            .function_call_at
            .take()
            .unwrap_or_else(std::time::Instant::now);
        match &mut self.tools {
            Some(tools) => tools.run_arrived(
                ToolCall {
                    call_id,
                    name,
                    arguments,
                },
                arrived,
            ),
            None => {
                // Answered at once, in the core: nothing to run, nothing
                // to lose.
                let output = serde_json::json!({"error": {
                    "kind": "unknown_tool",
                    "message": format!("No tools are configured; {name} did not run."),
                }});
                let now = self.now();
                if let Some(log) = &mut self.log {
                    log.on_tool_result(now, &call_id, &output.to_string());
                }
                self.core.on_tool_result(&call_id, &output.to_string());
            }
        }
    }
}
