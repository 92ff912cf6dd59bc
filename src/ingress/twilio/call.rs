//! The task that runs one Twilio call on a media worker: the Media Streams
//! socket on one side, the model session on the other, the [`CallCore`] in
//! between, and the 20 ms playout clock.
//!
//! Caller audio is re-cut into 160-byte frames; gaps in Twilio's media
//! timestamps are filled with μ-law silence (up to 10 s) so the VAD and the
//! model see continuous audio. Malformed frames are logged and skipped.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use super::server::{Backend, STREAM_WAIT};
use super::stream::{self, Inbound};
use crate::call::{CallConfig, CallCore, CallOutput};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_decode;
use crate::metrics::CallMetrics;
use crate::model::link::{DemoRealtime, ModelLink, ModelSession, RealtimeModel};
use crate::model::{ModelCommand, SessionConfig};

/// What the webhook hands the call task.
#[derive(Debug)]
pub struct CallSetup {
    /// Twilio's `CallSid`.
    pub call_sid: String,
    /// The stream token.
    pub token: String,
    /// Which model.
    pub backend: Backend,
    /// Session settings.
    pub session: SessionConfig,
    /// Call settings.
    pub call: CallConfig,
}

/// Longest gap filled with silence.
const MAX_GAP_MS: u64 = 10_000;
/// Reconnect attempts before giving up on the model.
const MAX_RECONNECTS: u32 = 5;
/// Sessions are replaced before OpenAI's 60-minute cap.
const ROLLOVER_AFTER: Duration = Duration::from_secs(55 * 60);
/// Retry a rollover this often while the agent is speaking.
const ROLLOVER_RETRY: Duration = Duration::from_secs(5);
/// Tool calls must answer within this.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// The start of a call's clock, aligned to a process-wide 20 ms grid so
/// that every call on a worker ticks at the same instant: one timer wakeup
/// serves them all instead of one per call (measured: kernel scheduling was
/// over half the CPU of a loaded server with per-call phases).
fn aligned_start() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let since = Instant::now().saturating_duration_since(epoch).as_micros() as u64;
    let grid = 20_000u64;
    epoch + Duration::from_micros(since.div_ceil(grid) * grid)
}

fn open(backend: &Backend, session: &SessionConfig) -> ModelSession {
    match backend {
        Backend::Demo => DemoRealtime.open(session.clone()),
        Backend::OpenAi(openai) => openai.open(session.clone()),
    }
}

/// Runs the call until the caller hangs up or the stream never arrives.
pub async fn run_call(setup: CallSetup, socket: oneshot::Receiver<WebSocket>) {
    let span = crate::telemetry::call_span(&setup.call_sid);
    CallTask::run(setup, socket).instrument(span).await;
}

struct CallTask {
    setup: CallSetup,
    core: CallCore,
    model: ModelSession,
    started: Instant,
    stream_sid: Option<String>,
    /// μ-law bytes of caller audio not yet a whole frame.
    carry: Vec<u8>,
    /// Milliseconds of caller audio received (including filled gaps).
    received_ms: u64,
    frames: u64,
    reconnect_attempts: u32,
    reconnect_at: Option<Instant>,
    tool_tx: mpsc::Sender<(String, String)>,
    tool_rx: mpsc::Receiver<(String, String)>,
    hangup: bool,
    model_alive: bool,
    rollover_at: Instant,
    metrics: CallMetrics,
    /// The slot of the frame the current tick releases, to measure how
    /// late it leaves.
    tick_due: Option<Instant>,
}

