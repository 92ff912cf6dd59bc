//! A call in simulated time for the turn-taking tests: a `CallCore`, a
//! model backend (the demo agent, or the real OpenAI session against the
//! fake server VAD of `server_vad`), and a caller line that plays what the
//! agent sent and returns it as echo (a delayed, attenuated copy) on top of
//! the caller's own audio. Twilio-like (marks acknowledged when played,
//! `clear` drops what is queued) or RTP-like (released = played).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use warmline::call::{
    BargeInRecord, CallConfig, CallCore, CallFigure, CallOutput, FalseInterruptionRecord,
    PlaybackTracking,
};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::g711::{ulaw_decode, ulaw_encode};
use warmline::model::demo::DemoAgent;
use warmline::model::openai::session::OpenAiSession;
use warmline::model::{AudioFormat, ModelCommand, ModelEvent, SessionConfig, TurnDetection};

use super::server_vad::{ServerVad, VadCounts};

const TICK: Duration = Duration::from_millis(20);

/// Which model answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The offline demo agent (its greeting is the agent's audio).
    Demo,
    /// The OpenAI session against the fake server VAD.
    OpenAi,
}

/// One simulated call.
pub struct Setup {
    pub tracking: PlaybackTracking,
    pub backend: Backend,
    /// What the fake OpenAI model says (μ-law); ignored by the demo.
    pub agent: Vec<u8>,
    /// Echo delay (ms) and loss (dB), if the line echoes.
    pub echo: Option<(u32, f32)>,
    /// The caller's own audio on the wall clock (8 kHz from t = 0).
    pub caller: Vec<i16>,
    /// How long to run.
    pub duration_ms: u64,
    /// Call settings (tracking is overwritten).
    pub config: CallConfig,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Outcome {
    pub pauses: u32,
    pub barge_ins: Vec<BargeInRecord>,
    /// Whether a response was being generated when each barge-in was
    /// decided (only then is there anything to cancel).
    pub generating_at_barge_in: Vec<bool>,
    pub false_interruptions: Vec<FalseInterruptionRecord>,
    /// When the first `clear` went out (Twilio) or the first pause began.
    pub first_pause: Option<Duration>,
    pub cancels: u32,
    pub truncates: u32,
    /// `CreateResponse` without instructions: warmline answering a turn.
    pub turn_responses: Vec<Duration>,
    /// Responses the model started.
    pub responses: u32,
    /// Caller audio appended to the model, bytes, and how many of them
    /// were the suppressed agent echo (μ-law silence).
    pub appended: usize,
    pub appended_silence: usize,
    /// The fake server's own counts (OpenAI backend).
    pub server: VadCounts,
    /// The agent's audio as the caller heard it, in order.
    pub played: Vec<i16>,
    /// The model's audio, per item in order, padded to whole frames.
    pub expected: Vec<i16>,
    /// Times (ms) at which agent audio was heard, one per frame.
    pub played_at: Vec<u64>,
}

enum Model {
    Demo(Box<DemoAgent>),
    OpenAi {
        session: Box<OpenAiSession>,
        server: Box<ServerVad>,
    },
}

struct Sim {
    call: CallCore,
    model: Model,
    tracking: PlaybackTracking,
    /// Twilio's queue: (play end, mark, samples).
    queue: VecDeque<(Duration, Option<String>, Vec<i16>)>,
    /// Everything played on the wall clock, for echo.
    line: Vec<i16>,
    out: Outcome,
    items: Vec<(String, Vec<u8>)>,
    generating: bool,
}

fn session_config() -> SessionConfig {
    SessionConfig {
        model: "gpt-realtime".into(),
        instructions: "test".into(),
        voice: "marin".into(),
        input_format: AudioFormat::Pcmu,
        output_format: AudioFormat::Pcmu,
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        },
        tools: Vec::new(),
        transcription_model: None,
        language: None,
        noise_reduction: None,
    }
}

impl Sim {
    fn model_event(&mut self, now: Duration, event: ModelEvent) {
        match &event {
            ModelEvent::AudioDelta { item_id, audio, .. } => {
                match self.items.iter_mut().find(|(i, _)| i == item_id) {
                    Some((_, a)) => a.extend_from_slice(audio),
                    None => self.items.push((item_id.clone(), audio.clone())),
                }
            }
            ModelEvent::ResponseStarted { .. } => {
                self.out.responses += 1;
                self.generating = true;
            }
            ModelEvent::ResponseDone { .. } => self.generating = false,
            _ => {}
        }
        self.call.on_model_event(now, event);
    }

