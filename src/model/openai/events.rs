//! GA client events (built as JSON) and server events (parsed leniently).
//!
//! Client events carry only fields of the GA schema; `tests/openai_oracle.rs`
//! validates every one against `openai.types.realtime.RealtimeClientEvent`
//! with no extra field at any level.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{AudioFormat, ConversationItem, SessionConfig, TurnDetection};

fn format_json(format: AudioFormat) -> Value {
    match format {
        AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
        AudioFormat::Pcma => json!({"type": "audio/pcma"}),
        AudioFormat::Pcm16 { rate } => json!({"type": "audio/pcm", "rate": rate}),
    }
}

/// `session.update` in the GA shape (protocols.md §2.3).
///
/// Turn detection keeps the model's end-of-turn judgement (its
/// `speech_stopped` is one of warmline's end-of-turn signals) but takes
/// away its two actions: `interrupt_response: false` (the server never
/// cancels a response because its VAD heard something, possibly the
/// agent's own echo) and `create_response: false` (it never answers on its
/// own). warmline pauses, cancels and truncates, and sends
/// `response.create` when it judged the caller's turn real (decision 0010).
pub fn session_update(config: &SessionConfig) -> Value {
    let turn_detection = match &config.turn_detection {
        TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
        } => json!({
            "type": "server_vad",
            "threshold": threshold,
            "prefix_padding_ms": prefix_padding_ms,
            "silence_duration_ms": silence_duration_ms,
            "create_response": false,
            "interrupt_response": false,
        }),
        TurnDetection::SemanticVad { eagerness } => json!({
            "type": "semantic_vad",
            "eagerness": eagerness,
            "create_response": false,
            "interrupt_response": false,
        }),
    };
    let mut input = json!({
        "format": format_json(config.input_format),
        "turn_detection": turn_detection,
    });
    if let Some(model) = &config.transcription_model {
        input["transcription"] = json!({ "model": model });
        if let Some(language) = &config.language {
            input["transcription"]["language"] = json!(language);
        }
    }
    if let Some(kind) = &config.noise_reduction {
        input["noise_reduction"] = json!({ "type": kind });
    }
    let tools: Vec<Value> = config
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            })
        })
        .collect();
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": config.model,
            "output_modalities": ["audio"],
            "instructions": config.instructions,
            "audio": {
                "input": input,
                "output": { "format": format_json(config.output_format), "voice": config.voice },
            },
            "tools": tools,
            "tool_choice": "auto",
        }
    })
}

/// `input_audio_buffer.append`.
pub fn append(audio: &[u8]) -> Value {
    json!({
        "type": "input_audio_buffer.append",
        "audio": base64::engine::general_purpose::STANDARD.encode(audio),
    })
}

/// `response.create`, optionally with instructions for this response.
pub fn response_create(instructions: Option<&str>) -> Value {
    match instructions {
        Some(text) => json!({"type": "response.create", "response": {"instructions": text}}),
        None => json!({"type": "response.create"}),
    }
}

/// An out-of-band text `response.create` (protocols.md §2.4): written to
/// no conversation (`conversation: "none"`), text only, and with no
/// `input`, so the model reads the whole default conversation. The
/// metadata names the request, so its events are told from the caller's.
pub fn response_create_out_of_band(request_id: &str, instructions: &str) -> Value {
    json!({
        "type": "response.create",
        "response": {
            "conversation": "none",
            "output_modalities": ["text"],
            "instructions": instructions,
            "metadata": {"warmline": "out_of_band", "request_id": request_id},
        },
    })
}

/// `response.cancel`.
pub fn response_cancel() -> Value {
    json!({"type": "response.cancel"})
}

/// `conversation.item.truncate` (integer milliseconds).
pub fn truncate(item_id: &str, content_index: u32, audio_end_ms: u64) -> Value {
    json!({
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    })
}

/// `conversation.item.create` with a `function_call_output`.
pub fn function_call_output(call_id: &str, output: &str) -> Value {
    json!({
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    })
}

/// `conversation.item.create` replaying one item of an earlier session. No
/// item id is sent: the new session assigns fresh ones, so ids from the old
/// session are never reused.
pub fn replay_item(item: &ConversationItem) -> Value {
    let item = match item {
        ConversationItem::CallerText(text) => json!({
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }),
        ConversationItem::AgentText(text) => json!({
            "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": text}],
        }),
        ConversationItem::FunctionCall {
            call_id,
            name,
            arguments,
        } => json!({
            "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
        }),
        ConversationItem::FunctionOutput { call_id, output } => json!({
            "type": "function_call_output", "call_id": call_id, "output": output,
        }),
        ConversationItem::Context(text) => json!({
            "type": "message", "role": "system",
            "content": [{"type": "input_text", "text": text}],
        }),
    };
    json!({"type": "conversation.item.create", "item": item})
}

