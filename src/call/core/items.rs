//! Items added to the AI's conversation from outside the call (the admin
//! API's `say`, later a rep's note; decision 0022): a system note the
//! model reads on its next turn, kept in the transcript so that a
//! reopened session is replayed it like the rest.

use super::{CallCore, CallOutput};
use crate::model::{ConversationItem, ModelCommand};

impl CallCore {
    /// Adds `text` to the conversation as a system note. The model does
    /// not answer it by itself: no response is asked for.
    pub fn add_context_item(&mut self, text: String) {
        let item = ConversationItem::Context(text);
        self.transcript.push(item.clone());
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::Replay(vec![item])));
    }
}

#[cfg(test)]
mod tests {
    use crate::call::{CallConfig, CallCore, CallOutput};
    use crate::model::{ConversationItem, ModelCommand};

    #[test]
    fn an_added_note_goes_to_the_model_and_stays_in_the_transcript_for_replay() {
        let mut call = CallCore::new(CallConfig::default());
        call.add_context_item("The rep says: offer a callback.".into());
        let mut outputs = Vec::new();
        while let Some(o) = call.poll_output() {
            outputs.push(o);
        }
        assert!(
            outputs.iter().any(|o| matches!(o,
            CallOutput::Model(ModelCommand::Replay(items))
                if matches!(&items[..], [ConversationItem::Context(t)] if t.contains("callback"))))
        );
        assert!(!outputs
            .iter()
            .any(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. }))));
        assert!(
            matches!(call.transcript(), [ConversationItem::Context(t)] if t.contains("callback"))
        );
    }
}