    fn send_model(&mut self, now: Duration, command: ModelCommand) {
        match &mut self.model {
            Model::Demo(agent) => {
                agent.command(command);
                let events: Vec<_> = std::iter::from_fn(|| agent.poll_event()).collect();
                for e in events {
                    self.model_event(now, e);
                }
            }
            Model::OpenAi { session, .. } => {
                let sends = session.command(command);
                self.send_server(now, sends);
            }
        }
    }

    fn send_server(&mut self, now: Duration, sends: Vec<serde_json::Value>) {
        let mut pending: VecDeque<serde_json::Value> = sends.into();
        while let Some(v) = pending.pop_front() {
            let Model::OpenAi { server, .. } = &mut self.model else {
                return;
            };
            let replies = server.on_client(&v);
            self.on_server(now, replies, &mut pending);
        }
    }

    fn on_server(
        &mut self,
        now: Duration,
        replies: Vec<serde_json::Value>,
        pending: &mut VecDeque<serde_json::Value>,
    ) {
        for r in replies {
            let Model::OpenAi { session, .. } = &mut self.model else {
                return;
            };
            let step = session.on_server_text(&r.to_string());
            pending.extend(step.send);
            for e in step.events {
                self.model_event(now, e);
            }
        }
    }

    fn server_tick(&mut self, now: Duration) {
        let replies = match &mut self.model {
            Model::OpenAi { server, .. } => server.on_tick(),
            Model::Demo(_) => return,
        };
        let mut pending = VecDeque::new();
        self.on_server(now, replies, &mut pending);
        let sends: Vec<_> = pending.into();
        self.send_server(now, sends);
    }

    fn write_line(&mut self, start_ms: u64, samples: &[i16]) {
        let at = start_ms as usize * 8;
        if self.line.len() < at + samples.len() {
            self.line.resize(at + samples.len(), 0);
        }
        self.line[at..at + samples.len()].copy_from_slice(samples);
        self.out.played.extend_from_slice(samples);
        self.out.played_at.push(start_ms);
    }

    fn drain(&mut self, now: Duration) {
        let generating = self.generating;
        while let Some(output) = self.call.poll_output() {
            match output {
                CallOutput::Audio { mulaw, mark } => {
                    let samples: Vec<i16> = mulaw.iter().map(|&c| ulaw_decode(c)).collect();
                    match self.tracking {
                        PlaybackTracking::Marks => {
                            let start = self.queue.back().map_or(now, |(end, ..)| (*end).max(now));
                            self.queue.push_back((start + TICK, mark, samples));
                        }
                        PlaybackTracking::Released { .. } => {
                            self.write_line(now.as_millis() as u64, &samples)
                        }
                    }
                }
                CallOutput::ClearPlayback => {
                    self.out.first_pause.get_or_insert(now);
                    // Twilio drops what it holds and returns the marks.
                    let dropped: Vec<_> = self.queue.drain(..).collect();
                    for (_, mark, _) in dropped {
                        if let Some(name) = mark {
                            self.call.on_mark(&name);
                        }
                    }
                }
                CallOutput::Model(command) => {
                    match &command {
                        ModelCommand::CancelResponse => self.out.cancels += 1,
                        ModelCommand::Truncate { .. } => self.out.truncates += 1,
                        ModelCommand::CreateResponse { instructions: None } => {
                            self.out.turn_responses.push(now)
                        }
                        ModelCommand::AppendAudio(audio) => {
                            self.out.appended += audio.len();
                            if audio.iter().all(|&c| c == 0xFF) {
                                self.out.appended_silence += audio.len();
                            }
                        }
                        _ => {}
                    }
                    self.send_model(now, command);
                }
                CallOutput::BargeIn(record) => {
                    self.out.barge_ins.push(record);
                    self.out.generating_at_barge_in.push(generating);
                }
                CallOutput::Figure(CallFigure::FalseInterruption(record)) => {
                    self.out.false_interruptions.push(record)
                }
                _ => {}
            }
        }
    }
}

/// Our process stalls (descheduled, as on a loaded machine): from
/// `first_ms`, every `every_ms`, for `length_ms` nothing of the call runs;
/// the line goes on playing and capturing. At the end the overdue playout
/// slot runs first, then the caller frames and marks that queued, in
/// order, as the driver does.
#[derive(Clone, Copy, Debug)]
pub struct Stalls {
    pub first_ms: u64,
    pub every_ms: u64,
    pub length_ms: u64,
}

impl Stalls {
    fn covers(&self, at_ms: u64) -> bool {
        at_ms >= self.first_ms && (at_ms - self.first_ms) % self.every_ms < self.length_ms
    }
}

/// What reached the stalled call, in order.
enum Queued {
    Mark(String),
    Frame(Box<Frame>, Vec<u8>),
}

/// Runs one call.
pub fn run(setup: Setup) -> Outcome {
    run_with_stalls(setup, None)
}

