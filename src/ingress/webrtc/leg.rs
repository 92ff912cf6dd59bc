//! The WebRTC caller leg: one browser's str0m [`Rtc`] and its UDP socket,
//! as a [`CallerLeg`] for the call driver.
//!
//! str0m is sans-IO: this shell feeds it datagrams and time, and puts what
//! it asks for on the wire. It runs on the call's media worker, on the
//! call's own 20 ms clock: agent audio is Opus-encoded and written at the
//! driver's tick, caller audio is decoded as it arrives (the browser paces
//! it at 20 ms). The signalling WebSocket stays on the HTTP runtime and
//! talks to the leg through two bounded channels: [`Control`] in (never
//! dropped: the sender waits), [`ServerMessage`]s out (transcript lines
//! are dropped when the page cannot keep up, never the call).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use str0m::media::{Frequency, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::codec::{OpusCodec, RTP_TICKS_PER_FRAME};
use super::signal::ServerMessage;
use crate::call::leg::{CallerLeg, LegError, LegEvent, LegNotice, Sent, FRAME_SAMPLES_8K};

mod linked;
pub use linked::link;

/// A browser that has not connected its media this long after the
/// answer is gone.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connected browser whose ICE stays disconnected this long is gone.
/// str0m reports `Disconnected` whenever no candidate pair is usable for
/// a moment (a trickled candidate of another address family, a lost
/// consent check) and back again when one is, so the state alone is not
/// the end: browsers likewise wait before calling a connection failed.
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(5);

/// What the signalling side tells the leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// A trickled ICE candidate from the browser.
    Candidate(String),
    /// The browser hung up, or its WebSocket closed.
    Ended(String),
}

/// What a leg is built from.
#[derive(Debug)]
pub struct WebRtcParts {
    /// The session, with the browser's offer accepted.
    pub rtc: Rtc,
    /// The media socket (bound, non-blocking).
    pub socket: std::net::UdpSocket,
    /// The address advertised in our candidate: datagrams arrive "at" it
    /// whatever the socket is bound to (a wildcard, or behind NAT).
    pub advertised: SocketAddr,
    /// From the signalling side.
    pub control: mpsc::Receiver<Control>,
    /// To the page.
    pub to_page: mpsc::Sender<ServerMessage>,
}

/// One browser's media, as a caller leg.
pub struct WebRtcLeg {
    rtc: Rtc,
    socket: UdpSocket,
    advertised: SocketAddr,
    control: mpsc::Receiver<Control>,
    to_page: mpsc::Sender<ServerMessage>,
    codec: OpusCodec,
    /// The audio m-line and Opus payload type, once negotiated.
    audio: Option<(Mid, str0m::format::PayloadParams)>,
    connected: bool,
    connect_by: Instant,
    /// Set while ICE is disconnected after the media connected: the leg
    /// ends if it has not come back by then.
    gone_by: Option<Instant>,
    clock: Instant,
    pending: VecDeque<LegEvent>,
    decoded: Vec<[u8; FRAME_SAMPLES_8K]>,
    buf: Box<[u8; 2048]>,
    packet: Box<[u8; 1500]>,
    /// The page dropped notices because it could not keep up.
    dropped_notices: u64,
    /// Why the leg ended, once it has.
    ended: Option<String>,
    /// `hang_up` ran (the driver and the call task may both call it).
    hung_up: bool,
    /// A leg linked to a room: Opus at 16 kHz and its decoded frames
    /// (`leg/linked.rs`); `None` for the caller leg.
    wide: Option<linked::Wide>,
}

impl std::fmt::Debug for WebRtcLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcLeg")
            .field("advertised", &self.advertised)
            .field("connected", &self.connected)
            .finish()
    }
}

