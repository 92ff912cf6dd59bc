//! The agent leaving and re-joining the call's room (decisions 0021 and
//! 0024): the core's side of `CallHandle::detach_agent` and
//! `attach_agent`. While the agent is out the driver neither ticks the
//! core nor feeds it audio, so its timers (silence, filler) stand still;
//! the transcript stays, and a returning agent's new session is replayed
//! it with a note saying what happened, then asked to speak.

use std::time::Duration;

use super::{CallCore, CallOutput, ModelState};
use crate::model::{ConversationItem, ModelCommand};

/// The agent's presence, as the core keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Presence {
    /// A returning agent speaks once its new session is replayed.
    respond_when_ready: bool,
    /// The caller is on hold or talks with a rep: the agent is not the
    /// one they wait on, so the silence clocks stand still.
    sidelined: bool,
    /// The agent stays in the room only to listen (`[handoff]
    /// agent_after_bridge = "listen"`): no response is ever asked for.
    listen_only: bool,
}

impl CallCore {
    /// The agent leaves: whatever it was saying stops (nothing queued is
    /// played), keys being sent are dropped, and nothing the old session
    /// still says is played. The driver closes the session.
    pub fn agent_leaves(&mut self) {
        self.dtmf_abort();
        self.active_response = None;
        self.drop_playback();
        // Marks outstanding for the dropped audio hold nothing any more.
        self.playback.new_generation();
        self.preroll.clear();
        self.turn_real = false;
        self.rolling_over = false;
        self.model_state = ModelState::Closed;
        // The caller is not waiting on the AI any more.
        let now = self.filler.now;
        self.long_silence_reset(now);
    }

    /// The agent returns at `now` (the driver opens a new session): the
    /// new session is replayed the transcript with `note` at its end, and
    /// then asked for a response. The silence clocks restart.
    pub fn agent_returns(&mut self, now: Duration, note: String) {
        self.transcript.push(ConversationItem::Context(note));
        self.model_state = ModelState::Reconnecting;
        self.presence.respond_when_ready = true;
        self.silence_caller_active(now);
    }

    /// Sidelines the agent (the caller on hold, or talking with a rep) or
    /// brings it back to the front: sidelined, the silence clocks stand
    /// still, so a caller on hold is never asked whether they are there
    /// nor hung up on for silence.
    pub fn set_sidelined(&mut self, sidelined: bool, now: Duration) {
        self.presence.sidelined = sidelined;
        self.silence_caller_active(now);
        if sidelined {
            self.long_silence_reset(now);
        }
    }

    /// Whether the agent is sidelined.
    pub(super) fn sidelined(&self) -> bool {
        self.presence.sidelined
    }

    /// The agent only listens (after a bridge, kept for the transcript):
    /// every response it would be asked for is dropped.
    pub fn set_listen_only(&mut self, listen_only: bool) {
        self.presence.listen_only = listen_only;
    }

    /// Whether the core may pass this output on: a listening agent is
    /// never asked to speak.
    pub(super) fn passes(&self, output: &CallOutput) -> bool {
        !(self.presence.listen_only
            && matches!(
                output,
                CallOutput::Model(ModelCommand::CreateResponse { .. })
            ))
    }

    /// The agent's note and its answer (a hand-back while its session is
    /// open): the note goes into the conversation and a response is asked
    /// for.
    pub fn note_and_respond(&mut self, note: String, now: Duration) {
        self.add_context_item(note);
        self.silence_caller_active(now);
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                instructions: None,
            }));
    }

    /// The new session is ready and replayed: a returning agent speaks.
    pub(super) fn presence_on_ready(&mut self) {
        if std::mem::take(&mut self.presence.respond_when_ready) {
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: None,
                }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::call::{CallConfig, CallCore, CallOutput, ModelState};
    use crate::model::{ConversationItem, ModelCommand, ModelEvent};

    fn drain(call: &mut CallCore) -> Vec<CallOutput> {
        std::iter::from_fn(|| call.poll_output()).collect()
    }

    #[test]
    fn a_returning_agent_is_replayed_the_note_and_then_asked_to_speak() {
        let mut call = CallCore::new(CallConfig::default());
        call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        drain(&mut call);
        call.agent_leaves();
        assert_eq!(call.model_state(), ModelState::Closed);
        call.agent_returns(
            Duration::from_secs(5),
            "The rep handed the call back.".into(),
        );
        call.on_model_event(Duration::from_secs(5), ModelEvent::Ready);
        let out = drain(&mut call);
        let replay = out
            .iter()
            .position(|o| matches!(o, CallOutput::Model(ModelCommand::Replay(items)) if items.last() == Some(&ConversationItem::Context("The rep handed the call back.".into()))))
            .expect("replayed with the note last");
        let respond = out
            .iter()
            .position(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. })))
            .expect("asked to speak");
        assert!(replay < respond, "{out:?}");
        // Only once.
        call.on_model_event(Duration::from_secs(6), ModelEvent::Ready);
        assert!(!drain(&mut call)
            .iter()
            .any(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. }))));
    }

    fn asks_to_speak(out: &[CallOutput]) -> bool {
        out.iter()
            .any(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. })))
    }

    #[test]
    fn a_listening_agent_is_never_asked_to_speak_until_it_is_back() {
        let mut call = CallCore::new(CallConfig::default());
        call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        drain(&mut call);
        call.set_listen_only(true);
        call.note_and_respond("noted".into(), Duration::from_secs(1));
        let out = drain(&mut call);
        assert!(!asks_to_speak(&out), "{out:?}");
        // The note itself still reaches the model.
        assert!(out.iter().any(|o| matches!(o, CallOutput::Model(ModelCommand::Replay(items)) if items == &[ConversationItem::Context("noted".into())])));
        call.set_listen_only(false);
        call.note_and_respond(
            "The rep handed the call back.".into(),
            Duration::from_secs(2),
        );
        let out = drain(&mut call);
        let replay = out
            .iter()
            .position(|o| matches!(o, CallOutput::Model(ModelCommand::Replay(_))))
            .expect("the note");
        let respond = out
            .iter()
            .position(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. })))
            .expect("asked to answer it");
        assert!(replay < respond, "{out:?}");
    }
}
