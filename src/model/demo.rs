//! The offline demo agent: the default backend when no API key is set.
//!
//! It does **not** understand speech. It plays recorded prompts from the
//! fixtures (Asterisk's voice, embedded in the binary) in a fixed script:
//! a greeting, then one prompt per caller turn. It has no ears of its own:
//! like an OpenAI session with `create_response` and `interrupt_response`
//! off, it answers when the call asks (`CreateResponse`, sent by warmline
//! when it judged a caller's turn real and ended) and stops when the call
//! cancels, so its own echo can neither cut it off nor make it answer
//! (decision 0010). Audio arrives faster than real time, and cancel and
//! truncate are accepted. DTMF `0` calls `escalate_to_human`, `8` takes
//! a callback request (`take_callback`, to the caller's number), `9` says
//! goodbye and calls `end_call`. Asked whether a silent caller is still
//! there it says its hello; asked to say goodbye, its goodbye.
//!
//! Sans-IO: commands in, events out; no network, no clock.

use std::collections::VecDeque;
use std::io::Cursor;

use crate::media::g711::ulaw_encode;
use crate::model::{ModelCommand, ModelEvent, ResponseStatus};

/// What the demo says, in script order.
const SCRIPT: [(&str, &[u8]); 6] = [
    (
        "Hello world.",
        include_bytes!("../../fixtures/audio/demo_greeting.wav"),
    ),
    (
        "One moment, please.",
        include_bytes!("../../fixtures/audio/demo_turn_1.wav"),
    ),
    (
        "Please hold while I try that extension.",
        include_bytes!("../../fixtures/audio/demo_turn_2.wav"),
    ),
    (
        "Thank you.",
        include_bytes!("../../fixtures/audio/demo_turn_3.wav"),
    ),
    (
        "Transfer.",
        include_bytes!("../../fixtures/audio/demo_transfer.wav"),
    ),
    (
        "Goodbye.",
        include_bytes!("../../fixtures/audio/demo_goodbye.wav"),
    ),
];
const GREETING: usize = 0;
const TURNS: [usize; 3] = [1, 2, 3];
const TRANSFER: usize = 4;
const GOODBYE: usize = 5;

/// The recorded "all circuits are busy now" prompt (8 kHz PCM), played
/// when no model can be reached.
pub fn unavailable_prompt() -> Result<Vec<i16>, DemoError> {
    let wav = include_bytes!("../../fixtures/audio/demo_unavailable.wav");
    let mut reader =
        hound::WavReader::new(Cursor::new(&wav[..])).map_err(|e| DemoError::BadPrompt {
            index: usize::MAX,
            reason: e.to_string(),
        })?;
    reader
        .samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()
        .map_err(|e| DemoError::BadPrompt {
            index: usize::MAX,
            reason: e.to_string(),
        })
}

/// The recorded "please try your call again later" prompt (8 kHz PCM),
/// played to each call a drain ends when its grace runs out
/// ([`crate::drain`]).
pub fn closing_prompt() -> Result<Vec<i16>, DemoError> {
    let wav = include_bytes!("../../fixtures/audio/demo_closing.wav");
    let bad = |e: hound::Error| DemoError::BadPrompt {
        index: usize::MAX,
        reason: e.to_string(),
    };
    hound::WavReader::new(Cursor::new(&wav[..]))
        .map_err(bad)?
        .samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()
        .map_err(bad)
}

/// Errors building the demo agent.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An embedded prompt is not an 8 kHz mono 16-bit WAV (a build problem:
    /// regenerate the fixtures).
    #[error("embedded demo prompt {index} is unusable: {reason}")]
    BadPrompt {
        /// Script position.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

struct Prompt {
    text: &'static str,
    mulaw: Vec<u8>,
}

fn load(index: usize, text: &'static str, wav: &[u8]) -> Result<Prompt, DemoError> {
    let bad = |reason: String| DemoError::BadPrompt { index, reason };
    let mut reader = hound::WavReader::new(Cursor::new(wav)).map_err(|e| bad(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8_000 || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(bad(format!("{spec:?}")));
    }
    let mulaw = reader
        .samples::<i16>()
        .map(|s| s.map(ulaw_encode))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    Ok(Prompt { text, mulaw })
}

/// The scripted, offline agent. See the module docs.
pub struct DemoAgent {
    prompts: Vec<Prompt>,
    received_samples: u64,
    next_turn: usize,
    active: Option<String>,
    ids: u64,
    events: VecDeque<ModelEvent>,
}

impl std::fmt::Debug for DemoAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoAgent")
            .field("next_turn", &self.next_turn)
            .field("active", &self.active)
            .finish()
    }
}

impl DemoAgent {
    /// Loads the embedded prompts. The demo has no turn detection of its
    /// own: the call's VAD (`[media]`) decides when the caller's turn ends.
    pub fn new() -> Result<DemoAgent, DemoError> {
        let prompts = SCRIPT
            .iter()
            .enumerate()
            .map(|(i, (text, wav))| load(i, text, wav))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!("demo agent: offline and scripted; it does not understand speech");
        Ok(DemoAgent {
            prompts,
            received_samples: 0,
            next_turn: 0,
            active: None,
            ids: 0,
            events: VecDeque::new(),
        })
    }

