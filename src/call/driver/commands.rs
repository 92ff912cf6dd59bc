//! Commands from the call's handle (decision 0022): hang up, add a text
//! item; the transfer's go on to `driver/transfer.rs`, the room's to
//! `driver/room.rs`.

use std::time::Duration;

use super::CallDriver;

/// How long a call that was transferred waits for the results of its
/// tool calls still running (`transfer_call`'s own among them), so that
/// its record holds them.
const LATE_RESULTS_WAIT: Duration = Duration::from_secs(1);

impl CallDriver {
    /// A command from the call's handle; answered once carried out.
    pub(super) fn on_command(&mut self, command: crate::call::registry::CallCommand) {
        use crate::call::registry::CallCommand;
        match command {
            CallCommand::HangUp { reason, done } => {
                tracing::info!(reason = reason.as_str(), "hanging up on the caller");
                self.end_because(reason, None);
                self.hangup = true;
                let _ = done.send(());
            }
            CallCommand::AddText { text, done } => {
                if let Some(live) = &mut self.live {
                    live.on_text_added(&text);
                }
                self.core.add_context_item(text);
                let _ = done.send(());
            }
            CallCommand::HandingOver { detail, done } => {
                self.handing_over = detail;
                let _ = done.send(());
            }
            CallCommand::TransferCaller { done, .. } => {
                // The loop hands these to the leg before this point.
                let _ = done.send(crate::call::blind_transfer::TransferOutcome::Failed {
                    reason: "the call could not pass the request to its line".into(),
                });
            }
            other => self.on_transfer_command(other),
        }
    }

    /// The caller left (a transfer): record the results of tool calls
    /// still running, waiting at most [`LATE_RESULTS_WAIT`].
    pub(super) async fn late_tool_results(&mut self) {
        let deadline = tokio::time::Instant::now() + LATE_RESULTS_WAIT;
        while self.log.as_ref().is_some_and(|l| l.tools_pending() > 0) {
            let Ok(Some(answer)) = tokio::time::timeout_at(deadline, self.tool_rx.recv()).await
            else {
                return;
            };
            let now = self.now();
            if let Some(log) = &mut self.log {
                log.on_tool_output(now, &answer);
            }
        }
    }
}
