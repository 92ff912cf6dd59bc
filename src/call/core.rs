//! [`CallCore`]: the per-call state machine. See the module docs of
//! [`crate::call`].
//!
//! Not `Send`: it owns the caller's VAD, whose libfvad handle is not. The
//! driver keeps each call on one media worker thread.

use std::collections::VecDeque;
use std::time::Duration;

use super::barge_in::{BargeInConfig, BargeInDetector};
use super::echo_align::{EchoAlign, FarEndPlayout};
use super::echo_gate::{EchoConfig, EchoGate};
use super::model_audio::{ModelAudio, ModelAudioFormats};
use super::playback::{ItemPlayback, Playback, PlaybackTracking};
use super::turn::{TurnConfig, TurnJudge};
use crate::media::echo::EchoControl;
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_encode;
use crate::media::highpass::HighPass;
use crate::media::pacer::{Pacer, PacerConfig, SourceId, Tick};
use crate::media::vad::{CallerVad, CallerVadConfig};
use crate::model::{ConversationItem, ModelCommand, ModelEvent, ResponseStatus};

/// A caller frame held back from the model: the frame and its μ-law as
/// they came, and what echo control made of them (if anything).
type Held = ((Frame, Vec<u8>), Option<(Frame, Vec<u8>)>);

/// Source id of the hold tone in the pacer (model items count up from 1).
const HOLD_SOURCE: u64 = 0;
/// Responses whose late audio we drop, remembered per call.
const MAX_DISCARDED: usize = 16;
/// Caller audio held back from the model while the agent speaks (300 ms),
/// so that the first syllable of a real interruption reaches it intact.
pub(super) const PREROLL_FRAMES: usize = 15;

mod outputs;
pub use outputs::{
    BargeInRecord, CallConfig, CallFigure, CallOutput, CallStats, FalseInterruptionRecord,
    ModelState,
};