impl WebRtcLeg {
    /// Registers the socket with the current (media worker) runtime;
    /// `clock` is the call driver's clock start, the origin of the RTP
    /// media time of the audio we send.
    pub fn new(parts: WebRtcParts, clock: Instant) -> Result<WebRtcLeg, super::WebRtcError> {
        let socket = UdpSocket::from_std(parts.socket).map_err(super::WebRtcError::Socket)?;
        Ok(WebRtcLeg {
            rtc: parts.rtc,
            socket,
            advertised: parts.advertised,
            control: parts.control,
            to_page: parts.to_page,
            codec: OpusCodec::new()?,
            audio: None,
            connected: false,
            connect_by: Instant::now() + CONNECT_TIMEOUT,
            gone_by: None,
            clock,
            pending: VecDeque::new(),
            decoded: Vec::with_capacity(6),
            buf: Box::new([0u8; 2048]),
            packet: Box::new([0u8; 1500]),
            dropped_notices: 0,
            ended: None,
            hung_up: false,
            wide: None,
        })
    }

    fn tell_page(&mut self, message: ServerMessage) {
        if self.to_page.try_send(message).is_err() {
            self.dropped_notices += 1;
        }
    }

    /// Runs str0m until it waits for input: sends what it transmits,
    /// handles its events; returns when it next wants the time.
    fn drive(&mut self) -> Option<Instant> {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::warn!(error = %e, "WebRTC session failed");
                    self.end(format!("WebRTC session failed: {e}"));
                    return None;
                }
            };
            match output {
                Output::Timeout(at) => return Some(Instant::from_std(at)),
                Output::Transmit(t) => {
                    // A full socket buffer drops the datagram, as the
                    // network would: never wait on the media path.
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected if !self.connected => {
                self.connected = true;
                tracing::info!("WebRTC media connected");
                self.tell_page(ServerMessage::State { state: "connected" });
                self.pending.push_back(LegEvent::Started);
            }
            Event::MediaAdded(added) => {
                let opus = self.rtc.writer(added.mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == str0m::format::Codec::Opus)
                        .cloned()
                });
                tracing::debug!(mid = %added.mid, found = opus.is_some(), "WebRTC media added");
                match opus {
                    Some(params) => self.audio = Some((added.mid, params)),
                    None => self.end("the browser offered no Opus".into()),
                }
            }
            Event::MediaData(data) if self.wide.is_some() => self.on_wide_data(&data.data),
            Event::MediaData(data) => {
                if let Err(e) = self.codec.decode(&data.data, &mut self.decoded) {
                    tracing::debug!(error = %e, "skipped an Opus packet");
                }
                for frame in self.decoded.drain(..) {
                    self.pending.push_back(LegEvent::Audio(Box::new(frame)));
                }
            }
            // Before the media connects, `CONNECT_TIMEOUT` is the bound:
            // a first candidate str0m cannot pair is not the end.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::debug!(connected = self.connected, "WebRTC ICE disconnected");
                if self.connected && self.gone_by.is_none() {
                    self.gone_by = Some(Instant::now() + DISCONNECT_GRACE);
                }
            }
            Event::IceConnectionStateChange(_) if self.gone_by.take().is_some() => {
                tracing::info!("WebRTC ICE reconnected");
            }
            _ => {}
        }
    }

    /// When the leg ends unless the media connects (or comes back).
    fn give_up_by(&self) -> Option<Instant> {
        if self.connected {
            self.gone_by
        } else {
            Some(self.connect_by)
        }
    }

    /// `give_up_by` passed.
    fn give_up(&mut self) {
        if self.connected {
            tracing::info!(grace = ?DISCONNECT_GRACE, "the browser's media stayed disconnected");
            self.end("the browser's media went away".into());
        } else {
            tracing::warn!("the browser never connected its media");
            self.end("the browser never connected its media".into());
        }
    }

    fn end(&mut self, reason: String) {
        if self.ended.is_none() {
            self.ended = Some(reason.clone());
            self.pending.push_back(LegEvent::Ended(reason));
        }
    }

    fn on_datagram(&mut self, n: usize, source: SocketAddr) {
        let Ok(contents) = self.buf[..n].try_into() else {
            return; // not STUN, DTLS or (S)RTP: ignored
        };
        let input = Input::Receive(
            Instant::now().into_std(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.advertised,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(error = %e, "WebRTC input refused");
        }
    }

    fn on_control(&mut self, control: Option<Control>) {
        match control {
            Some(Control::Candidate(candidate)) => {
                let line = candidate.strip_prefix("a=").unwrap_or(&candidate);
                if let Ok(candidate) = Candidate::from_sdp_string(line) {
                    self.rtc.add_remote_candidate(candidate);
                }
            }
            Some(Control::Ended(reason)) => self.end(reason),
            None => self.end("signalling went away".into()),
        }
    }

    /// Encodes one 20 ms frame and writes it for the slot `due`.
    fn write(&mut self, due: Instant, mulaw: &[u8]) -> Result<Sent, LegError> {
        let Some((mid, params)) = self.audio else {
            return Ok(Sent::Nothing);
        };
        if !self.connected || self.ended.is_some() {
            return Ok(Sent::Nothing);
        }
        let n = match self.codec.encode(mulaw, &mut self.packet[..]) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "agent audio not sent");
                return Ok(Sent::Nothing);
            }
        };
        // The RTP clock counts the call's 20 ms slots, so it follows the
        // playout clock exactly (48 kHz, RFC 7587).
        let slot = due.saturating_duration_since(self.clock).as_micros() as u64 / 20_000;
        let rtp_time = MediaTime::new(slot * RTP_TICKS_PER_FRAME, Frequency::FORTY_EIGHT_KHZ);
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(Sent::Nothing);
        };
        if let Err(e) = writer.write(params.pt(), due.into_std(), rtp_time, &self.packet[..n]) {
            return Err(LegError::Closed(format!("WebRTC write failed: {e}")));
        }
        self.drive();
        Ok(Sent::Now)
    }
}

