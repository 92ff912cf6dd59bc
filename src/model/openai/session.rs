//! A sans-IO OpenAI Realtime session: commands in, client events out;
//! server frames in, model events out.
//!
//! Rules it enforces (protocols.md §2.6–2.8):
//! - caller audio waits for `session.updated` (at most one second of it is
//!   buffered, in any format; older audio is dropped, the caller is still
//!   on the greeting);
//! - never a second `response.create` while a response is active or
//!   requested: it is queued until `response.done`;
//! - `response.cancel` only when a response is active and was not
//!   cancelled already (the server's turn detection runs with
//!   `interrupt_response: false`, so only warmline cancels);
//! - `truncate.audio_end_ms` is clamped to the audio the model produced for
//!   that item, and is an integer.

use std::collections::VecDeque;

use base64::Engine as _;
use serde_json::Value;

use super::events::{self, ServerEvent};
use crate::model::{AudioFormat, ModelCommand, ModelEvent, ResponseStatus, SessionConfig};

/// Most audio buffered before the session is ready, in ms.
const MAX_EARLY_AUDIO_MS: usize = 1_000;
/// Items whose produced length we remember (for truncate clamping).
const TRACKED_ITEMS: usize = 64;

/// What one input produced.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Events for the call.
    pub events: Vec<ModelEvent>,
    /// Client events to send, in order.
    pub send: Vec<Value>,
}

/// The session state machine. See the module docs.
#[derive(Debug)]
pub struct OpenAiSession {
    config: SessionConfig,
    ready: bool,
    early_audio: VecDeque<Vec<u8>>,
    early_bytes: usize,
    /// A response is in progress (created, not done).
    active: Option<String>,
    /// A `response.create` was sent and no `response.created` seen yet.
    requested: bool,
    queued: VecDeque<Option<String>>,
    cancel_sent_for: Option<String>,
    produced_bytes: VecDeque<(String, u64)>,
    /// Out-of-band responses in flight: response id → request id.
    out_of_band: Vec<(String, String)>,
    /// Counts for the call's figures.
    pub round_trips: u64,
}

impl OpenAiSession {
    /// A session for `config`, not yet connected.
    pub fn new(config: SessionConfig) -> OpenAiSession {
        OpenAiSession {
            config,
            ready: false,
            early_audio: VecDeque::new(),
            early_bytes: 0,
            active: None,
            requested: false,
            queued: VecDeque::new(),
            cancel_sent_for: None,
            produced_bytes: VecDeque::new(),
            out_of_band: Vec::new(),
            round_trips: 0,
        }
    }

    /// The socket is open: configure the session.
    pub fn on_open(&mut self) -> Vec<Value> {
        vec![events::session_update(&self.config)]
    }

    /// Whether `session.updated` has arrived.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether a response is active or requested.
    pub fn response_in_flight(&self) -> bool {
        self.active.is_some() || self.requested
    }

    /// Bytes per ms of the agent's audio (truncation clamps to what the
    /// model produced: 8 for G.711, 48 for `audio/pcm` at 24 kHz).
    fn bytes_per_ms(&self) -> u64 {
        bytes_per_ms(self.config.output_format)
    }

    /// Milliseconds of audio the model produced for `item_id`.
    pub fn produced_ms(&self, item_id: &str) -> u64 {
        self.produced_bytes
            .iter()
            .find(|(id, _)| id == item_id)
            .map_or(0, |(_, b)| b / self.bytes_per_ms().max(1))
    }

    fn request_response(&mut self, instructions: Option<String>, send: &mut Vec<Value>) {
        if self.response_in_flight() || !self.ready {
            self.queued.push_back(instructions);
        } else {
            self.requested = true;
            send.push(events::response_create(instructions.as_deref()));
        }
    }

