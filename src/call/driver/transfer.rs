//! The driver's side of a warm transfer's commands
//! (`registry/transfer.rs`, decision 0029): snapshots, out-of-band
//! summaries matched to their answers, the watch on the agent's turn, and
//! sidelining. All of it is bookkeeping on the call's own loop: nothing
//! here waits.

use tokio::sync::oneshot;

use super::CallDriver;
use crate::call::registry::CallCommand;
use crate::model::{ModelCommand, ModelEvent};

/// Summaries a call may have pending; more are answered `None` at once.
const MAX_PENDING_SUMMARIES: usize = 4;

/// What the driver keeps for a transfer.
#[derive(Debug, Default)]
pub(super) struct TransferSide {
    /// Summaries asked of the model: (request id, where the text goes).
    summaries: Vec<(String, oneshot::Sender<Option<String>>)>,
    asked: u64,
    /// Waiting for the agent's turn to play out; whether a response was
    /// seen under way since.
    turn: Option<(oneshot::Sender<()>, bool)>,
}

impl CallDriver {
    /// A transfer command from the call's handle.
    pub(super) fn on_transfer_command(&mut self, command: CallCommand) {
        match command {
            CallCommand::Snapshot { done } => {
                let _ = done.send(self.core.transcript().to_vec());
            }
            CallCommand::Summarize { done } => {
                let side = &mut self.transfer;
                side.summaries.retain(|(_, tx)| !tx.is_closed());
                if !self.model_alive
                    || self.room.agent_out()
                    || side.summaries.len() >= MAX_PENDING_SUMMARIES
                {
                    let _ = done.send(None);
                    return;
                }
                side.asked += 1;
                let request_id = format!("warmline_summary_{}", side.asked);
                side.summaries.push((request_id.clone(), done));
                self.send_model(ModelCommand::Summarize { request_id });
            }
            CallCommand::WatchAgentTurn { done } => {
                let under_way = self.core.responding() || self.core.agent_speaking();
                self.transfer.turn = Some((done, under_way));
            }
            CallCommand::Sideline {
                sidelined,
                listen_only,
                done,
            } => {
                let now = self.now();
                self.core.set_sidelined(sidelined, now);
                self.core.set_listen_only(listen_only);
                let _ = done.send(());
            }
            CallCommand::NoteAndRespond { note, done } => {
                let now = self.now();
                self.core.note_and_respond(note, now);
                let _ = done.send(());
            }
            other => self.on_room_command(other),
        }
    }

    /// A model event, before the core takes it: answers a summary, notes
    /// a response under way for the turn watch.
    pub(super) fn transfer_on_model_event(&mut self, event: &ModelEvent) {
        match event {
            ModelEvent::Summary { request_id, text } => {
                let side = &mut self.transfer;
                if let Some(i) = side.summaries.iter().position(|(id, _)| id == request_id) {
                    let (_, done) = side.summaries.swap_remove(i);
                    let _ = done.send(text.clone());
                }
            }
            ModelEvent::ResponseStarted { .. } | ModelEvent::AudioDelta { .. } => {
                if let Some((_, seen)) = &mut self.transfer.turn {
                    *seen = true;
                }
            }
            _ => {}
        }
    }

    /// After each turn of the loop: the watched turn is over once a
    /// response was seen and nothing of it is left to play.
    pub(super) fn transfer_check_turn(&mut self) {
        let over = matches!(&self.transfer.turn, Some((_, true)))
            && !self.core.responding()
            && !self.core.agent_speaking();
        let gone = self
            .transfer
            .turn
            .as_ref()
            .is_some_and(|(tx, _)| tx.is_closed());
        if over || gone || self.room.agent_out() {
            if let Some((done, _)) = self.transfer.turn.take() {
                let _ = done.send(());
            }
        }
    }

    /// The session closed or was replaced: pending summaries get `None`.
    pub(super) fn transfer_session_gone(&mut self) {
        for (_, done) in self.transfer.summaries.drain(..) {
            let _ = done.send(None);
        }
    }
}
