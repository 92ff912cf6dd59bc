//! Commands from the call's handle (decision 0022): hang up, add a text
//! item; the transfer's go on to `driver/transfer.rs`, the room's to
//! `driver/room.rs`.

use super::CallDriver;
use crate::call::events::EndReason;

impl CallDriver {
    /// A command from the call's handle; answered once carried out.
    pub(super) fn on_command(&mut self, command: crate::call::registry::CallCommand) {
        use crate::call::registry::CallCommand;
        match command {
            CallCommand::HangUp { done } => {
                tracing::info!("hanging up: asked through the admin API");
                self.end_because(EndReason::AdminHungUp, None);
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
}