    /// Applies one command from the call.
    pub fn command(&mut self, command: ModelCommand) -> Vec<Value> {
        let mut send = Vec::new();
        match command {
            ModelCommand::AppendAudio(audio) => {
                if self.ready {
                    send.push(events::append(&audio));
                } else {
                    self.early_bytes += audio.len();
                    self.early_audio.push_back(audio);
                    let most = MAX_EARLY_AUDIO_MS * bytes_per_ms(self.config.input_format) as usize;
                    while self.early_bytes > most {
                        match self.early_audio.pop_front() {
                            Some(old) => self.early_bytes -= old.len(),
                            None => break,
                        }
                    }
                }
            }
            ModelCommand::CreateResponse { instructions } => {
                self.request_response(instructions, &mut send);
            }
            ModelCommand::CancelResponse => {
                self.queued.clear();
                if let Some(active) = &self.active {
                    let already = self.cancel_sent_for.as_ref() == Some(active);
                    if !already {
                        self.cancel_sent_for = Some(active.clone());
                        send.push(events::response_cancel());
                    }
                } else if self.requested {
                    // Created but not yet acknowledged: cancel the default
                    // response, which is the one we requested.
                    send.push(events::response_cancel());
                }
            }
            ModelCommand::Truncate {
                item_id,
                content_index,
                audio_end_ms,
            } => {
                let clamped = audio_end_ms.min(self.produced_ms(&item_id));
                send.push(events::truncate(&item_id, content_index, clamped));
            }
            ModelCommand::FunctionOutput { call_id, output } => {
                send.push(events::function_call_output(&call_id, &output));
                self.request_response(None, &mut send);
            }
            ModelCommand::Replay(items) => {
                send.extend(items.iter().map(events::replay_item));
            }
            ModelCommand::CallerDtmf(digit) => {
                send.push(events::dtmf_note(digit));
                self.request_response(None, &mut send);
            }
            // Out-of-band responses run beside the caller's: no queueing
            // behind the active response (protocols.md §2.10).
            ModelCommand::Summarize { request_id } => {
                send.push(events::response_create_out_of_band(
                    &request_id,
                    crate::model::SUMMARY_INSTRUCTIONS,
                ))
            }
        }
        send
    }