/// `conversation.item.create` telling the model about a key press (the
/// WebSocket API has no DTMF event of its own).
pub fn dtmf_note(digit: char) -> Value {
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": format!("[The caller pressed {digit} on the keypad.]")}],
        },
    })
}

/// The server events we act on; everything else parses as `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    /// First event.
    #[serde(rename = "session.created")]
    SessionCreated {},
    /// Our update took effect.
    #[serde(rename = "session.updated")]
    SessionUpdated {},
    /// A response began.
    #[serde(rename = "response.created")]
    ResponseCreated {
        /// The response.
        response: ResponseRef,
    },
    /// Agent audio.
    #[serde(rename = "response.output_audio.delta")]
    AudioDelta {
        /// Response id.
        response_id: String,
        /// Item id.
        item_id: String,
        /// Content index.
        #[serde(default)]
        content_index: u32,
        /// Base64 audio.
        delta: String,
    },
    /// Agent audio of an item complete.
    #[serde(rename = "response.output_audio.done")]
    AudioDone {
        /// Response id.
        response_id: String,
        /// Item id.
        item_id: String,
    },
    /// Agent transcript delta.
    #[serde(rename = "response.output_audio_transcript.delta")]
    TranscriptDelta {
        /// Item id.
        item_id: String,
        /// Text.
        delta: String,
    },
    /// Agent transcript final.
    #[serde(rename = "response.output_audio_transcript.done")]
    TranscriptDone {
        /// Item id.
        item_id: String,
        /// Text.
        transcript: String,
    },
    /// Caller transcript final.
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscriptCompleted {
        /// Item id.
        item_id: String,
        /// Text.
        transcript: String,
    },
    /// Caller transcript delta (logged only).
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputTranscriptDelta {},
    /// Caller transcription failed (logged only).
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputTranscriptFailed {},
    /// Server VAD: caller started.
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        /// Position in input audio.
        #[serde(default)]
        audio_start_ms: u64,
    },
    /// Server VAD: caller stopped.
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        /// Position in input audio.
        #[serde(default)]
        audio_end_ms: u64,
    },
    /// A function call's arguments are complete.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallDone {
        /// Call id.
        call_id: String,
        /// Function name.
        name: String,
        /// JSON string.
        arguments: String,
    },
    /// A response ended.
    #[serde(rename = "response.done")]
    ResponseDone {
        /// The response.
        response: ResponseRef,
    },
    /// Rate limits (logged).
    #[serde(rename = "rate_limits.updated")]
    RateLimits {},
    /// An error.
    #[serde(rename = "error")]
    Error {
        /// Details.
        error: ErrorBody,
    },
    /// Anything else.
    #[serde(other)]
    Other,
}

/// `response.id` and `response.status` (and, for out-of-band responses,
/// `metadata` and the `output` items).
#[derive(Debug, Deserialize)]
pub struct ResponseRef {
    /// Response id.
    pub id: String,
    /// `in_progress`, `completed`, `cancelled`, `incomplete`, `failed`.
    #[serde(default)]
    pub status: String,
    /// What `response.create` attached.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// The output items (in `response.done`).
    #[serde(default)]
    pub output: Vec<Value>,
}

impl ResponseRef {
    /// The request id of an out-of-band response warmline created.
    pub fn out_of_band_id(&self) -> Option<&str> {
        let meta = self.metadata.as_ref()?;
        if meta.get("warmline")?.as_str()? != "out_of_band" {
            return None;
        }
        meta.get("request_id")?.as_str()
    }

    /// The text of the output items (`output_text` parts), joined.
    pub fn output_text(&self) -> String {
        self.output
            .iter()
            .filter_map(|item| item.get("content")?.as_array())
            .flatten()
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("output_text"))
            .filter_map(|part| part.get("text")?.as_str())
            .collect::<Vec<_>>()
            .join("")
    }
}

/// `error.{type,code,message}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// Error code.
    #[serde(default)]
    pub code: Option<String>,
    /// Message.
    #[serde(default)]
    pub message: String,
}

/// Parses one server text frame.
pub fn parse_server(text: &str) -> Result<ServerEvent, serde_json::Error> {
    serde_json::from_str(text)
}
