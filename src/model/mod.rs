//! Realtime speech model backends behind one interface.
//!
//! The call core speaks [`ModelCommand`] and [`ModelEvent`], never a
//! provider's wire format. A backend turns commands into its protocol and
//! its protocol into events. Audio crosses this boundary in the session's
//! negotiated [`AudioFormat`], so a backend with other rates (Gemini Live:
//! 16 kHz in, 24 kHz out) only changes the formats it announces; the call
//! resamples where the formats differ from the caller leg.
//!
//! This module knows nothing of how the caller arrived.

pub mod audio;
pub mod demo;
pub mod link;
pub mod openai;

use serde::{Deserialize, Serialize};

/// Audio formats a model session can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioFormat {
    /// G.711 μ-law, 8 kHz: telephony passes through untouched.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// 16-bit little-endian PCM at the given rate.
    Pcm16 {
        /// Sample rate in Hz.
        rate: u32,
    },
}

/// Turn detection on the model's side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TurnDetection {
    /// Energy/ML VAD with explicit parameters.
    ServerVad {
        /// 0..1.
        threshold: f32,
        /// Audio kept before the detected start.
        prefix_padding_ms: u32,
        /// Silence that ends a turn.
        silence_duration_ms: u32,
    },
    /// Semantic end-of-turn detection.
    SemanticVad {
        /// `low`, `medium`, `high` or `auto`.
        eagerness: String,
    },
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// How to open a session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// Model name.
    pub model: String,
    /// System instructions.
    pub instructions: String,
    /// Voice.
    pub voice: String,
    /// Caller audio format sent to the model.
    pub input_format: AudioFormat,
    /// Agent audio format received from the model.
    pub output_format: AudioFormat,
    /// Model-side turn detection.
    pub turn_detection: TurnDetection,
    /// Functions.
    pub tools: Vec<ToolSpec>,
    /// Transcription model for the caller's audio.
    pub transcription_model: Option<String>,
    /// The caller's language (ISO 639-1), a hint for transcription.
    pub language: Option<String>,
    /// The provider's input noise filter: `near_field` or `far_field`.
    pub noise_reduction: Option<String>,
}

/// One item of the conversation so far, replayed into a new session after a
/// reconnect or a rollover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationItem {
    /// What the caller said (transcript).
    CallerText(String),
    /// What the agent said (transcript of what was heard).
    AgentText(String),
    /// A function call the agent made.
    FunctionCall {
        /// Provider call id.
        call_id: String,
        /// Function name.
        name: String,
        /// JSON arguments.
        arguments: String,
    },
    /// Its result.
    FunctionOutput {
        /// Provider call id.
        call_id: String,
        /// JSON output.
        output: String,
    },
    /// Context the call gives the model as a system message (the agent's
    /// start-up lookup), not something anyone said.
    Context(String),
}

/// What the call asks of the model.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelCommand {
    /// Caller audio in the session's input format.
    AppendAudio(Vec<u8>),
    /// Ask for a response (queued by the backend while one is active).
    CreateResponse {
        /// Instructions for this response only (e.g. the greeting).
        instructions: Option<String>,
    },
    /// Stop the active response.
    CancelResponse,
    /// Tell the model how much of an item the caller heard.
    Truncate {
        /// The assistant item.
        item_id: String,
        /// Content part (0 for audio).
        content_index: u32,
        /// Heard milliseconds, already clamped to what the model produced.
        audio_end_ms: u64,
    },
    /// A tool's result; the backend follows it with a response request.
    FunctionOutput {
        /// Provider call id.
        call_id: String,
        /// JSON output (a string).
        output: String,
    },
    /// Replay a conversation into a fresh session.
    Replay(Vec<ConversationItem>),
    /// The caller pressed a key; the backend tells the model.
    CallerDtmf(char),
    /// An out-of-band text response on this session, reading the whole
    /// conversation and written to none of it (OpenAI: `response.create`
    /// with `conversation: "none"`): [`SUMMARY_INSTRUCTIONS`] ask for
    /// `{"summary": …, "next_action": …}`. It runs beside the caller's
    /// responses; the answer is [`ModelEvent::Summary`] with the same id.
    Summarize {
        /// Names the answer.
        request_id: String,
    },
}

/// What [`ModelCommand::Summarize`] asks the model for.
pub const SUMMARY_INSTRUCTIONS: &str = "Summarise this call for the human rep who is about to \
take it over. Answer with one JSON object and nothing else: {\"summary\": two or three \
sentences on who is calling, what they need and what was already done, \"next_action\": the \
one thing the rep should do first}.";

/// How a response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStatus {
    /// Finished.
    Completed,
    /// Cancelled (by us or by the server's turn detection).
    Cancelled,
    /// Cut short (token limit, content filter).
    Incomplete,
    /// Failed.
    Failed,
}

/// What the model tells the call.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelEvent {
    /// The session is configured; audio may flow.
    Ready,
    /// A response started.
    ResponseStarted {
        /// Provider response id.
        response_id: String,
    },
    /// Agent audio in the output format.
    AudioDelta {
        /// Response it belongs to.
        response_id: String,
        /// Assistant item.
        item_id: String,
        /// Content part.
        content_index: u32,
        /// Audio bytes.
        audio: Vec<u8>,
    },
    /// The item's audio is complete.
    AudioDone {
        /// Response.
        response_id: String,
        /// Item.
        item_id: String,
    },
    /// Agent transcript text.
    AgentTranscriptDelta {
        /// Item.
        item_id: String,
        /// New text.
        delta: String,
    },
    /// Agent transcript of an item, final.
    AgentTranscriptDone {
        /// Item.
        item_id: String,
        /// Whole text.
        transcript: String,
    },
    /// The caller's words, final (asynchronous; may come late).
    CallerTranscript {
        /// User item.
        item_id: String,
        /// Text.
        transcript: String,
    },
    /// The model heard the caller start speaking.
    SpeechStarted {
        /// Position in the input audio, ms.
        audio_start_ms: u64,
    },
    /// The model heard the caller stop.
    SpeechStopped {
        /// Position in the input audio, ms.
        audio_end_ms: u64,
    },
    /// The model wants a tool run.
    FunctionCall {
        /// Provider call id.
        call_id: String,
        /// Function.
        name: String,
        /// JSON arguments.
        arguments: String,
    },
    /// A response ended.
    ResponseDone {
        /// Response.
        response_id: String,
        /// How.
        status: ResponseStatus,
    },
    /// The answer to [`ModelCommand::Summarize`]: the model's text
    /// (expected to be the JSON asked for), or `None` when the response
    /// failed.
    Summary {
        /// The request's id.
        request_id: String,
        /// The text.
        text: Option<String>,
    },
    /// A provider error; the session usually stays open.
    Error {
        /// Provider code, if any.
        code: Option<String>,
        /// Message.
        message: String,
    },
}
