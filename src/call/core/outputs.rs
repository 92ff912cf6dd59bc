//! What a call is set up with ([`CallConfig`]) and what it reports: the
//! outputs its driver carries out, the per-call figures and the model
//! session's state as the call sees it.

use super::*;

/// Call settings.
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// The caller's VAD.
    pub vad: CallerVadConfig,
    /// Barge-in confirmation while the agent speaks.
    pub barge_in: BargeInConfig,
    /// The echo seam on the caller's audio.
    pub echo: EchoConfig,
    /// Pause-then-decide and end-of-turn settings.
    pub turn: TurnConfig,
    /// How the leg reports playback.
    pub tracking: PlaybackTracking,
    /// Instructions for the greeting, requested when the stream starts.
    pub greeting: Option<String>,
    /// 8 kHz audio played when the model cannot be reached at all, before
    /// the call ends (without it, the hold tone).
    pub unavailable_prompt: Option<std::sync::Arc<Vec<i16>>>,
    /// The model session's audio formats.
    pub model_audio: ModelAudioFormats,
    /// The filler while a tool runs (`filler`).
    pub filler: FillerConfig,
    /// Seconds of dead air before the agent asks whether the caller is
    /// still there; 0 never asks (`silence`).
    pub silence_reprompt_secs: u64,
    /// Seconds of the caller's silence before the agent says goodbye and
    /// the call ends; 0 never ends it (`silence`).
    pub silence_hangup_secs: u64,
    /// Neither side heard for this long while the AI holds the call
    /// raises the long-silence flag for supervisors (`long_silence`);
    /// zero: never.
    pub long_silence: Duration,
    /// The agent's time limit, from the stream start: then it says
    /// goodbye and the call ends (`core/agent.rs`).
    pub max_duration: Option<Duration>,
    /// A tool run when the call starts, whose result reaches the model
    /// before the greeting is asked for.
    pub lookup: Option<String>,
    /// The post-call survey (`core/survey.rs`); `None`: none.
    pub survey: Option<SurveyConfig>,
    /// Whether the call is recorded (its agent's or trunk's `record`):
    /// the announcement plays first, and the driver taps its audio.
    pub record: bool,
    /// 8 kHz audio a recorded call plays first (`[recording]
    /// announcement_wav`).
    pub announcement: Option<std::sync::Arc<Vec<i16>>>,
    /// Where the driver hands a recorded call's audio (off the audio
    /// path); `None`: nothing is recorded.
    pub recorder: Option<crate::call::recording::SharedRecorder>,
    /// Content hashes of the definitions the call runs with, by kind
    /// (`agent`, `tools`; decision 0026), for `CallEnded.versions`.
    pub versions: std::collections::BTreeMap<String, String>,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            vad: CallerVadConfig::default(),
            barge_in: BargeInConfig::default(),
            echo: EchoConfig::default(),
            turn: TurnConfig::default(),
            tracking: PlaybackTracking::Marks,
            greeting: Some("Greet the caller briefly and ask how you can help.".into()),
            unavailable_prompt: None,
            model_audio: ModelAudioFormats::default(),
            filler: FillerConfig::default(),
            silence_reprompt_secs: 8,
            silence_hangup_secs: 30,
            long_silence: Duration::from_secs(10),
            max_duration: None,
            lookup: None,
            survey: None,
            record: false,
            announcement: None,
            recorder: None,
            versions: std::collections::BTreeMap::new(),
        }
    }
}

/// The model session's lifecycle as the call sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelState {
    /// Opening (pre-warm).
    Connecting,
    /// Configured; audio flows.
    Ready,
    /// The socket dropped; the caller hears the hold tone.
    Reconnecting,
    /// Gone for good.
    Closed,
}