    /// Handles one server frame. Unknown events are ignored; a frame that is
    /// not JSON is reported as an error event (the session goes on).
    pub fn on_server_text(&mut self, text: &str) -> Step {
        let mut step = Step::default();
        let event = match events::parse_server(text) {
            Ok(e) => e,
            Err(e) => {
                step.events.push(ModelEvent::Error {
                    code: Some("malformed_server_event".into()),
                    message: e.to_string(),
                });
                return step;
            }
        };
        match event {
            ServerEvent::SessionCreated {} | ServerEvent::Other => {}
            ServerEvent::SessionUpdated {} => {
                if !self.ready {
                    self.ready = true;
                    step.events.push(ModelEvent::Ready);
                    step.send
                        .extend(self.early_audio.drain(..).map(|a| events::append(&a)));
                    self.early_bytes = 0;
                    if let Some(next) = self.queued.pop_front() {
                        self.request_response(next, &mut step.send);
                    }
                }
            }
            ServerEvent::ResponseCreated { response } if response.out_of_band_id().is_some() => {
                // Not the caller's response: the bookkeeping of the
                // default conversation is untouched.
                if let Some(request) = response.out_of_band_id() {
                    if self.out_of_band.len() == TRACKED_ITEMS {
                        self.out_of_band.remove(0);
                    }
                    self.out_of_band
                        .push((response.id.clone(), request.to_owned()));
                }
            }
            ServerEvent::ResponseCreated { response } => {
                self.requested = false;
                self.round_trips += 1;
                self.active = Some(response.id.clone());
                step.events.push(ModelEvent::ResponseStarted {
                    response_id: response.id,
                });
            }
            ServerEvent::AudioDelta {
                response_id,
                item_id,
                content_index,
                delta,
            } => match base64::engine::general_purpose::STANDARD.decode(delta.as_bytes()) {
                Ok(audio) => {
                    self.count_produced(&item_id, audio.len() as u64);
                    step.events.push(ModelEvent::AudioDelta {
                        response_id,
                        item_id,
                        content_index,
                        audio,
                    });
                }
                Err(e) => step.events.push(ModelEvent::Error {
                    code: Some("bad_audio_delta".into()),
                    message: e.to_string(),
                }),
            },
            ServerEvent::AudioDone {
                response_id,
                item_id,
            } => step.events.push(ModelEvent::AudioDone {
                response_id,
                item_id,
            }),
            ServerEvent::TranscriptDelta { item_id, delta } => step
                .events
                .push(ModelEvent::AgentTranscriptDelta { item_id, delta }),
            ServerEvent::TranscriptDone {
                item_id,
                transcript,
            } => step.events.push(ModelEvent::AgentTranscriptDone {
                item_id,
                transcript,
            }),
            ServerEvent::InputTranscriptCompleted {
                item_id,
                transcript,
            } => step.events.push(ModelEvent::CallerTranscript {
                item_id,
                transcript,
            }),
            ServerEvent::InputTranscriptDelta {}
            | ServerEvent::InputTranscriptFailed {}
            | ServerEvent::RateLimits {} => {}
            ServerEvent::SpeechStarted { audio_start_ms } => {
                // interrupt_response is off: this is an input to warmline's
                // decision; the response goes on until warmline cancels it.
                step.events
                    .push(ModelEvent::SpeechStarted { audio_start_ms });
            }
            ServerEvent::SpeechStopped { audio_end_ms } => {
                step.events.push(ModelEvent::SpeechStopped { audio_end_ms })
            }
            ServerEvent::FunctionCallDone {
                call_id,
                name,
                arguments,
            } => step.events.push(ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
            }),
            ServerEvent::ResponseDone { response }
                if response.out_of_band_id().is_some()
                    || self.out_of_band.iter().any(|(id, _)| *id == response.id) =>
            {
                let request = response
                    .out_of_band_id()
                    .map(str::to_owned)
                    .or_else(|| {
                        self.out_of_band
                            .iter()
                            .find(|(id, _)| *id == response.id)
                            .map(|(_, r)| r.clone())
                    })
                    .unwrap_or_default();
                self.out_of_band.retain(|(id, _)| *id != response.id);
                let text = response.output_text();
                let text = (response.status == "completed" && !text.is_empty()).then_some(text);
                step.events.push(ModelEvent::Summary {
                    request_id: request,
                    text,
                });
            }
            ServerEvent::ResponseDone { response } => {
                let status = match response.status.as_str() {
                    "completed" => ResponseStatus::Completed,
                    "cancelled" => ResponseStatus::Cancelled,
                    "incomplete" => ResponseStatus::Incomplete,
                    _ => ResponseStatus::Failed,
                };
                if self.active.as_deref() == Some(response.id.as_str()) {
                    self.active = None;
                }
                self.requested = false;
                step.events.push(ModelEvent::ResponseDone {
                    response_id: response.id,
                    status,
                });
                if let Some(next) = self.queued.pop_front() {
                    self.request_response(next, &mut step.send);
                }
            }
            ServerEvent::Error { error } => {
                if error.code.as_deref() == Some("conversation_already_has_active_response") {
                    // Our bookkeeping raced a VAD-started response: retry
                    // after the next response.done.
                    self.requested = false;
                    self.queued.push_front(None);
                }
                if error.code.as_deref() != Some("response_cancel_not_active") {
                    step.events.push(ModelEvent::Error {
                        code: error.code,
                        message: error.message,
                    });
                }
            }
        }
        step
    }

    fn count_produced(&mut self, item_id: &str, bytes: u64) {
        if let Some(entry) = self.produced_bytes.iter_mut().find(|(id, _)| id == item_id) {
            entry.1 += bytes;
            return;
        }
        if self.produced_bytes.len() == TRACKED_ITEMS {
            self.produced_bytes.pop_front();
        }
        self.produced_bytes.push_back((item_id.to_owned(), bytes));
    }
}

/// Bytes per millisecond of audio in `format`.
fn bytes_per_ms(format: AudioFormat) -> u64 {
    match format {
        AudioFormat::Pcmu | AudioFormat::Pcma => 8,
        AudioFormat::Pcm16 { rate } => u64::from(rate / 1000) * 2,
    }
}

#[cfg(test)]
mod pcm_tests;
#[cfg(test)]
mod tests;
