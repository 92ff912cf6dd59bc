//! The task that runs one call on a media worker, whatever the caller's
//! transport: the [`CallerLeg`] on one side, the model session on the
//! other, the [`CallCore`] in between, and the 20 ms playout clock.
//!
//! The driver owns what every call needs besides the protocol: opening the
//! model session before the caller's media arrives (pre-warm), reopening it
//! with backoff when it drops, rolling it over before the provider's
//! session cap, running tool calls beside the audio path, and recording
//! the call's figures.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call_log::CallLog;
use super::events::{EndReason, SharedEvents};
use super::leg::{CallerLeg, LegEvent, Sent};
use super::outbox::{Drained, ModelOutbox};
use super::tools::{CallIdentity, CallTools, SharedSidecar};
use super::{CallConfig, CallCore, CallOutput, CallStats};
use crate::drain::{Drain, DrainPhase};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_decode;
use crate::metrics::CallMetrics;
use crate::model::link::{Backend, ModelLink, ModelSession, RealtimeModel};
use crate::model::{ModelCommand, SessionConfig};

mod clock;
mod commands;
mod ending;
mod long_silence;
mod model;
mod room;
mod transfer;

pub use clock::aligned_start;

/// Sessions are replaced before OpenAI's 60-minute cap.
const ROLLOVER_AFTER: Duration = Duration::from_secs(55 * 60);
/// Retry a rollover this often while the agent is speaking.
const ROLLOVER_RETRY: Duration = Duration::from_secs(5);

/// What a call needs to start.
#[derive(Clone, Debug)]
pub struct CallSetup {
    /// Which model.
    pub backend: Backend,
    /// Session settings.
    pub session: SessionConfig,
    /// Call settings.
    pub call: CallConfig,
    /// The ingress, for metrics (`twilio`, `sip`).
    pub ingress: &'static str,
    /// The process's drain: the call ends politely when told to.
    pub drain: Drain,
    /// Who the call is: set by the ingress when the call starts.
    pub identity: CallIdentity,
    /// Runs the call's tools off the media worker; `None` answers every
    /// tool call with an error (tests and tools-less embeddings).
    pub tools: Option<SharedSidecar>,
    /// The `[[tools]]` entries offered to the model (an agent's `tools`,
    /// with `end_call`); `None`: every tool the sidecar has.
    pub tool_entries: Option<Vec<String>>,
    /// Hears `call.started` and `call.ended` (the events webhook); `None`
    /// collects no transcript.
    pub events: Option<SharedEvents>,
    /// Lists the call while it is live, with its command handle and live
    /// events (decision 0022); `None`: unlisted.
    pub registry: Option<super::registry::SharedRegistry>,
}

/// One call between a leg and a model session.
pub struct CallDriver {
    setup: CallSetup,
    core: CallCore,
    model: ModelSession,
    started: Instant,
    /// Caller frames received (their media clock).
    frames: u64,
    reconnect_attempts: u32,
    reconnect_at: Option<Instant>,
    /// Keeps the results channel open while no tool call holds a sender.
    _tool_tx: mpsc::Sender<super::tools::ToolOutput>,
    tool_rx: mpsc::Receiver<super::tools::ToolOutput>,
    /// The call's tools; dropped with the driver, which cancels them.
    tools: Option<Box<dyn CallTools>>,
    hangup: bool,
    model_alive: bool,
    rollover_at: Instant,
    metrics: CallMetrics,
    /// The slot of the tick being served, to time the frame it releases.
    tick_due: Option<Instant>,
    /// Model commands waiting for room in the session's queue.
    outbox: ModelOutbox,
    /// The drain phase: a polite end plays the closing prompt, an end
    /// now hangs up at once.
    drain: tokio::sync::watch::Receiver<DrainPhase>,
    /// The transcript and tool calls, for `call.ended` (only with events).
    log: Option<CallLog>,
    /// Why the call is ending, once known.
    end: Option<(EndReason, Option<String>)>,
    /// Why the core will hang up, when it is not the agent's `end_call`.
    hangup_cause: Option<EndReason>,
    /// When the model's latest function call arrived, for the sidecar's
    /// dispatch figure.
    function_call_at: Option<std::time::Instant>,
    /// The call's entry in the live-call registry, while it runs.
    live: Option<super::live::LiveCall>,
    /// Commands from the call's handle (hang up, add a text item).
    commands: Option<mpsc::Receiver<super::registry::CallCommand>>,
    /// The room, once a room command arrived (`driver/room.rs`).
    room: room::RoomSide,
    /// The call's recording, when it is recorded (`call::recording`).
    recording: Option<super::recording::RecordingTap>,
    /// A warm transfer's bookkeeping (`driver/transfer.rs`).
    transfer: transfer::TransferSide,
    /// The provider is taking the caller elsewhere (a blind transfer):
    /// what it was asked. The leg's end then counts as the transfer.
    handing_over: Option<String>,
}