/// Runs one call whose process stalls as `stalls` says.
pub fn run_with_stalls(setup: Setup, stalls: Option<Stalls>) -> Outcome {
    let mut config = setup.config;
    config.tracking = setup.tracking;
    let model = match setup.backend {
        Backend::Demo => Model::Demo(Box::new(DemoAgent::new().expect("demo prompts"))),
        Backend::OpenAi => Model::OpenAi {
            session: Box::new(OpenAiSession::new(session_config())),
            server: Box::new(ServerVad::new(setup.agent.clone(), "c0")),
        },
    };
    let mut sim = Sim {
        call: CallCore::new(config),
        model,
        tracking: setup.tracking,
        queue: VecDeque::new(),
        line: Vec::new(),
        out: Outcome::default(),
        items: Vec::new(),
        generating: false,
    };
    match &mut sim.model {
        Model::Demo(agent) => {
            agent.connect();
            while let Some(e) = agent.poll_event() {
                sim.call.on_model_event(Duration::ZERO, e);
            }
        }
        Model::OpenAi { session, .. } => {
            let sends = session.on_open();
            sim.send_server(Duration::ZERO, sends);
        }
    }
    sim.call.on_stream_start(Duration::ZERO);
    sim.drain(Duration::ZERO);
    let (delay, gain) = match setup.echo {
        Some((ms, loss)) => (ms as usize * 8, 10f32.powf(-loss / 20.0)),
        None => (0, 0.0),
    };
    let frames = setup.duration_ms / 20;
    let mut queued: Vec<Queued> = Vec::new();
    for i in 0..frames {
        let now = TICK * (i as u32 + 1);
        let stalled = stalls.is_some_and(|s| s.covers(now.as_millis() as u64));
        while sim.queue.front().is_some_and(|(end, ..)| *end <= now) {
            let (end, mark, samples) = sim.queue.pop_front().expect("front");
            sim.write_line(end.as_millis() as u64 - 20, &samples);
            if let Some(name) = mark {
                if stalled {
                    queued.push(Queued::Mark(name));
                } else {
                    sim.call.on_mark(&name);
                }
            }
        }
        if !stalled && !queued.is_empty() {
            // The stall is over: the overdue slot first, then what queued.
            sim.call.on_tick(now);
            sim.drain(now);
            for q in queued.drain(..) {
                match q {
                    Queued::Mark(name) => sim.call.on_mark(&name),
                    Queued::Frame(frame, mulaw) => sim.call.on_caller_frame(now, &frame, &mulaw),
                }
                sim.drain(now);
            }
        }
        if i % 2 == 0 {
            sim.server_tick(now);
        }
        let start = i as usize * 160;
        let mut samples = [0i16; 160];
        for (j, s) in samples.iter_mut().enumerate() {
            let n = start + j;
            let own = setup.caller.get(n).copied().unwrap_or(0);
            let echo = if gain > 0.0 && n >= delay {
                f32::from(sim.line.get(n - delay).copied().unwrap_or(0)) * gain
            } else {
                0.0
            };
            *s = (f32::from(own) + echo).clamp(-32768.0, 32767.0) as i16;
        }
        let mulaw: Vec<u8> = samples.iter().map(|&s| ulaw_encode(s)).collect();
        let decoded: Vec<i16> = mulaw.iter().map(|&c| ulaw_decode(c)).collect();
        let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(start as u64), &decoded)
            .expect("frame");
        if stalled {
            queued.push(Queued::Frame(Box::new(frame), mulaw));
            continue;
        }
        sim.call.on_caller_frame(now, &frame, &mulaw);
        sim.drain(now);
        sim.call.on_tick(now);
        sim.drain(now);
    }
    // What Twilio still holds plays out.
    while let Some((end, _, samples)) = sim.queue.pop_front() {
        sim.write_line(end.as_millis() as u64 - 20, &samples);
    }
    let mut out = sim.out;
    out.pauses = sim.call.stats().pauses;
    if let Model::OpenAi { server, .. } = &sim.model {
        out.server = server.counts.clone();
    }
    for (_, audio) in &sim.items {
        let start = out.expected.len();
        out.expected.extend(audio.iter().map(|&c| ulaw_decode(c)));
        let frames = (out.expected.len() - start).div_ceil(160);
        out.expected.resize(start + frames * 160, 0);
    }
    out
}

/// An 8 kHz fixture's samples.
pub fn fixture_samples(name: &str) -> Vec<i16> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    let mut reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .samples::<i16>()
        .map(|s| s.expect("16-bit sample"))
        .collect()
}

/// The first index at which two streams differ, if any.
pub fn first_difference(a: &[i16], b: &[i16]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(
            a.iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len())),
        );
    }
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// p-th percentile (0–100) of sorted values.
pub fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[idx.min(sorted.len() - 1)]
}
