//! [`CallCore`]: the per-call state machine. See the module docs of
//! [`crate::call`].
//!
//! Not `Send`: it owns the caller's VAD, whose libfvad handle is not. The
//! driver keeps each call on one media worker thread.

use std::collections::VecDeque;
use std::time::Duration;

use super::barge_in::{BargeInConfig, BargeInDetector};
use super::model_audio::{ModelAudio, ModelAudioFormats};
use super::playback::{ItemPlayback, Playback, PlaybackTracking};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_encode;
use crate::media::pacer::{Pacer, PacerConfig, SourceId, Tick};
use crate::media::vad::{CallerVad, CallerVadConfig, VadEvent};
use crate::model::{ConversationItem, ModelCommand, ModelEvent, ResponseStatus};

/// Source id of the hold tone in the pacer (model items count up from 1).
const HOLD_SOURCE: u64 = 0;
/// Responses whose late audio we drop, remembered per call.
const MAX_DISCARDED: usize = 16;

/// Call settings.
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// The caller's VAD.
    pub vad: CallerVadConfig,
    /// Barge-in confirmation while the agent speaks.
    pub barge_in: BargeInConfig,
    /// How the leg reports playback.
    pub tracking: PlaybackTracking,
    /// Instructions for the greeting, requested when the stream starts.
    pub greeting: Option<String>,
    /// 8 kHz audio played when the model cannot be reached at all, before
    /// the call ends (without it, the hold tone).
    pub unavailable_prompt: Option<std::sync::Arc<Vec<i16>>>,
    /// The model session's audio formats.
    pub model_audio: ModelAudioFormats,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            vad: CallerVadConfig::default(),
            barge_in: BargeInConfig::default(),
            tracking: PlaybackTracking::Marks,
            greeting: Some("Greet the caller briefly and ask how you can help.".into()),
            unavailable_prompt: None,
            model_audio: ModelAudioFormats::default(),
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
    /// When warmline decided, on the call clock.
    pub decided_at: Duration,
    /// Decision time minus the onset's time on the caller's media clock.
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
}

/// The per-call state machine.
pub struct CallCore {
    config: CallConfig,
    vad: CallerVad,
    barge: BargeInDetector,
    pacer: Pacer,
    playback: Playback,
    discarded: VecDeque<String>,
    active_response: Option<String>,
    model_state: ModelState,
    outputs: VecDeque<CallOutput>,
    stats: CallStats,
    transcript: Vec<ConversationItem>,
    next_source: u64,
    stream_started_at: Option<Duration>,
    /// When the caller's last turn ended, until the answer starts playing.
    turn_ended_at: Option<Duration>,
    /// The caller stream's media time mapped to the call clock at start.
    hangup_when_played: bool,
    hung_up: bool,
    rolling_over: bool,
    model_audio: ModelAudio,
}

impl std::fmt::Debug for CallCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCore")
            .field("model_state", &self.model_state)
            .field("active_response", &self.active_response)
            .field("stats", &self.stats)
            .finish()
    }
}

impl CallCore {
    /// A call whose model session is being opened.
    pub fn new(config: CallConfig) -> CallCore {
        CallCore {
            vad: CallerVad::new(config.vad),
            barge: BargeInDetector::new(config.barge_in),
            pacer: Pacer::new(PacerConfig::new(SampleRate::Hz8000)),
            playback: Playback::default(),
            discarded: VecDeque::new(),
            active_response: None,
            model_state: ModelState::Connecting,
            outputs: VecDeque::new(),
            stats: CallStats::default(),
            transcript: Vec::new(),
            next_source: HOLD_SOURCE + 1,
            stream_started_at: None,
            turn_ended_at: None,
            hangup_when_played: false,
            hung_up: false,
            rolling_over: false,
            model_audio: ModelAudio::new(config.model_audio).unwrap_or_else(|e| {
                tracing::error!(error = %e, "model audio format unusable; assuming μ-law");
                ModelAudio::pcmu()
            }),
            config,
        }
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        self.outputs.pop_front()
    }

    /// When [`on_tick`](Self::on_tick) is next due.
    pub fn next_deadline(&self) -> Duration {
        self.pacer.next_deadline()
    }

    /// Figures so far.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// The model session's state.
    pub fn model_state(&self) -> ModelState {
        self.model_state
    }

    /// The conversation so far (what a new session is replayed).
    pub fn transcript(&self) -> &[ConversationItem] {
        &self.transcript
    }

    /// Whether the agent is audible or about to be: audio queued in the
    /// pacer or sent and not yet acknowledged.
    pub fn agent_speaking(&self) -> bool {
        !self.pacer.is_empty()
            || (self.config.tracking == PlaybackTracking::Marks && self.playback.outstanding() > 0)
    }