impl CallTask {
    async fn run(setup: CallSetup, socket: oneshot::Receiver<WebSocket>) {
        // Pre-warm: the model session opens now, before the stream arrives.
        let model = open(&setup.backend, &setup.session);
        let core = CallCore::new(setup.call.clone());
        let (tool_tx, tool_rx) = mpsc::channel(16);
        let mut task = CallTask {
            setup,
            core,
            model,
            started: aligned_start(),
            stream_sid: None,
            carry: Vec::with_capacity(320),
            received_ms: 0,
            frames: 0,
            reconnect_attempts: 0,
            reconnect_at: None,
            tool_tx,
            tool_rx,
            hangup: false,
            model_alive: true,
            rollover_at: Instant::now() + ROLLOVER_AFTER,
            metrics: CallMetrics::start("twilio"),
            tick_due: None,
        };
        let socket = match tokio::time::timeout(STREAM_WAIT, socket).await {
            Ok(Ok(socket)) => socket,
            _ => {
                tracing::warn!("Twilio stream never arrived: closing the pre-warmed model session");
                return;
            }
        };
        task.serve(socket).await;
        let stats = task.core.stats();
        tracing::info!(
            first_audio_ms = stats.first_audio_after.map(|d| d.as_millis() as u64),
            barge_ins = stats.barge_ins.len(),
            reconnects = stats.reconnects,
            responses = stats.responses,
            "call ended"
        );
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    async fn serve(&mut self, mut socket: WebSocket) {
        loop {
            let tick_at = self.started + self.core.next_deadline();
            let reconnect_at = self.reconnect_at;
            tokio::select! {
                frame = socket.recv() => {
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if !self.on_twilio(text.as_str()) {
                                break;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => break,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::info!(error = %e, "Twilio socket error");
                            break;
                        }
                    }
                }
                link = self.model.events.recv(), if self.model_alive => self.on_model(link),
                Some((call_id, output)) = self.tool_rx.recv() => {
                    self.core.on_tool_result(&call_id, &output);
                }
                () = tokio::time::sleep_until(tick_at) => {
                    let now = self.now();
                    self.tick_due = Some(tick_at);
                    self.core.on_tick(now);
                }
                () = tokio::time::sleep_until(self.rollover_at) => {
                    if self.core.on_model_rollover() {
                        tracing::info!("rolling the model session over before its time cap");
                        self.rollover_at = Instant::now() + ROLLOVER_AFTER;
                    } else {
                        self.rollover_at = Instant::now() + ROLLOVER_RETRY;
                    }
                }
                () = sleep_opt(reconnect_at) => {
                    self.reconnect_at = None;
                    tracing::info!(attempt = self.reconnect_attempts, "reopening the model session");
                    self.model = open(&self.setup.backend, &self.setup.session);
                    self.model_alive = true;
                }
            }
            if !self.flush_outputs(&mut socket).await || self.hangup {
                break;
            }
        }
        let _ = socket.close().await;
    }

