//! The commands a warm transfer needs of a live call besides the room's
//! (decision 0029): the conversation so far, an out-of-band summary, when
//! the agent's turn has played out, sidelining the agent while the caller
//! is on hold or with a rep, a note the agent answers, and the call's
//! end. Each is bounded like every command ([`super::COMMAND_WAIT`] for
//! room in the queue); the answers that wait on the model or the playout
//! are the caller's to time-box.

use tokio::sync::oneshot;

use super::{CallCommand, CallHandle, CommandError, COMMAND_WAIT};
use crate::model::ConversationItem;

impl CallHandle {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> CallCommand,
    ) -> Result<oneshot::Receiver<T>, CommandError> {
        let permit = match tokio::time::timeout(COMMAND_WAIT, self.commands.reserve()).await {
            Err(_) => return Err(CommandError::Busy),
            Ok(Err(_)) => return Err(CommandError::Ended),
            Ok(Ok(permit)) => permit,
        };
        let (done, answer) = oneshot::channel();
        permit.send(command(done));
        Ok(answer)
    }

    /// The conversation so far, as a new model session would be replayed it.
    pub async fn snapshot(&self) -> Result<Vec<ConversationItem>, CommandError> {
        let answer = self.ask(|done| CallCommand::Snapshot { done }).await?;
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Asks the call's model session for an out-of-band summary
    /// (`ModelCommand::Summarize`); resolves to its text, or `None` when
    /// the session cannot answer (the agent is out of the room, too many
    /// summaries are pending). Time-box it: a model may never answer.
    pub async fn summarize(&self) -> Result<Option<String>, CommandError> {
        let answer = self.ask(|done| CallCommand::Summarize { done }).await?;
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Resolves once the agent's response under way (or, with none, its
    /// next one) has finished playing. Time-box it.
    pub async fn agent_turn_done(&self) -> Result<(), CommandError> {
        let answer = self
            .ask(|done| CallCommand::WatchAgentTurn { done })
            .await?;
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Sidelines the agent (the caller is on hold or with a rep: its
    /// silence clocks stand still) or not; `listen_only` keeps it from
    /// ever being asked to speak.
    pub async fn sideline(&self, sidelined: bool, listen_only: bool) -> Result<(), CommandError> {
        let answer = self
            .ask(|done| CallCommand::Sideline {
                sidelined,
                listen_only,
                done,
            })
            .await?;
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Adds `note` to the conversation and asks the agent to answer it
    /// (a hand-back while the agent's session is open).
    pub async fn note_and_respond(&self, note: String) -> Result<(), CommandError> {
        let answer = self
            .ask(|done| CallCommand::NoteAndRespond { note, done })
            .await?;
        answer.await.map_err(|_| CommandError::Ended)
    }

    /// Resolves when the call has ended (its driver dropped its queue),
    /// however it ended.
    pub async fn ended(&self) {
        self.commands.closed().await;
    }
}