    /// The caller's stream started: request the greeting.
    pub fn on_stream_start(&mut self, now: Duration) {
        self.stream_started_at = Some(now);
        if let Some(greeting) = self.config.greeting.clone() {
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: Some(greeting),
                }));
        }
    }

    /// One 20 ms frame of caller audio: `frame` decoded at 8 kHz, `mulaw`
    /// the original payload (forwarded to a μ-law model untouched).
    pub fn on_caller_frame(&mut self, now: Duration, frame: &Frame, mulaw: &[u8]) {
        if self.model_state == ModelState::Ready {
            let audio = self.model_audio.caller_frame(frame, mulaw);
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::AppendAudio(audio)));
        }
        let event = self.vad.push(frame).ok().flatten();
        // The voicing and echo checks cost more than the VAD: run them only
        // when a barge-in is possible.
        let qualifies = if self.vad.last_decision() && self.agent_speaking() {
            self.barge.caller_frame(frame)
        } else {
            self.barge.skip_caller_frame(frame);
            false
        };
        match event {
            Some(VadEvent::SpeechStarted { .. }) => self
                .outputs
                .push_back(CallOutput::CallerTurn { started: true }),
            Some(VadEvent::SpeechStopped { .. }) => {
                // A turn that ends while the agent talks on (a cough, a
                // backchannel) is not waiting for an answer.
                if !self.agent_speaking() {
                    self.turn_ended_at = Some(now);
                }
                self.outputs
                    .push_back(CallOutput::CallerTurn { started: false });
            }
            None => {}
        }
        if self.vad.is_speaking() && qualifies && self.barge.confirmed() && self.agent_speaking() {
            let onset = self.vad.onset().unwrap_or(frame.timestamp());
            self.barge_in(now, onset, frame.timestamp(), "local_vad");
        }
    }

    /// A mark the leg echoed.
    pub fn on_mark(&mut self, name: &str) {
        self.playback.acknowledged(name);
        self.maybe_hang_up();
    }

    /// A key press.
    pub fn on_dtmf(&mut self, digit: char) {
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::CallerDtmf(digit)));
    }

    /// A tool finished.
    pub fn on_tool_result(&mut self, call_id: &str, output: &str) {
        self.transcript.push(ConversationItem::FunctionOutput {
            call_id: call_id.to_owned(),
            output: output.to_owned(),
        });
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::FunctionOutput {
                call_id: call_id.to_owned(),
                output: output.to_owned(),
            }));
    }

    /// The model session dropped. The caller hears the hold tone from the
    /// next tick; the driver reopens the session with backoff.
    pub fn on_model_lost(&mut self) {
        if self.model_state == ModelState::Closed {
            return;
        }
        self.rolling_over = false;
        self.model_state = ModelState::Reconnecting;
        self.stats.reconnects += 1;
        self.outputs
            .push_back(CallOutput::Figure(CallFigure::ModelReconnect));
        self.active_response = None;
        // Whatever the old session was saying is gone with it.
        self.pacer.flush();
        self.push_hold_tone();
        self.outputs.push_back(CallOutput::ReconnectModel);
    }

    /// Replaces the model session before the provider's session cap (60
    /// minutes for OpenAI): no hold tone, nothing flushed; the new session
    /// gets the conversation replayed when it is ready. Returns false (and
    /// does nothing) while the agent is speaking: try again shortly.
    pub fn on_model_rollover(&mut self) -> bool {
        if self.agent_speaking() || self.model_state != ModelState::Ready {
            return false;
        }
        self.model_state = ModelState::Reconnecting;
        self.rolling_over = true;
        self.active_response = None;
        self.outputs.push_back(CallOutput::ReconnectModel);
        true
    }

    /// The model cannot be reached at all: say so and end the call.
    pub fn on_model_unreachable(&mut self) {
        self.model_state = ModelState::Closed;
        self.pacer.flush();
        match self.config.unavailable_prompt.clone() {
            Some(prompt) => {
                let _ = self.pacer.push(SourceId(HOLD_SOURCE), &prompt);
                self.pacer.finish(SourceId(HOLD_SOURCE));
            }
            None => self.push_hold_tone(),
        }
        self.hangup_when_played = true;
        self.maybe_hang_up();
    }

    /// The server is shutting down and the call must end: stop the agent
    /// (its queued audio and the leg's), play `prompt` (8 kHz PCM), then
    /// hang up. Without a prompt, hang up at once. The driver stops
    /// listening to the model: nothing it says is played any more.
    pub fn end_with_prompt(&mut self, prompt: Option<&[i16]>) {
        self.model_state = ModelState::Closed;
        self.active_response = None;
        self.pacer.flush();
        self.outputs.push_back(CallOutput::ClearPlayback);
        // Marks outstanding for the cleared audio no longer hold the hangup.
        self.playback.new_generation();
        if let Some(prompt) = prompt {
            let _ = self.pacer.push(SourceId(HOLD_SOURCE), prompt);
            self.pacer.finish(SourceId(HOLD_SOURCE));
        }
        self.hangup_when_played = true;
        self.maybe_hang_up();
    }

    fn push_hold_tone(&mut self) {
        // 300 ms of a soft 440 Hz tone, then 700 ms of silence: "still here".
        let mut tone = [0i16; 8_000];
        for (i, s) in tone.iter_mut().enumerate().take(2_400) {
            let t = i as f32 / 8_000.0;
            *s = (2_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16;
        }
        let _ = self.pacer.push(SourceId(HOLD_SOURCE), &tone);
        self.pacer.finish(SourceId(HOLD_SOURCE));
    }

    /// An event from the model session.
    pub fn on_model_event(&mut self, now: Duration, event: ModelEvent) {
        match event {
            ModelEvent::Ready => {
                let reconnected = self.model_state == ModelState::Reconnecting;
                self.model_state = ModelState::Ready;
                if reconnected {
                    // Stop the hold tone (there is none on a rollover) and
                    // bring the new session up to date before anything else
                    // reaches it.
                    if !std::mem::take(&mut self.rolling_over) {
                        self.pacer.flush();
                    }
                    self.outputs
                        .push_back(CallOutput::Model(ModelCommand::Replay(
                            self.transcript.clone(),
                        )));
                }
            }
            ModelEvent::ResponseStarted { response_id } => {
                self.stats.responses += 1;
                self.active_response = Some(response_id);
            }
            ModelEvent::AudioDelta {
                response_id,
                item_id,
                content_index,
                audio,
            } => self.on_audio_delta(now, response_id, item_id, content_index, &audio),
            ModelEvent::AudioDone { item_id, .. } => {
                if let Some(item) = self.playback.items.iter().find(|i| i.item_id == item_id) {
                    let tail = self.model_audio.agent_done(item.source);
                    let _ = self.pacer.push(SourceId(item.source), tail);
                    self.pacer.finish(SourceId(item.source));
                }
            }
            ModelEvent::AgentTranscriptDone { transcript, .. } => {
                self.transcript
                    .push(ConversationItem::AgentText(transcript));
            }
            ModelEvent::CallerTranscript { transcript, .. } => {
                self.transcript
                    .push(ConversationItem::CallerText(transcript));
            }
            ModelEvent::SpeechStarted { .. } => {
                if self.agent_speaking() {
                    let onset = self.vad.onset().unwrap_or(MediaTime(0));
                    self.barge_in(now, onset, onset, "model_speech_started");
                }
            }
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                self.transcript.push(ConversationItem::FunctionCall {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                });
                if name == "end_call" {
                    // Let the agent finish its sentence, then hang up.
                    self.hangup_when_played = true;
                    self.on_tool_result(&call_id, r#"{"status":"ending"}"#);
                    self.maybe_hang_up();
                } else {
                    self.outputs.push_back(CallOutput::RunTool {
                        call_id,
                        name,
                        arguments,
                    });
                }
            }
            ModelEvent::ResponseDone {
                response_id,
                status,
            } => {
                if self.active_response.as_deref() == Some(response_id.as_str()) {
                    self.active_response = None;
                }
                if status == ResponseStatus::Cancelled {
                    self.remember_discarded(response_id);
                }
                self.maybe_hang_up();
            }
            ModelEvent::AgentTranscriptDelta { .. }
            | ModelEvent::SpeechStopped { .. }
            | ModelEvent::Error { .. } => {}
        }
    }

    fn on_audio_delta(
        &mut self,
        now: Duration,
        response_id: String,
        item_id: String,
        content_index: u32,
        audio: &[u8],
    ) {
        // After a polite end (or an unreachable model) nothing the model
        // says is played.
        if self.discarded.iter().any(|r| *r == response_id)
            || self.model_state == ModelState::Closed
        {
            self.stats.dropped_deltas += 1;
            return;
        }
        let source = match self
            .playback
            .items
            .iter()
            .find(|i| i.item_id == item_id && i.content_index == content_index)
        {
            Some(item) => item.source,
            None => {
                let source = self.next_source;
                self.next_source += 1;
                self.playback.add_item(ItemPlayback {
                    response_id,
                    item_id,
                    content_index,
                    source,
                    released_ms: 0,
                    heard_ms: 0,
                });
                source
            }
        };
        let pcm = self.model_audio.agent_delta(source, audio);
        // Over two minutes queued: the model is far ahead; drop.
        let _ = self.pacer.push(SourceId(source), pcm);
        let _ = now;
    }

    fn agent_audio_released(&mut self, now: Duration) {
        if self.stats.first_audio_after.is_none() {
            let after = now.saturating_sub(self.stream_started_at.unwrap_or_default());
            self.stats.first_audio_after = Some(after);
            self.outputs
                .push_back(CallOutput::Figure(CallFigure::FirstAudio(after)));
        }
        if let Some(ended) = self.turn_ended_at.take() {
            let took = now.saturating_sub(ended);
            self.stats.round_trips.push(took);
            self.outputs
                .push_back(CallOutput::Figure(CallFigure::ModelRoundTrip(took)));
        }
    }

    /// Runs the playout clock up to `now`.
    pub fn on_tick(&mut self, now: Duration) {
        while let Some(tick) = self.pacer.poll(now) {
            match tick {
                Tick::Frame(f) => {
                    self.barge.agent_played(f.frame.level_dbfs());
                    if f.source.0 != HOLD_SOURCE {
                        self.agent_audio_released(now);
                    }
                    let mulaw: Vec<u8> =
                        f.frame.samples().iter().map(|&s| ulaw_encode(s)).collect();
                    let ms = f.audio_samples as u64 / 8;
                    let mark = match self.config.tracking {
                        PlaybackTracking::Marks => self.playback.released(f.source.0, ms),
                        PlaybackTracking::Released { allowance_ms } => {
                            if let Some(item) = self.playback.item_mut(f.source.0) {
                                item.released_ms += ms;
                                item.heard_ms = item.released_ms.saturating_sub(allowance_ms);
                            }
                            None
                        }
                    };
                    self.outputs.push_back(CallOutput::Audio { mulaw, mark });
                }
                Tick::Idle { .. } | Tick::Underrun { .. } => {
                    self.barge.agent_played(f32::NEG_INFINITY);
                }
            }
        }
        self.maybe_hang_up();
    }

    fn barge_in(&mut self, now: Duration, onset: MediaTime, _at: MediaTime, trigger: &'static str) {
        // The last words of a call (the closing or unavailable prompt) are
        // not interrupted: no agent is left to take the caller's turn.
        if self.model_state == ModelState::Closed {
            return;
        }
        // Stop the audio within this frame: drop our queue and the leg's.
        let flushed = self.pacer.flush();
        self.outputs.push_back(CallOutput::ClearPlayback);
        if let Some(active) = self.active_response.take() {
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CancelResponse));
            self.remember_discarded(active);
        }
        // Truncate every item that was playing to what the caller heard.
        let mut truncated = None;
        let items: Vec<ItemPlayback> = self.playback.items.drain(..).collect();
        for item in items {
            let was_in_flight = flushed.sources.iter().any(|s| s.source.0 == item.source)
                || item.released_ms > item.heard_ms;
            if !was_in_flight {
                continue;
            }
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::Truncate {
                    item_id: item.item_id.clone(),
                    content_index: item.content_index,
                    audio_end_ms: item.heard_ms,
                }));
            truncated.get_or_insert((item.item_id.clone(), item.heard_ms));
        }
        self.playback.new_generation();
        self.barge.reset_caller();
        let onset_on_clock =
            self.stream_started_at.unwrap_or_default() + Duration::from_micros(onset.0 * 125);
        let record = BargeInRecord {
            onset,
            decided_at: now,
            reaction_ms: now.as_millis() as i64 - onset_on_clock.as_millis() as i64,
            truncated_item: truncated,
            trigger,
        };
        tracing::info!(
            reaction_ms = record.reaction_ms,
            truncated = ?record.truncated_item,
            trigger,
            "barge-in"
        );
        self.stats.barge_ins.push(record.clone());
        self.outputs.push_back(CallOutput::BargeIn(record));
    }

    fn remember_discarded(&mut self, response_id: String) {
        if self.discarded.contains(&response_id) {
            return;
        }
        if self.discarded.len() == MAX_DISCARDED {
            self.discarded.pop_front();
        }
        self.discarded.push_back(response_id);
    }

    fn maybe_hang_up(&mut self) {
        if self.hangup_when_played && !self.hung_up && !self.agent_speaking() {
            self.hung_up = true;
            self.outputs.push_back(CallOutput::Hangup);
        }
    }
}

#[cfg(test)]
mod tests;