impl CallerLeg for WebRtcLeg {
    async fn next_event(&mut self) -> LegEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let wake = self.drive();
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let give_up_by = self.give_up_by();
            tokio::select! {
                received = self.socket.recv_from(&mut self.buf[..]) => {
                    if let Ok((n, source)) = received {
                        self.on_datagram(n, source);
                    }
                }
                control = self.control.recv() => self.on_control(control),
                () = sleep_opt(wake) => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now().into_std()));
                }
                () = sleep_opt(give_up_by) => self.give_up(),
            }
        }
    }

    async fn send_frame(
        &mut self,
        due: Instant,
        mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        self.write(due, mulaw)
    }

    async fn send_idle(&mut self, due: Instant) -> Result<Sent, LegError> {
        // Silence keeps the browser's jitter buffer and clock running, as
        // RTP legs do.
        self.write(due, &[0xFFu8; FRAME_SAMPLES_8K])
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        // Frames are encoded and sent at their slot: nothing is held back
        // here; the pacer already stopped releasing.
        Ok(())
    }

    async fn hang_up(&mut self) {
        if std::mem::replace(&mut self.hung_up, true) {
            return;
        }
        if self.dropped_notices > 0 {
            tracing::info!(
                dropped = self.dropped_notices,
                "the page fell behind: transcript notices dropped"
            );
        }
        let reason = self.ended.clone().unwrap_or_else(|| "call ended".into());
        self.rtc.disconnect();
        self.drive();
        self.tell_page(ServerMessage::Hangup { reason });
    }

    fn notice(&mut self, notice: LegNotice<'_>) {
        let message = match notice {
            LegNotice::Transcript {
                speaker,
                item_id,
                text,
            } => ServerMessage::Transcript {
                speaker,
                item_id: item_id.to_owned(),
                text: text.to_owned(),
            },
            LegNotice::BargeIn => ServerMessage::BargeIn,
        };
        self.tell_page(message);
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
