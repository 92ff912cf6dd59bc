//! The Twilio Media Streams caller leg, and the task that runs a Twilio
//! call on a media worker.
//!
//! Caller audio is re-cut into 160-byte frames; gaps in Twilio's media
//! timestamps are filled with μ-law silence (up to 10 s) so the VAD and the
//! model see continuous audio. Malformed frames are logged and skipped.
//! Agent frames go out as `media` followed by a generation-tagged `mark`,
//! written together in one flush.

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::server::{StreamSocket, STREAM_WAIT};
use super::stream::{self, Inbound};
use crate::call::driver::{CallDriver, CallSetup};
use crate::call::leg::{CallerLeg, LegError, LegEvent, Sent, FRAME_SAMPLES_8K};
use crate::drain::DrainPhase;

/// Longest gap filled with silence.
const MAX_GAP_MS: u64 = 10_000;

/// Runs the call until the caller hangs up or the stream never arrives.
/// The model session opens at once (pre-warm), before Twilio connects.
pub async fn run_call(token: String, setup: CallSetup, socket: oneshot::Receiver<StreamSocket>) {
    let span = crate::telemetry::call_span(&setup.identity);
    async move {
        // A drain that ends calls stops the wait too: the stream would only
        // be closed again at once.
        let mut drain = setup.drain.watch();
        let driver = CallDriver::prewarm(setup);
        let ending = drain.wait_for(|phase| *phase >= DrainPhase::EndPolitely);
        let accepted = tokio::select! {
            socket = tokio::time::timeout(STREAM_WAIT, socket) => match socket {
                Ok(Ok(accepted)) => accepted,
                _ => {
                    tracing::warn!("Twilio stream never arrived: closing the pre-warmed model session");
                    return;
                }
            },
            _ = ending => {
                tracing::info!("server shutting down before Twilio connected the stream: call dropped");
                return;
            }
        };
        // The connection joins this worker's reactor, where the call runs.
        let tcp = match accepted
            .tcp
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(accepted.tcp))
        {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take over the Twilio stream");
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        let socket = WebSocketStream::from_partially_read(
            tcp,
            accepted.read_ahead.to_vec(),
            Role::Server,
            Some(stream_config()),
        )
        .await;
        let mut leg = TwilioLeg::new(socket, token);
        driver.run(&mut leg).await;
        leg.hang_up().await;
    }
    .instrument(span)
    .await;
}

/// Twilio frames are under 1 KiB: small buffers keep a call's memory low
/// (tungstenite's defaults are 128 KiB each way), and a frame over
/// [`stream::MAX_FRAME_BYTES`] is refused.
fn stream_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(stream::MAX_FRAME_BYTES))
        .max_frame_size(Some(stream::MAX_FRAME_BYTES))
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
}

/// Why a socket error ends the stream, said once: logged here as a
/// warning, and the returned reason ends the call (the driver logs it with
/// the call's figures).
fn socket_error_reason(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
    match error {
        // An oversized frame is refused by tungstenite and ends the
        // stream: there is no resynchronising a WebSocket.
        Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            tracing::warn!(
                size,
                limit = max_size,
                "Twilio sent a frame of {size} bytes, over the {max_size}-byte limit: closing the stream"
            );
            format!("a frame of {size} bytes, over the {max_size}-byte limit")
        }
        Error::Capacity(e) => {
            tracing::warn!(error = %e, "Twilio stream over a size limit: closing it");
            format!("over a size limit: {e}")
        }
        e => {
            tracing::warn!(error = %e, "Twilio stream failed: closing it");
            format!("Twilio socket error: {e}")
        }
    }
}

/// A Media Streams WebSocket as a caller leg.
pub struct TwilioLeg {
    socket: WebSocketStream<TcpStream>,
    token: String,
    stream_sid: Option<String>,
    /// μ-law bytes of caller audio not yet a whole frame.
    carry: Vec<u8>,
    /// Milliseconds of caller audio received (including filled gaps).
    received_ms: u64,
    pending: VecDeque<LegEvent>,
    closed: bool,
}

