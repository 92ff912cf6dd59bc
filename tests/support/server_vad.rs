//! A sans-IO fake of the OpenAI Realtime (GA) server's side of a session,
//! with a deliberately naive server VAD: anything above −40 dBFS in the
//! input audio is speech (so it hears line echo, as real server VADs do).
//! It honours `turn_detection.interrupt_response` (cancel the active
//! response on speech_started) and `create_response` (create a response on
//! speech_stopped), read from the `session.update` it receives; both
//! default to true, as in the GA API.
//!
//! Client events in ([`ServerVad::on_client`]), server events out; a
//! response streams one 200 ms delta per [`ServerVad::on_tick`], so it
//! stays active for a while, as a generating model's does. Used by the
//! simulated-time tests directly and by `fake_realtime` over a WebSocket.

#![allow(dead_code)]

use base64::Engine as _;
use serde_json::{json, Value};

/// Level above which the fake VAD hears speech, dBFS.
pub const VAD_THRESHOLD_DBFS: f32 = -40.0;
/// Silence that ends the fake's speech, ms (server_vad's default 500).
pub const SILENCE_MS: u64 = 500;

/// What the fake did on its own, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VadCounts {
    /// speech_started events sent.
    pub speech_started: u32,
    /// Responses cancelled by the fake itself (interrupt_response).
    pub auto_cancels: u32,
    /// Responses created by the fake itself (create_response).
    pub auto_responses: u32,
    /// Responses created on the client's `response.create`.
    pub client_responses: u32,
    /// `response.cancel` received.
    pub client_cancels: u32,
    /// `conversation.item.truncate` received.
    pub truncates: u32,
}

struct Active {
    id: String,
    item: String,
    next_chunk: usize,
}

/// The fake server session. See the module docs.
pub struct ServerVad {
    audio: Vec<u8>,
    /// Tag for ids (the connection number).
    tag: String,
    interrupt_response: bool,
    create_response: bool,
    speaking: bool,
    silent_ms: u64,
    input_ms: u64,
    responses: usize,
    active: Option<Active>,
    /// Counts of what happened.
    pub counts: VadCounts,
}

fn level_dbfs(mulaw: &[u8]) -> f32 {
    if mulaw.is_empty() {
        return -120.0;
    }
    let sum: f64 = mulaw
        .iter()
        .map(|&c| {
            let s = f64::from(warmline::media::g711::ulaw_decode(c));
            s * s
        })
        .sum();
    let ms = sum / mulaw.len() as f64;
    if ms <= 0.0 {
        -120.0
    } else {
        (10.0 * (ms / (32768.0 * 32768.0)).log10()) as f32
    }
}

impl ServerVad {
    /// A session whose responses all play `audio` (μ-law).
    pub fn new(audio: Vec<u8>, tag: &str) -> ServerVad {
        ServerVad {
            audio,
            tag: tag.to_owned(),
            interrupt_response: true,
            create_response: true,
            speaking: false,
            silent_ms: 0,
            input_ms: 0,
            responses: 0,
            active: None,
            counts: VadCounts::default(),
        }
    }

    /// The greeting event of a new connection.
    pub fn hello() -> Value {
        json!({"type":"session.created","session":{}})
    }

    /// Whether a response is being generated.
    pub fn response_active(&self) -> bool {
        self.active.is_some()
    }

    /// The turn-detection flags in effect.
    pub fn flags(&self) -> (bool, bool) {
        (self.interrupt_response, self.create_response)
    }

    fn start_response(&mut self, out: &mut Vec<Value>) {
        if self.active.is_some() {
            out.push(json!({"type":"error","error":{"type":"invalid_request_error","code":"conversation_already_has_active_response","message":"active response"}}));
            return;
        }
        self.responses += 1;
        let id = format!("resp_{}_{}", self.tag, self.responses);
        let item = format!("item_{}_{}", self.tag, self.responses);
        out.push(json!({"type":"response.created","response":{"id":id,"status":"in_progress"}}));
        self.active = Some(Active {
            id,
            item,
            next_chunk: 0,
        });
        self.stream(out);
    }