impl std::fmt::Debug for CallDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallDriver")
            .field("core", &self.core)
            .field("ingress", &self.setup.ingress)
            .finish()
    }
}

impl CallDriver {
    /// Opens the model session now (pre-warm), before the caller's media
    /// arrives. Call from a media worker (the demo backend spawns a local
    /// task).
    pub fn prewarm(mut setup: CallSetup) -> CallDriver {
        // The tools offered now (MCP servers change theirs while we run);
        // the call keeps this list, reconnects and rollovers included.
        let current = setup
            .tools
            .as_ref()
            .and_then(|t| match &setup.tool_entries {
                None => t.current_specs(),
                Some(entries) => {
                    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
                    t.current_specs_of(&entries)
                }
            });
        if let Some(specs) = current {
            setup.session.tools = specs;
        }
        if let Some(tools) = &setup.tools {
            // Shaped for this call's agent (`transfer_call`'s targets).
            let extra = tools.agent_specs(setup.identity.agent.as_deref());
            setup
                .session
                .tools
                .retain(|s| !extra.iter().any(|e| e.name == s.name));
            setup.session.tools.extend(extra);
        }
        let model = setup.backend.open(setup.session.clone());
        let core = CallCore::new(setup.call.clone());
        let (tool_tx, tool_rx) = mpsc::channel(16);
        let tools = setup
            .tools
            .as_ref()
            .map(|sidecar| sidecar.open(setup.identity.clone(), tool_tx.clone()));
        let metrics = CallMetrics::start(setup.ingress).for_agent(setup.identity.agent.as_deref());
        let started = aligned_start();
        let log = (setup.events.is_some() || setup.registry.is_some()).then(|| {
            // The wall-clock time of the call clock's zero.
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let ahead = started.saturating_duration_since(Instant::now());
            CallLog::new(wall + ahead, bytes_per_ms(setup.call.model_audio.output))
        });
        let recording = setup
            .call
            .recorder
            .as_ref()
            .filter(|_| setup.call.record)
            .and_then(|recorder| recorder.start(&setup.identity));
        let mut drain = setup.drain.watch();
        // A call that starts while the process already ends its calls
        // hears about it on its first turn of the loop.
        drain.mark_changed();
        CallDriver {
            setup,
            core,
            model,
            started,
            frames: 0,
            reconnect_attempts: 0,
            reconnect_at: None,
            _tool_tx: tool_tx,
            tool_rx,
            tools,
            hangup: false,
            model_alive: true,
            rollover_at: Instant::now() + ROLLOVER_AFTER,
            metrics,
            tick_due: None,
            outbox: ModelOutbox::new(),
            drain,
            log,
            end: None,
            hangup_cause: None,
            function_call_at: None,
            live: None,
            commands: None,
            room: room::RoomSide::default(),
            recording,
            transfer: transfer::TransferSide::default(),
            handing_over: None,
        }
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    /// When the call's clock starts: its 20 ms grid (and its phase on the
    /// worker's wake-ups), for a leg that keeps its own timer.
    pub fn clock_start(&self) -> Instant {
        self.started
    }

    /// Runs the call until the caller leaves or the call hangs up; returns
    /// its figures (also logged).
    pub async fn run<L: CallerLeg>(mut self, leg: &mut L) -> CallStats {
        if let Some(events) = &self.setup.events {
            events.call_started(&self.setup.identity);
        }
        if let Some(registry) = &self.setup.registry {
            if let Some((live, commands)) =
                super::live::LiveCall::register(registry, &self.setup.identity)
            {
                self.live = Some(live);
                self.commands = Some(commands);
            }
        }
        loop {
            let tick_at = self.started + self.next_tick();
            let reconnect_at = self.reconnect_at;
            let mut ticked = false;
            // A sender of its own (only while control waits), so the permit
            // borrows nothing of `self`.
            let has_control = self.outbox.has_control();
            let waiting = has_control.then(|| self.model.commands.clone());
            tokio::select! {
                event = leg.next_event() => {
                    // After a stall (the process descheduled) both a
                    // playout slot and caller frames are due: the slot goes
                    // first, so echo control knows what was played before
                    // it hears what came back (decision 0042).
                    if Instant::now() >= tick_at {
                        self.serve_slot(tick_at);
                        ticked = true;
                    }
                    if !self.on_leg(event) {
                        break;
                    }
                }
                link = self.model.events.recv(), if self.model_alive => {
                    notify_transcript(leg, &link);
                    self.on_model(link);
                }
                // Cancel safe: a dropped `reserve` loses its place in the
                // channel's queue, never a command (they stay in the outbox).
                permit = reserve_opt(waiting), if has_control => {
                    let drained = match permit {
                        Ok(permit) => self.outbox.send_next(permit, &self.model.commands),
                        Err(_) => Drained::Closed,
                    };
                    if drained == Drained::Closed {
                        self.model_closed_with_control();
                    }
                }
                // Cancel safe: a dropped `recv()` loses nothing.
                Some(command) = super::live::next_command(self.commands.as_mut()) => {
                    match command {
                        // Only the leg can hand its caller elsewhere.
                        super::registry::CallCommand::TransferCaller { target, done } => {
                            tracing::info!(target = %target.name, "transferring the caller");
                            leg.transfer(target, done);
                        }
                        other => self.on_command(other),
                    }
                }
                Some((leg, up)) = room::next_up(self.room.up.as_mut()) => {
                    self.on_leg_up(leg, up);
                }
                Some(answer) = self.tool_rx.recv() => {
                    if let Some(live) = &mut self.live {
                        live.on_tool_result(&answer.call_id);
                    }
                    let now = self.now();
                    if let Some(log) = &mut self.log {
                        log.on_tool_output(now, &answer);
                    }
                    self.core.on_tool_result(&answer.call_id, &answer.output);
                }
                () = tokio::time::sleep_until(tick_at) => {
                    self.serve_slot(tick_at);
                    ticked = true;
                }
                () = tokio::time::sleep_until(self.rollover_at) => {
                    if self.core.on_model_rollover() {
                        tracing::info!("rolling the model session over before its time cap");
                        self.rollover_at = Instant::now() + ROLLOVER_AFTER;
                    } else {
                        self.rollover_at = Instant::now() + ROLLOVER_RETRY;
                    }
                }
                // Cancel safe: a dropped `changed()` loses nothing.
                Ok(()) = self.drain.changed() => self.on_drain(),
                () = sleep_opt(reconnect_at) => {
                    self.reconnect_at = None;
                    tracing::info!(attempt = self.reconnect_attempts, "reopening the model session");
                    self.open_model();
                    self.model_alive = true;
                }
            }
            match self.flush_outputs(leg).await {
                Ok(_) if ticked && self.room.mixing() => {
                    if self.room_tick(leg).await.is_err() {
                        self.end_because(EndReason::ConnectionLost, None);
                        break;
                    }
                }
                Ok(sent_audio) if ticked && !sent_audio => {
                    let due = self.tick_due.take().unwrap_or_else(Instant::now);
                    match leg.send_idle(due).await {
                        Ok(Sent::Now) => self.metrics.frame_sent(due, Instant::now()),
                        Ok(Sent::AtSlot | Sent::Nothing) => {}
                        Err(_) => {
                            self.end_because(EndReason::ConnectionLost, None);
                            break;
                        }
                    }
                }
                Ok(_) => {}
                Err(()) => {
                    self.end_because(EndReason::ConnectionLost, None);
                    break;
                }
            }
            self.transfer_check_turn();
            if self.hangup {
                if let Some(live) = &mut self.live {
                    live.ending();
                }
                leg.hang_up().await;
                break;
            }
        }
        if matches!(self.end, Some((EndReason::Transferred, _))) {
            // The transfer's own answer is on its way: into the record.
            self.late_tool_results().await;
        }
        // The call vanishes from the registry now, however it ended.
        self.live = None;
        self.commands = None;
        let dropped = self.outbox.dropped_total();
        if dropped.frames > 0 {
            tracing::warn!(
                frames = dropped.frames,
                ms = dropped.ms(),
                "caller audio dropped over the call because the model socket fell behind"
            );
        }
        let (end_reason, end_detail) = self.end.clone().unwrap_or((EndReason::CallerHungUp, None));
        self.report_end();
        let mut stats = self.core.stats().clone();
        stats.room_mixed_ticks = self.room.stats().map_or(0, |s| s.mixed_ticks);
        if let Some(room) = self.room.stats().filter(|r| r.mixed_ticks > 0) {
            tracing::info!(
                late_frames = room.late_frames,
                trimmed_frames = room.trimmed_frames,
                "room queues: frames dropped for running ahead, and standing frames given back"
            );
        }
        tracing::info!(
            first_audio_ms = stats.first_audio_after.map(|d| d.as_millis() as u64),
            barge_ins = stats.barge_ins.len(),
            reconnects = stats.reconnects,
            responses = stats.responses,
            reason = end_reason.as_str(),
            detail = end_detail.as_deref().unwrap_or(""),
            "call ended"
        );
        stats
    }

    /// Runs the playout slot due at `slot`; the loop then sends what it
    /// released (or the leg's idle frame).
    fn serve_slot(&mut self, slot: Instant) {
        let now = self.now();
        self.tick_due = Some(slot);
        self.tick_core(now);
    }

    /// The drain moved on: end politely (the closing prompt, then hang
    /// up) or now.
    fn on_drain(&mut self) {
        let phase = *self.drain.borrow_and_update();
        match phase {
            DrainPhase::EndPolitely => {
                self.hangup_cause = Some(EndReason::Drained);
                tracing::info!("server shutting down: closing prompt, then hanging up");
                let prompt = self.setup.drain.closing_prompt().cloned();
                self.core
                    .end_with_prompt(prompt.as_deref().map(Vec::as_slice));
            }
            DrainPhase::EndNow => {
                tracing::info!("server shutting down now: hanging up");
                self.end_because(EndReason::Drained, None);
                self.hangup = true;
            }
            DrainPhase::Serving | DrainPhase::Draining => {}
        }
    }

    /// Handles one leg event; false ends the call.
    fn on_leg(&mut self, event: LegEvent) -> bool {
        let now = self.now();
        match event {
            LegEvent::Started => self.core.on_stream_start(now),
            LegEvent::Audio(mulaw) => {
                if self.room.mixing() {
                    // Recorded as on the direct path: the caller's side
                    // of a hold, brief or bridge is part of the call.
                    if let Some(tap) = &mut self.recording {
                        tap.caller(now, &mulaw[..]);
                    }
                    let mut pcm = [0i16; 160];
                    for (d, &c) in pcm.iter_mut().zip(mulaw.iter()) {
                        *d = ulaw_decode(c);
                    }
                    self.room_caller_frame(&pcm);
                    return true;
                }
                let mut frame = Frame::silence(SampleRate::Hz8000, MediaTime(self.frames * 160));
                for (dst, &code) in frame.samples_mut().iter_mut().zip(mulaw.iter()) {
                    *dst = ulaw_decode(code);
                }
                self.frames += 1;
                if let Some(tap) = &mut self.recording {
                    tap.caller(now, &mulaw[..]);
                }
                self.core.on_caller_frame(now, &frame, &mulaw[..]);
            }
            LegEvent::Dtmf(digit) if self.room.agent_out() => {
                tracing::debug!(%digit, "caller key while the agent is out of the room: not sent");
            }
            LegEvent::Dtmf(digit) => self.core.on_dtmf(digit),
            LegEvent::Mark(name) => self.core.on_mark(&name),
            LegEvent::Ended(reason) => {
                tracing::info!(%reason, "caller leg ended");
                match self.handing_over.take() {
                    Some(detail) => self.end_because(EndReason::Transferred, Some(detail)),
                    None => self.end_because(EndReason::CallerHungUp, Some(reason)),
                }
                return false;
            }
            LegEvent::Transferred(detail) => {
                tracing::info!(%detail, "the caller was transferred");
                self.end_because(EndReason::Transferred, Some(detail));
                return false;
            }
        }
        true
    }

    /// Carries out the core's outputs; `Ok(true)` when a frame of audio
    /// went to the leg, `Err` when the leg is gone.
    async fn flush_outputs<L: CallerLeg>(&mut self, leg: &mut L) -> Result<bool, ()> {
        let mut sent_audio = false;
        while let Some(output) = self.core.poll_output() {
            let sent = match output {
                CallOutput::Audio { mulaw, mark } if self.room.mixing() => {
                    self.room_agent_frame(&mulaw, mark);
                    true
                }
                CallOutput::SendDtmf(slot) if self.room.mixing() => {
                    self.room_agent_frame(&slot.mulaw, None);
                    true
                }
                CallOutput::Audio { mulaw, mark } => {
                    let slot = self.tick_due.take();
                    let due = slot.unwrap_or_else(Instant::now);
                    if let Some(tap) = &mut self.recording {
                        tap.heard(due.saturating_duration_since(self.started), &mulaw);
                    }
                    let result = leg.send_frame(due, &mulaw, mark.as_deref()).await;
                    if let (Ok(Sent::Now), Some(due)) = (&result, slot) {
                        self.metrics.frame_sent(due, Instant::now());
                    }
                    sent_audio = true;
                    result.is_ok()
                }
                CallOutput::SendDtmf(slot) => {
                    let slot_due = self.tick_due.take();
                    let due = slot_due.unwrap_or_else(Instant::now);
                    let result = leg.send_dtmf(due, &slot).await;
                    if let (Ok(Sent::Now), Some(due)) = (&result, slot_due) {
                        self.metrics.frame_sent(due, Instant::now());
                    }
                    sent_audio = true;
                    result.is_ok()
                }
                CallOutput::ClearPlayback => leg.clear().await.is_ok(),
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
                        self.open_model();
                    } else {
                        self.schedule_reconnect();
                    }
                    true
                }
                CallOutput::Hangup => {
                    tracing::info!("hanging up");
                    let cause = self.hangup_cause.unwrap_or(EndReason::AgentEnded);
                    self.end_because(cause, None);
                    self.hangup = true;
                    true
                }
                CallOutput::BargeIn(record) => {
                    leg.notice(super::leg::LegNotice::BargeIn);
                    if let Some(log) = &mut self.log {
                        log.on_barge_in(&record);
                    }
                    if let Some(live) = &mut self.live {
                        live.on_barge_in(self.log.as_ref(), &record);
                    }
                    self.metrics.barge_in(&record);
                    true
                }
                CallOutput::Figure(figure) => {
                    self.metrics.figure(&figure);
                    true
                }
                // Turns matter to other backends.
                CallOutput::CallerTurn { .. } => true,
                CallOutput::LongSilence(change) => {
                    self.long_silence(change);
                    true
                }
            };
            if !sent {
                return Err(());
            }
        }
        Ok(sent_audio)
    }
}