impl TwilioLeg {
    /// Wraps an accepted stream whose `start` must carry `token`.
    pub fn new(socket: WebSocketStream<TcpStream>, token: String) -> TwilioLeg {
        TwilioLeg {
            socket,
            token,
            stream_sid: None,
            carry: Vec::with_capacity(320),
            received_ms: 0,
            pending: VecDeque::new(),
            closed: false,
        }
    }

    /// Turns one Twilio frame into leg events.
    fn on_text(&mut self, text: &str) {
        let message = match stream::parse(text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "skipped a Twilio frame");
                return;
            }
        };
        match message {
            Inbound::Connected { .. } | Inbound::Unknown => {}
            Inbound::Start {
                stream_sid,
                custom_parameters,
                ..
            } => {
                if custom_parameters.get("call_token") != Some(&self.token) {
                    tracing::warn!("stream start carries the wrong call_token: closing");
                    self.pending
                        .push_back(LegEvent::Ended("wrong call_token".into()));
                    return;
                }
                tracing::info!(%stream_sid, "stream started");
                self.stream_sid = Some(stream_sid);
                self.pending.push_back(LegEvent::Started);
            }
            Inbound::Media {
                timestamp_ms,
                payload,
            } => {
                // Fill a gap in Twilio's media clock with silence.
                if timestamp_ms > self.received_ms + 20 {
                    let gap = (timestamp_ms - self.received_ms).min(MAX_GAP_MS);
                    let silence = vec![0xFFu8; (gap * 8) as usize];
                    self.push_audio(&silence);
                }
                self.push_audio(&payload);
            }
            Inbound::Dtmf { digit } => {
                if let Some(c) = digit.chars().next() {
                    self.pending.push_back(LegEvent::Dtmf(c));
                }
            }
            Inbound::Mark { name } => self.pending.push_back(LegEvent::Mark(name)),
            Inbound::Stop => self
                .pending
                .push_back(LegEvent::Ended("Twilio stopped the stream".into())),
        }
    }

    fn push_audio(&mut self, mulaw: &[u8]) {
        self.carry.extend_from_slice(mulaw);
        self.received_ms += mulaw.len() as u64 / 8;
        let whole = self.carry.len() / FRAME_SAMPLES_8K * FRAME_SAMPLES_8K;
        for chunk in self.carry[..whole].chunks_exact(FRAME_SAMPLES_8K) {
            let mut frame = Box::new([0u8; FRAME_SAMPLES_8K]);
            frame.copy_from_slice(chunk);
            self.pending.push_back(LegEvent::Audio(frame));
        }
        self.carry.drain(..whole);
    }

    async fn send(&mut self, text: String) -> Result<(), LegError> {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| LegError::Closed(e.to_string()))
    }
}

impl CallerLeg for TwilioLeg {
    async fn next_event(&mut self) -> LegEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
                Some(Ok(Message::Close(_))) | None => {
                    return LegEvent::Ended("Twilio closed the stream".into())
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return LegEvent::Ended(socket_error_reason(&e)),
            }
        }
    }

    async fn send_frame(
        &mut self,
        _due: Instant,
        mulaw: &[u8],
        mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        // Nothing can go to Twilio before `start` names the stream.
        let Some(sid) = self.stream_sid.as_deref() else {
            return Ok(Sent::Nothing);
        };
        let media = stream::media(sid, mulaw);
        let mark = mark.map(|name| stream::mark(sid, name));
        let closed = |e: tokio_tungstenite::tungstenite::Error| LegError::Closed(e.to_string());
        // Fed, not sent: one flush (one write) carries the frame and its
        // mark together.
        self.socket
            .feed(Message::text(media))
            .await
            .map_err(closed)?;
        if let Some(mark) = mark {
            self.socket
                .feed(Message::text(mark))
                .await
                .map_err(closed)?;
        }
        self.socket.flush().await.map_err(closed)?;
        Ok(Sent::Now)
    }

    async fn send_idle(&mut self, _due: Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        match self.stream_sid.as_deref() {
            Some(sid) => {
                let clear = stream::clear(sid);
                self.send(clear).await
            }
            None => Ok(()),
        }
    }

    async fn hang_up(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            let _ = self.socket.close(None).await;
        }
    }
}