    /// "Connects": the session is ready at once.
    pub fn connect(&mut self) {
        self.events.push_back(ModelEvent::Ready);
    }

    /// The next event for the call.
    pub fn poll_event(&mut self) -> Option<ModelEvent> {
        self.events.pop_front()
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}_demo_{}", self.ids)
    }

    /// Says prompt `index` as one response, then optionally calls `tool`.
    fn respond(&mut self, index: usize, tool: Option<(&str, &str)>) {
        if self.active.is_some() {
            return; // one response at a time, like the real thing
        }
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        self.active = Some(response_id.clone());
        let prompt = &self.prompts[index];
        let (text, audio) = (prompt.text.to_owned(), prompt.mulaw.clone());
        self.events.push_back(ModelEvent::ResponseStarted {
            response_id: response_id.clone(),
        });
        // Faster than real time, in 200 ms pieces, as a model streams.
        for chunk in audio.chunks(1_600) {
            self.events.push_back(ModelEvent::AudioDelta {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                content_index: 0,
                audio: chunk.to_vec(),
            });
        }
        self.events.push_back(ModelEvent::AudioDone {
            response_id: response_id.clone(),
            item_id: item_id.clone(),
        });
        self.events.push_back(ModelEvent::AgentTranscriptDone {
            item_id,
            transcript: text,
        });
        if let Some((name, arguments)) = tool {
            let call_id = self.next_id("call");
            self.events.push_back(ModelEvent::FunctionCall {
                call_id,
                name: name.to_owned(),
                arguments: arguments.to_owned(),
            });
        }
        self.finish(ResponseStatus::Completed);
    }

    fn finish(&mut self, status: ResponseStatus) {
        if let Some(response_id) = self.active.take() {
            self.events.push_back(ModelEvent::ResponseDone {
                response_id,
                status,
            });
        }
    }

    fn next_turn_prompt(&mut self) -> usize {
        if self.next_turn == 0 {
            self.next_turn = 1;
            return GREETING;
        }
        let index = TURNS[(self.next_turn - 1) % TURNS.len()];
        self.next_turn += 1;
        index
    }

    /// Applies one command.
    pub fn command(&mut self, command: ModelCommand) {
        match command {
            ModelCommand::AppendAudio(mulaw) => self.received_samples += mulaw.len() as u64,
            ModelCommand::CreateResponse { instructions } => {
                // The call's silence prompts: read by their words, as a
                // model would.
                let silence = instructions.as_deref().and_then(silence_line);
                if let Some(index) = silence.filter(|_| self.next_turn > 0) {
                    self.respond(index, None);
                    return;
                }
                if instructions.is_none() && self.next_turn > 0 {
                    // The call says a caller's turn ended.
                    let item_id = self.next_id("item");
                    self.events.push_back(ModelEvent::CallerTranscript {
                        item_id,
                        transcript: "(speech; the demo agent does not transcribe)".into(),
                    });
                }
                let index = self.next_turn_prompt();
                self.respond(index, None);
            }
            ModelCommand::CancelResponse => self.finish(ResponseStatus::Cancelled),
            ModelCommand::Truncate { .. } | ModelCommand::Replay(_) => {}
            ModelCommand::FunctionOutput { .. } => {}
            ModelCommand::CallerDtmf('0') => self.respond(
                TRANSFER,
                Some(("escalate_to_human", r#"{"reason":"caller pressed 0"}"#)),
            ),
            ModelCommand::CallerDtmf('8') => self.respond(
                TURNS[2],
                Some((
                    "take_callback",
                    r#"{"kind":"callback","message":"The caller pressed 8 for a call back."}"#,
                )),
            ),
            ModelCommand::CallerDtmf('9') => self.respond(
                GOODBYE,
                Some(("end_call", r#"{"reason":"caller pressed 9"}"#)),
            ),
            ModelCommand::CallerDtmf(_) => {}
            ModelCommand::Summarize { request_id } => self.events.push_back(ModelEvent::Summary {
                request_id,
                text: Some(DEMO_SUMMARY.to_owned()),
            }),
        }
    }
}

/// The demo agent's fixed answer to [`ModelCommand::Summarize`].
pub const DEMO_SUMMARY: &str = r#"{"summary":"A caller reached the warmline demo agent and asked for a person.","next_action":"Greet the caller and ask how you can help."}"#;

/// The line for a silent caller: "Hello world." when asked whether they
/// are still there, "Goodbye." when asked to say goodbye.
fn silence_line(instructions: &str) -> Option<usize> {
    let text = instructions.to_ascii_lowercase();
    if text.contains("goodbye") {
        Some(GOODBYE)
    } else if text.contains("still there") {
        Some(GREETING)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(agent: &mut DemoAgent) -> Vec<ModelEvent> {
        std::iter::from_fn(|| agent.poll_event()).collect()
    }

    fn voiced_mulaw(ms: usize) -> Vec<u8> {
        (0..ms * 8)
            .map(|i| {
                let t = i as f32 / 8000.0;
                ulaw_encode(
                    (6000.0
                        * ((2.0 * std::f32::consts::PI * 140.0 * t).sin()
                            + 0.5 * (2.0 * std::f32::consts::PI * 700.0 * t).sin()))
                        as i16,
                )
            })
            .collect()
    }

    #[test]
    fn greets_then_answers_each_caller_turn_with_the_next_prompt() {
        let mut agent = DemoAgent::new().expect("prompts embedded");
        agent.connect();
        agent.command(ModelCommand::CreateResponse { instructions: None });
        let events = drain(&mut agent);
        assert_eq!(events[0], ModelEvent::Ready);
        assert!(events.iter().any(|e| matches!(e, ModelEvent::AgentTranscriptDone { transcript, .. } if transcript == "Hello world.")));
        // The caller talks: the demo hears it but does not answer on its
        // own, not even to loud speech.
        agent.command(ModelCommand::AppendAudio(vec![0xFF; 1_600]));
        agent.command(ModelCommand::AppendAudio(voiced_mulaw(600)));
        agent.command(ModelCommand::AppendAudio(vec![0xFF; 4_000]));
        assert!(drain(&mut agent).is_empty());
        // The call judged the turn real and ended: the next prompt.
        agent.command(ModelCommand::CreateResponse { instructions: None });
        let events = drain(&mut agent);
        assert!(events.iter().any(|e| matches!(e, ModelEvent::AgentTranscriptDone { transcript, .. } if transcript == "One moment, please.")));
    }

    #[test]
    fn the_silence_prompts_get_a_hello_and_a_goodbye() {
        let mut agent = DemoAgent::new().expect("prompts");
        agent.command(ModelCommand::CreateResponse { instructions: None });
        drain(&mut agent);
        let said = |agent: &mut DemoAgent, instructions: &str| {
            agent.command(ModelCommand::CreateResponse {
                instructions: Some(instructions.into()),
            });
            drain(agent).into_iter().find_map(|e| match e {
                ModelEvent::AgentTranscriptDone { transcript, .. } => Some(transcript),
                _ => None,
            })
        };
        let reprompt = said(&mut agent, crate::call::REPROMPT_INSTRUCTIONS);
        assert_eq!(reprompt.as_deref(), Some("Hello world."));
        let goodbye = said(&mut agent, crate::call::GOODBYE_INSTRUCTIONS);
        assert_eq!(goodbye.as_deref(), Some("Goodbye."));
    }

    #[test]
    fn the_demo_agent_answers_a_summary_request_with_its_fixed_json() {
        let mut agent = DemoAgent::new().expect("demo agent");
        agent.connect();
        while agent.poll_event().is_some() {}
        agent.command(ModelCommand::Summarize {
            request_id: "esc-1".into(),
        });
        let Some(ModelEvent::Summary { request_id, text }) = agent.poll_event() else {
            panic!("a summary");
        };
        assert_eq!(request_id, "esc-1");
        let parsed = crate::handoff::CallSummary::parse(text.as_deref().unwrap_or(""))
            .expect("the JSON asked for");
        assert!(parsed.summary.contains("demo agent"));
        assert!(!parsed.next_action.is_empty());
    }

    #[test]
    fn dtmf_nine_says_goodbye_and_calls_end_call_and_zero_escalates() {
        let mut agent = DemoAgent::new().expect("prompts");
        agent.command(ModelCommand::CallerDtmf('9'));
        let events = drain(&mut agent);
        assert!(events
            .iter()
            .any(|e| matches!(e, ModelEvent::FunctionCall { name, .. } if name == "end_call")));
        agent.command(ModelCommand::CallerDtmf('0'));
        let events = drain(&mut agent);
        assert!(events.iter().any(
            |e| matches!(e, ModelEvent::FunctionCall { name, .. } if name == "escalate_to_human")
        ));
    }

    #[test]
    fn dtmf_eight_takes_a_callback() {
        let mut agent = DemoAgent::new().expect("prompts");
        agent.command(ModelCommand::CallerDtmf('8'));
        let events = drain(&mut agent);
        let arguments = events.iter().find_map(|e| match e {
            ModelEvent::FunctionCall {
                name, arguments, ..
            } if name == "take_callback" => Some(arguments.clone()),
            _ => None,
        });
        let arguments: serde_json::Value =
            serde_json::from_str(&arguments.expect("take_callback")).expect("JSON");
        assert_eq!(arguments["kind"], "callback");
    }

    #[test]
    fn caller_speech_cancels_the_active_response_and_cancel_is_accepted() {
        let mut agent = DemoAgent::new().expect("prompts");
        agent.active = Some("resp_x".into());
        agent.command(ModelCommand::CancelResponse);
        assert!(matches!(
            drain(&mut agent).last(),
            Some(ModelEvent::ResponseDone {
                status: ResponseStatus::Cancelled,
                ..
            })
        ));
    }
}