/// One barge-in, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BargeInRecord {
    /// Where the caller's speech began (8 kHz samples of the caller stream).
    pub onset: MediaTime,
    /// When the agent's audio stopped (the pause), on the call clock.
    pub paused_at: Duration,
    /// When warmline judged it an interruption (cancel and truncate).
    pub decided_at: Duration,
    /// Pause time minus the onset's time on the caller's media clock: how
    /// long the caller talked over the agent.
    pub reaction_ms: i64,
    /// What the interrupted item was truncated to, if one was playing.
    pub truncated_item: Option<(String, u64)>,
    /// What triggered it: the local VAD or the model's speech_started.
    pub trigger: &'static str,
}

/// What the call asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutput {
    /// Send this 20 ms of μ-law to the caller, then the mark if any.
    Audio {
        /// The frame.
        mulaw: Vec<u8>,
        /// Mark to send after it (Twilio).
        mark: Option<String>,
    },
    /// Drop whatever the leg has queued for playback (Twilio `clear`).
    ClearPlayback,
    /// A command for the model session.
    Model(ModelCommand),
    /// Run a tool; answer with [`CallCore::on_tool_result`].
    RunTool {
        /// Provider call id.
        call_id: String,
        /// Function.
        name: String,
        /// JSON arguments.
        arguments: String,
    },
    /// Reopen the model session (after a drop, or before the 60-minute cap).
    ReconnectModel,
    /// End the call.
    Hangup,
    /// The caller started or stopped a turn (for backends that need it).
    CallerTurn {
        /// Started (true) or ended (false).
        started: bool,
    },
    /// A barge-in happened.
    BargeIn(BargeInRecord),
    /// A per-call figure, for metrics.
    Figure(CallFigure),
    /// One 20 ms slot of the keys `send_dtmf` presses, in place of agent
    /// audio (see `core/dtmf.rs`).
    SendDtmf(DtmfSlot),
    /// The long-silence flag went up or down (`core/long_silence.rs`).
    LongSilence(SilenceChange),
}

/// Per-call figures reported as they happen (barge-ins have their own
/// [`CallOutput::BargeIn`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFigure {
    /// Stream start to the first agent audio released.
    FirstAudio(Duration),
    /// The caller's turn ended this long before the first audio of the
    /// agent's answer was released: one model round trip as the caller
    /// feels it.
    ModelRoundTrip(Duration),
    /// The model session was lost and is being reopened.
    ModelReconnect,
    /// The agent paused for a sound that proved not to be an
    /// interruption, and resumed.
    FalseInterruption(FalseInterruptionRecord),
}

/// One false interruption: a pause that resumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FalseInterruptionRecord {
    /// Where the sound began (caller stream samples).
    pub onset: MediaTime,
    /// When the agent paused, on the call clock.
    pub paused_at: Duration,
    /// When it resumed.
    pub resumed_at: Duration,
    /// What started the pause.
    pub trigger: &'static str,
}

/// Per-call figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Stream start to the first agent audio released.
    pub first_audio_after: Option<Duration>,
    /// Every barge-in.
    pub barge_ins: Vec<BargeInRecord>,
    /// Model reconnects.
    pub reconnects: u32,
    /// Model responses started.
    pub responses: u32,
    /// Each caller turn end to the first audio of the answer.
    pub round_trips: Vec<Duration>,
    /// Late deltas of cancelled responses dropped.
    pub dropped_deltas: u64,
    /// Times the agent's audio was paused for a caller sound (each ends
    /// as a barge-in or a false interruption).
    pub pauses: u32,
    /// Pauses that resumed.
    pub false_interruptions: Vec<FalseInterruptionRecord>,
    /// Model speech-started events that warmline's own tests did not back
    /// (echo, noise) and so ignored.
    pub model_speech_ignored: u64,
    /// Responses warmline requested at the end of a caller's turn.
    pub turn_responses: u32,
    /// Ticks the call's room mixed (0: the AI-only direct path all along;
    /// set by the driver, decision 0024).
    pub room_mixed_ticks: u64,
}