/// Bytes of model output audio per ms.
fn bytes_per_ms(format: crate::model::AudioFormat) -> u32 {
    match format {
        crate::model::AudioFormat::Pcmu | crate::model::AudioFormat::Pcma => 8,
        crate::model::AudioFormat::Pcm16 { rate } => rate / 500,
    }
}

async fn reserve_opt(
    tx: Option<mpsc::Sender<ModelCommand>>,
) -> Result<mpsc::OwnedPermit<ModelCommand>, mpsc::error::SendError<()>> {
    match tx {
        Some(tx) => tx
            .reserve_owned()
            .await
            .map_err(|_| mpsc::error::SendError(())),
        None => std::future::pending().await,
    }
}

/// Passes a transcript line to the leg (a page shows it live).
fn notify_transcript<L: CallerLeg>(leg: &mut L, link: &Option<ModelLink>) {
    use super::events::Speaker;
    use super::leg::LegNotice;
    use crate::model::ModelEvent;
    let (speaker, item_id, text) = match link {
        Some(ModelLink::Event(ModelEvent::AgentTranscriptDone {
            item_id,
            transcript,
        })) => (Speaker::Agent, item_id, transcript),
        Some(ModelLink::Event(ModelEvent::CallerTranscript {
            item_id,
            transcript,
        })) => (Speaker::Caller, item_id, transcript),
        _ => return,
    };
    leg.notice(LegNotice::Transcript {
        speaker,
        item_id,
        text,
    });
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