    /// Handles one Twilio frame; false ends the call.
    fn on_twilio(&mut self, text: &str) -> bool {
        let message = match stream::parse(text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "skipped a Twilio frame");
                return true;
            }
        };
        match message {
            Inbound::Connected { .. } | Inbound::Unknown => {}
            Inbound::Start {
                stream_sid,
                custom_parameters,
                ..
            } => {
                if custom_parameters.get("call_token") != Some(&self.setup.token) {
                    tracing::warn!("stream start carries the wrong call_token: closing");
                    return false;
                }
                tracing::info!(%stream_sid, "stream started");
                self.stream_sid = Some(stream_sid);
                let now = self.now();
                self.core.on_stream_start(now);
            }
            Inbound::Media {
                timestamp_ms,
                payload,
            } => self.on_media(timestamp_ms, &payload),
            Inbound::Dtmf { digit } => {
                if let Some(c) = digit.chars().next() {
                    self.core.on_dtmf(c);
                }
            }
            Inbound::Mark { name } => self.core.on_mark(&name),
            Inbound::Stop => return false,
        }
        true
    }

    fn on_media(&mut self, timestamp_ms: u64, payload: &[u8]) {
        // Fill a gap in Twilio's media clock with silence.
        if timestamp_ms > self.received_ms + 20 {
            let gap = (timestamp_ms - self.received_ms).min(MAX_GAP_MS);
            let silence = vec![0xFFu8; (gap * 8) as usize];
            self.push_audio(&silence);
        }
        self.push_audio(payload);
    }

    fn push_audio(&mut self, mulaw: &[u8]) {
        self.carry.extend_from_slice(mulaw);
        self.received_ms += mulaw.len() as u64 / 8;
        let whole = self.carry.len() / 160 * 160;
        let now = self.now();
        for chunk in self.carry[..whole].chunks_exact(160) {
            let mut frame = Frame::silence(SampleRate::Hz8000, MediaTime(self.frames * 160));
            for (dst, &code) in frame.samples_mut().iter_mut().zip(chunk) {
                *dst = ulaw_decode(code);
            }
            self.frames += 1;
            self.core.on_caller_frame(now, &frame, chunk);
        }
        self.carry.drain(..whole);
    }

    fn on_model(&mut self, link: Option<ModelLink>) {
        let now = self.now();
        match link {
            Some(ModelLink::Event(event)) => {
                if event == crate::model::ModelEvent::Ready {
                    self.reconnect_attempts = 0;
                }
                self.core.on_model_event(now, event);
            }
            Some(ModelLink::Lost(reason)) => {
                tracing::warn!(%reason, "model session lost mid-call");
                self.model_alive = false;
                self.core.on_model_lost();
            }
            Some(ModelLink::Unreachable(reason)) => {
                self.model_alive = false;
                if self.reconnect_attempts > 0 {
                    tracing::warn!(%reason, "model still unreachable");
                    self.schedule_reconnect();
                } else {
                    tracing::error!(%reason, "model unreachable: telling the caller and ending the call");
                    self.core.on_model_unreachable();
                }
            }
            None => {
                self.model_alive = false;
                self.core.on_model_lost();
            }
        }
    }

    async fn flush_outputs(&mut self, socket: &mut WebSocket) -> bool {
        while let Some(output) = self.core.poll_output() {
            let Some(sid) = self.stream_sid.clone() else {
                // Before `start` nothing can be sent to Twilio; model
                // commands still go out.
                if let CallOutput::Model(command) = output {
                    self.send_model(command);
                }
                continue;
            };
            let sent = match output {
                CallOutput::Audio { mulaw, mark } => {
                    // Fed, not sent: one flush (one write) per wake-up
                    // carries the frame and its mark together.
                    let mut ok = socket
                        .feed(Message::text(stream::media(&sid, &mulaw)))
                        .await
                        .is_ok();
                    if let Some(name) = mark {
                        ok &= socket
                            .feed(Message::text(stream::mark(&sid, &name)))
                            .await
                            .is_ok();
                    }
                    ok &= socket.flush().await.is_ok();
                    if let Some(due) = self.tick_due.take() {
                        self.metrics
                            .frame_sent(Instant::now().saturating_duration_since(due));
                    }
                    ok
                }
                CallOutput::ClearPlayback => socket
                    .send(Message::text(stream::clear(&sid)))
                    .await
                    .is_ok(),
                CallOutput::Model(command) => {
                    self.send_model(command);
                    true
                }
                CallOutput::RunTool {
                    call_id,
                    name,
                    arguments,
                } => {
                    self.run_tool(call_id, name, arguments);
                    true
                }
                CallOutput::ReconnectModel => {
                    if self.model_alive {
                        // A rollover: the old session still works; replace it now.
                        self.model = open(&self.setup.backend, &self.setup.session);
                    } else {
                        self.schedule_reconnect();
                    }
                    true
                }
                CallOutput::Hangup => {
                    tracing::info!("hanging up");
                    self.hangup = true;
                    true
                }
                CallOutput::BargeIn(record) => {
                    self.metrics.barge_in(&record);
                    true
                }
                CallOutput::Figure(figure) => {
                    self.metrics.figure(&figure);
                    true
                }
                // Turns matter to other backends.
                CallOutput::CallerTurn { .. } => true,
            };
            if !sent {
                return false;
            }
        }
        true
    }

    fn send_model(&mut self, command: ModelCommand) {
        if let Err(e) = self.model.commands.try_send(command) {
            // Never block the audio path: a full queue drops audio, and a
            // closed one means the session is being replaced.
            tracing::debug!(error = %e, "model command dropped");
        }
    }

    fn schedule_reconnect(&mut self) {
        self.reconnect_attempts += 1;
        if self.reconnect_attempts > MAX_RECONNECTS {
            tracing::error!("model unreachable after {MAX_RECONNECTS} attempts: ending the call");
            self.core.on_model_unreachable();
            return;
        }
        let backoff = Duration::from_millis(100 << self.reconnect_attempts.min(6));
        self.reconnect_at = Some(Instant::now() + backoff);
    }

    fn run_tool(&mut self, call_id: String, name: String, arguments: String) {
        let tx = self.tool_tx.clone();
        tokio::task::spawn_local(async move {
            let output = tokio::time::timeout(TOOL_TIMEOUT, builtin_tool(&name, &arguments))
                .await
                .unwrap_or_else(|_| r#"{"error":"the tool timed out"}"#.to_owned());
            let _ = tx.send((call_id, output)).await;
        });
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The built-in tools available before the tool sidecar (Handoff issue).
async fn builtin_tool(name: &str, arguments: &str) -> String {
    tracing::info!(tool = name, %arguments, "tool call");
    match name {
        "escalate_to_human" => {
            r#"{"status":"unavailable","message":"No human rep is connected to this server yet."}"#
                .to_owned()
        }
        _ => format!(r#"{{"error":"unknown tool {name}"}}"#),
    }
}