/// The per-call state machine.
pub struct CallCore {
    config: CallConfig,
    vad: CallerVad,
    barge: BargeInDetector,
    echo: EchoGate,
    /// The agent's playout, lined up in time with the caller's audio
    /// before either detector compares them (decision 0042).
    echo_align: EchoAlign,
    highpass: HighPass,
    judge: TurnJudge,
    /// Caller audio held back while the agent speaks (see `turn`).
    preroll: VecDeque<Held>,
    /// The echo suppressor (`media::echo`): what the model hears of the
    /// caller while the agent speaks.
    aec: EchoControl,
    /// The caller's current turn has real speech (not echo, not noise)
    /// and wants an answer.
    turn_real: bool,
    /// Warmline's VAD ended the caller's real turn at this time.
    local_turn_end: Option<Duration>,
    /// The model's turn detection ended the caller's turn.
    model_turn_end: bool,
    /// The model has turn detection of its own (it sent speech events).
    model_has_vad: bool,
    /// Media time of the latest caller frame.
    caller_time: MediaTime,
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
    /// Keys `send_dtmf` waits to send or is sending.
    dtmf: dtmf::DtmfOut,
    filler: filler::Filler,
    silence: silence::Silence,
    long_silence: long_silence::LongSilence,
    agent: agent::AgentState,
    presence: room::Presence,
    survey: survey::Survey,
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
        let mut call = CallCore {
            vad: CallerVad::new(config.vad),
            barge: BargeInDetector::new(config.barge_in),
            echo: EchoGate::new(config.echo),
            echo_align: EchoAlign::new(match config.tracking {
                // Marks are Twilio's: a playback queue.
                PlaybackTracking::Marks => FarEndPlayout::Queue,
                PlaybackTracking::Released { .. } => FarEndPlayout::Timestamps,
            }),
            highpass: HighPass::new(200.0, 8_000.0),
            judge: TurnJudge::new(config.turn),
            preroll: VecDeque::with_capacity(PREROLL_FRAMES + 1),
            aec: EchoControl::new(crate::media::echo::EchoConfig::default()),
            turn_real: false,
            local_turn_end: None,
            model_turn_end: false,
            model_has_vad: false,
            caller_time: MediaTime(0),
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
            dtmf: dtmf::DtmfOut::default(),
            model_audio: ModelAudio::new(config.model_audio).unwrap_or_else(|e| {
                tracing::error!(error = %e, "model audio format unusable; assuming μ-law");
                ModelAudio::pcmu()
            }),
            filler: filler::Filler::default(),
            silence: silence::Silence::default(),
            long_silence: long_silence::LongSilence::new(config.long_silence),
            config,
            agent: agent::AgentState::default(),
            presence: room::Presence::default(),
            survey: survey::Survey::default(),
        };
        call.agent_start();
        call
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        loop {
            let output = self.outputs.pop_front()?;
            if self.passes(&output) {
                return Some(output);
            }
        }
    }

    /// Whether a response of the agent is under way (asked and not done).
    pub fn responding(&self) -> bool {
        self.active_response.is_some()
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
        self.announce();
        if self.agent_holds_greeting() {
            return;
        }
        if let Some(greeting) = self.config.greeting.clone() {
            self.outputs
                .push_back(CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: Some(greeting),
                }));
        }
    }

    /// A mark the leg echoed.
    pub fn on_mark(&mut self, name: &str) {
        self.playback.acknowledged(name);
        self.maybe_hang_up();
    }

    /// A key press.
    pub fn on_dtmf(&mut self, digit: char) {
        if self.survey_key(digit) {
            return;
        }
        if self.dtmf_ignores_caller_key(digit) {
            return;
        }
        self.silence_caller_active(self.filler.now);
        self.outputs
            .push_back(CallOutput::Model(ModelCommand::CallerDtmf(digit)));
    }

    /// A tool finished.
    pub fn on_tool_result(&mut self, call_id: &str, output: &str) {
        self.filler_tool_finished(call_id);
        if self.agent_tool_result(call_id, output) {
            return;
        }
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
        self.drop_playback();
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
        self.drop_playback();
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
        self.survey_cancel();
        self.model_state = ModelState::Closed;
        self.dtmf_abort();
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
                        self.drop_playback();
                    }
                    self.outputs
                        .push_back(CallOutput::Model(ModelCommand::Replay(
                            self.transcript.clone(),
                        )));
                }
                self.presence_on_ready();
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
                if let Some(item) = self
                    .playback
                    .items
                    .iter_mut()
                    .find(|i| i.item_id == item_id)
                {
                    item.done = true;
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
                self.on_caller_transcript(now, &transcript);
                self.transcript
                    .push(ConversationItem::CallerText(transcript));
            }
            ModelEvent::SpeechStarted { .. } => {
                self.model_has_vad = true;
                self.on_model_speech_started(now);
            }
            ModelEvent::SpeechStopped { .. } => {
                self.model_has_vad = true;
                if self.turn_real {
                    self.model_turn_end = true;
                    self.maybe_end_turn(now);
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
                    self.survey_on_end_call();
                    self.on_tool_result(&call_id, r#"{"status":"ending"}"#);
                    self.maybe_hang_up();
                } else if name == "send_dtmf" {
                    self.on_send_dtmf(now, call_id, &arguments);
                } else {
                    self.filler_tool_started(now, &call_id, &name);
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
                self.agent_response_done(&response_id);
                if status == ResponseStatus::Cancelled {
                    self.remember_discarded(response_id);
                }
                self.maybe_hang_up();
            }
            ModelEvent::AgentTranscriptDelta { .. } | ModelEvent::Error { .. } => {}
            // Out-of-band: for the escalation (crate::handoff), not the caller.
            ModelEvent::Summary { .. } => {}
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
        self.filler_yield();
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
                    done: false,
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
        self.agent_tick(now);
        let mut agent_voice = false;
        loop {
            // Keys being sent own the slot; the agent's audio waits.
            let dtmf = self.dtmf_takes_next_slot(now);
            let Some(tick) = self.pacer.poll(now) else {
                break;
            };
            if dtmf {
                self.dtmf_slot(now);
                continue;
            }
            match tick {
                Tick::Frame(f) => {
                    self.echo_align.played(now, f.frame.samples());
                    if f.source.0 != HOLD_SOURCE && !filler::is_filler(f.source.0) {
                        self.agent_audio_released(now);
                        agent_voice = true;
                    }
                    let mulaw: Vec<u8> =
                        f.frame.samples().iter().map(|&s| ulaw_encode(s)).collect();
                    let ms = f.audio_samples as u64 / 8;
                    let mark = match self.config.tracking {
                        PlaybackTracking::Marks => self.playback.released(
                            f.source.0,
                            ms,
                            f.source_offset,
                            &f.frame.samples()[..f.audio_samples],
                        ),
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
                Tick::Idle { .. } | Tick::Underrun { .. } => self.echo_align.idle(now),
            }
        }
        self.maybe_end_turn(now);
        self.filler_tick(now);
        self.silence_tick(now);
        self.long_silence_tick(now, agent_voice);
        self.survey_tick(now);
        self.maybe_hang_up();
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
        if self.hangup_when_played && !self.hung_up && !self.agent_speaking() && !self.dtmf.busy() {
            if self.survey_takes_over() {
                return;
            }
            self.hung_up = true;
            self.outputs.push_back(CallOutput::Hangup);
        }
    }
}

mod agent;
mod dtmf;
mod filler;
mod items;
mod long_silence;
mod room;
mod silence;
mod survey;
pub use agent::{LOOKUP_CALL_ID, TIME_LIMIT_GOODBYE};
mod turn;

pub use dtmf::{DtmfSlot, KeyPress};
pub use filler::FillerConfig;
pub use long_silence::{LongSilence, SilenceChange};
pub use silence::{GOODBYE_HANGUP, GOODBYE_INSTRUCTIONS, REPROMPT_INSTRUCTIONS};
pub use survey::SurveyConfig;

#[cfg(test)]
mod tests;