    fn stream(&mut self, out: &mut Vec<Value>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let chunks: Vec<&[u8]> = self.audio.chunks(1_600).collect();
        if let Some(chunk) = chunks.get(active.next_chunk) {
            let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
            out.push(json!({"type":"response.output_audio.delta","response_id":active.id,"item_id":active.item,"output_index":0,"content_index":0,"delta":delta}));
            active.next_chunk += 1;
        }
        if active.next_chunk >= chunks.len() {
            let (id, item) = (active.id.clone(), active.item.clone());
            out.push(json!({"type":"response.output_audio.done","response_id":id,"item_id":item,"output_index":0,"content_index":0}));
            out.push(json!({"type":"response.output_audio_transcript.done","response_id":id,"item_id":item,"output_index":0,"content_index":0,"transcript":"Hello, thanks for calling."}));
            out.push(json!({"type":"response.done","response":{"id":id,"status":"completed","output":[]}}));
            self.active = None;
        }
    }

    fn cancel(&mut self, out: &mut Vec<Value>) {
        if let Some(active) = self.active.take() {
            out.push(json!({"type":"response.done","response":{"id":active.id,"status":"cancelled","status_details":{"reason":"turn_detected"},"output":[]}}));
        }
    }

    /// Streams the next piece of the active response (call it every 40 ms
    /// or so: five times faster than real time).
    pub fn on_tick(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        self.stream(&mut out);
        out
    }

    /// Handles one client event.
    pub fn on_client(&mut self, event: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        match event["type"].as_str() {
            Some("session.update") => {
                let td = &event["session"]["audio"]["input"]["turn_detection"];
                if td.is_object() {
                    self.interrupt_response = td["interrupt_response"].as_bool().unwrap_or(true);
                    self.create_response = td["create_response"].as_bool().unwrap_or(true);
                }
                out.push(json!({"type":"session.updated","session":event["session"]}));
            }
            Some("response.create") => {
                self.counts.client_responses += 1;
                self.start_response(&mut out);
            }
            Some("response.cancel") => {
                self.counts.client_cancels += 1;
                if self.active.is_some() {
                    self.cancel(&mut out);
                } else {
                    out.push(json!({"type":"error","error":{"type":"invalid_request_error","code":"response_cancel_not_active","message":"no active response"}}));
                }
            }
            Some("conversation.item.truncate") => {
                self.counts.truncates += 1;
                out.push(json!({"type":"conversation.item.truncated","item_id":event["item_id"],"content_index":0,"audio_end_ms":event["audio_end_ms"]}));
            }
            Some("input_audio_buffer.append") => {
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(event["audio"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                for chunk in audio.chunks(160) {
                    self.hear(chunk, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    fn hear(&mut self, chunk: &[u8], out: &mut Vec<Value>) {
        self.input_ms += chunk.len() as u64 / 8;
        let loud = level_dbfs(chunk) > VAD_THRESHOLD_DBFS;
        if loud {
            self.silent_ms = 0;
            if !self.speaking {
                self.speaking = true;
                self.counts.speech_started += 1;
                out.push(json!({"type":"input_audio_buffer.speech_started","audio_start_ms":self.input_ms,"item_id":format!("in_{}", self.input_ms)}));
                if self.interrupt_response && self.active.is_some() {
                    self.counts.auto_cancels += 1;
                    self.cancel(out);
                }
            }
        } else if self.speaking {
            self.silent_ms += chunk.len() as u64 / 8;
            if self.silent_ms >= SILENCE_MS {
                self.speaking = false;
                out.push(json!({"type":"input_audio_buffer.speech_stopped","audio_end_ms":self.input_ms,"item_id":"in"}));
                out.push(json!({"type":"input_audio_buffer.committed","item_id":"in","previous_item_id":null}));
                if self.create_response {
                    self.counts.auto_responses += 1;
                    self.start_response(out);
                }
            }
        }
    }
}
