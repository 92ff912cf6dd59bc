//! The SIP caller leg: one call's RTP and RTCP sockets around an
//! [`RtpSession`], as a [`CallerLeg`] for the call driver.
//!
//! It runs on the call's media worker. Caller audio leaves the jitter
//! buffer one frame per 20 ms on the process-wide grid; agent audio goes
//! out one packet per slot of the driver's playout clock, silence when the
//! agent is quiet, nothing before the answer or while the caller has us on
//! hold. Packets are built at the driver's tick and put on the wire one
//! frame later by the [`SendClock`] thread, so a busy worker does not make
//! them late; a barge-in blanks the one still waiting. The signalling side
//! talks to it through [`LegControl`]; when the leg ends for its own
//! reasons (media timeout, the agent hung up) it asks the signalling side
//! to send BYE.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::rtp_session::{RtpCallStats, RtpSession};
use super::send_clock::{CallSender, SendClock, LEAD};
use crate::call::blind_transfer::{TransferDone, TransferOutcome, TransferTarget};
use crate::call::leg::{CallerLeg, LegError, LegEvent, Sent, FRAME_SAMPLES_8K};
use crate::call::DtmfSlot;

/// What the signalling side tells a leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegControl {
    /// The 200 OK went out: media flows and the greeting starts.
    Answered,
    /// The caller put us on hold (`false`) or took us off it (`true`):
    /// whether we may send.
    Sending(bool),
    /// A re-INVITE moved the caller's media.
    Remote(std::net::SocketAddr),
    /// A digit signalled in SIP INFO (`application/dtmf-relay`).
    Dtmf(char),
    /// The caller hung up (BYE or CANCEL); nothing more to send.
    Ended(String),
    /// The caller was transferred elsewhere (a REFER succeeded) and our
    /// BYE is on its way; nothing more to send.
    Transferred(String),
}

/// What a leg asks of the signalling side.
#[derive(Debug)]
pub enum LegRequest {
    /// Send BYE for this call (we end it), with the media figures.
    HangUp {
        /// The call's key in the signalling layer.
        call: String,
        /// Why.
        reason: String,
        /// Media figures at the end.
        stats: RtpCallStats,
    },
    /// Send a REFER handing the caller to `target` (decision 0033) and
    /// answer on `done` once the NOTIFYs say how it went.
    Transfer {
        /// The call's key in the signalling layer.
        call: String,
        /// Where.
        target: TransferTarget,
        /// The outcome goes here.
        done: TransferDone,
    },
}

/// One SIP call's media, as a caller leg.
pub struct SipLeg {
    key: String,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    session: RtpSession,
    /// Puts our packets on the wire at their slots.
    sender: CallSender,
    /// The audio payload type and its silence byte (what a barge-in
    /// blanks a waiting packet with).
    audio: (u8, u8),
    clock: Instant,
    next_pop: Instant,
    control: mpsc::Receiver<LegControl>,
    requests: mpsc::Sender<LegRequest>,
    pending: VecDeque<LegEvent>,
    answered: bool,
    sending: bool,
    ended_by_caller: bool,
    figures_recorded: bool,
    media_timeout: Duration,
    hold_media_timeout: Duration,
    buf: Box<[u8; 2048]>,
    rtcp_buf: Box<[u8; 1500]>,
    /// Keys went out in-band (no telephone-event negotiated): said once.
    inband_dtmf_logged: bool,
}

impl std::fmt::Debug for SipLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipLeg")
            .field("key", &self.key)
            .field("session", &self.session)
            .finish()
    }
}

fn wall() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Settings a leg needs besides its sockets.
#[derive(Debug)]
pub struct SipLegParts {
    /// The call's key in the signalling layer.
    pub key: String,
    /// RTP and RTCP sockets (bound, non-blocking).
    pub sockets: (std::net::UdpSocket, std::net::UdpSocket),
    /// The negotiated media.
    pub session: super::rtp_session::RtpSessionConfig,
    /// From the signalling side.
    pub control: mpsc::Receiver<LegControl>,
    /// To the signalling side.
    pub requests: mpsc::Sender<LegRequest>,
    /// No RTP for this long ends the call.
    pub media_timeout: Duration,
    /// The same while the caller has us on hold.
    pub hold_media_timeout: Duration,
    /// The process's RTP send clock.
    pub send_clock: SendClock,
}

impl SipLeg {
    /// Registers the sockets with the current (media worker) runtime.
    /// `clock` starts the leg's 20 ms grid: the call driver's
    /// ([`crate::call::driver::CallDriver::clock_start`]), so popping
    /// caller audio and sending ours happen on the same wake-up.
    pub fn new(parts: SipLegParts, clock: Instant) -> std::io::Result<SipLeg> {
        let sender = parts.send_clock.register(parts.sockets.0.try_clone()?)?;
        let rtp = UdpSocket::from_std(parts.sockets.0)?;
        let rtcp = UdpSocket::from_std(parts.sockets.1)?;
        let audio = (parts.session.payload_type, parts.session.law.silence_code());
        Ok(SipLeg {
            key: parts.key,
            rtp,
            rtcp,
            session: RtpSession::new(parts.session, Duration::ZERO),
            sender,
            audio,
            clock,
            next_pop: clock + Duration::from_millis(20),
            control: parts.control,
            requests: parts.requests,
            pending: VecDeque::new(),
            answered: false,
            sending: true,
            ended_by_caller: false,
            figures_recorded: false,
            media_timeout: parts.media_timeout,
            hold_media_timeout: parts.hold_media_timeout,
            buf: Box::new([0u8; 2048]),
            rtcp_buf: Box::new([0u8; 1500]),
            inband_dtmf_logged: false,
        })
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.clock)
    }

    fn media_deadline(&self) -> Option<Instant> {
        if !self.answered {
            return None;
        }
        let timeout = if self.sending {
            self.media_timeout
        } else {
            self.hold_media_timeout
        };
        let last = self.session.last_received().unwrap_or_default();
        Some(self.clock + last + timeout)
    }

    fn on_control(&mut self, control: Option<LegControl>) {
        match control {
            Some(LegControl::Answered) => {
                self.answered = true;
                self.pending.push_back(LegEvent::Started);
            }
            Some(LegControl::Sending(sending)) => self.sending = sending,
            Some(LegControl::Remote(remote)) => self.session.set_remote(remote),
            Some(LegControl::Dtmf(digit)) => self.pending.push_back(LegEvent::Dtmf(digit)),
            Some(LegControl::Ended(reason)) => {
                self.ended_by_caller = true;
                self.pending.push_back(LegEvent::Ended(reason));
            }
            Some(LegControl::Transferred(detail)) => {
                // The endpoint sends the BYE itself.
                self.ended_by_caller = true;
                self.pending.push_back(LegEvent::Transferred(detail));
            }
            None => {
                self.ended_by_caller = true;
                self.pending
                    .push_back(LegEvent::Ended("signalling went away".into()));
            }
        }
    }

    /// Builds this slot's packet and hands it to the send clock, which
    /// sends it one frame later ([`LEAD`]).
    fn send_slot(&mut self, due: Instant, audio: Option<&[u8]>) -> Sent {
        if !self.answered || !self.sending {
            return Sent::Nothing;
        }
        let (audio_pt, silence) = self.audio;
        let srtp = self.session.is_srtp();
        let (packet, dest) = self.session.packet_for_slot(audio);
        if packet.is_empty() {
            return Sent::AtSlot;
        }
        // SRTP packets cannot be blanked after protection (the tag covers
        // the payload): a barge-in lets the one waiting frame play out.
        let is_audio = !srtp && packet.get(1).map(|b| b & 0x7F) == Some(audio_pt);
        self.sender.schedule(
            (due + LEAD).into_std(),
            packet,
            dest,
            is_audio.then_some(silence),
        );
        Sent::AtSlot
    }
}

impl CallerLeg for SipLeg {
    async fn next_event(&mut self) -> LegEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            if let Some(digit) = self.session.poll_digit() {
                return LegEvent::Dtmf(digit);
            }
            let media_deadline = self.media_deadline();
            let rtcp_at = self.clock + self.session.next_rtcp();
            tokio::select! {
                received = self.rtp.recv_from(&mut self.buf[..]) => {
                    if let Ok((n, source)) = received {
                        let now = self.now();
                        self.session.on_rtp(now, wall(), &self.buf[..n], source);
                    }
                }
                received = self.rtcp.recv_from(&mut self.rtcp_buf[..]) => {
                    if let Ok((n, _)) = received {
                        self.session.on_rtcp(wall(), &self.rtcp_buf[..n]);
                    }
                }
                control = self.control.recv() => self.on_control(control),
                () = tokio::time::sleep_until(self.next_pop) => {
                    self.next_pop += Duration::from_millis(20);
                    let now = self.now();
                    if let Some(frame) = self.session.pop_audio(now) {
                        let mut boxed = Box::new([0u8; FRAME_SAMPLES_8K]);
                        boxed.copy_from_slice(&frame);
                        self.pending.push_back(LegEvent::Audio(boxed));
                    }
                }
                () = tokio::time::sleep_until(rtcp_at) => {
                    let now = self.now();
                    if let Some((report, dest)) = self.session.poll_rtcp(now, wall()) {
                        let _ = self.rtcp.send_to(report, dest).await;
                    }
                }
                () = sleep_opt(media_deadline) => {
                    tracing::warn!(stats = ?self.session.stats(), "no RTP from the caller: ending the call");
                    return LegEvent::Ended("media timeout".into());
                }
            }
        }
    }

    async fn send_frame(
        &mut self,
        due: Instant,
        mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        Ok(self.send_slot(due, Some(mulaw)))
    }

    async fn send_idle(&mut self, due: Instant) -> Result<Sent, LegError> {
        Ok(self.send_slot(due, None))
    }

    async fn send_dtmf(&mut self, due: Instant, slot: &DtmfSlot) -> Result<Sent, LegError> {
        if !self.session.sends_telephone_events() {
            // The peer offered no telephone-event: tones in the audio,
            // which every G.711 far end can hear (decision 0018).
            if !std::mem::replace(&mut self.inband_dtmf_logged, true) {
                tracing::info!("peer negotiated no telephone-event: sending DTMF as in-band tones");
            }
            return Ok(self.send_slot(due, Some(&slot.mulaw)));
        }
        // RFC 4733: the press's packets replace the next slots' audio, on
        // the audio's SSRC, sequence and clock; the gap after it is silence.
        if let Some(press) = slot.press.filter(|p| p.starts) {
            if self.answered && self.sending {
                self.session.send_digit(press.digit, press.tone_samples);
            }
        }
        Ok(self.send_slot(due, None))
    }

    fn transfer(&mut self, target: TransferTarget, done: TransferDone) {
        // Never waits: a signalling queue that is full says so at once.
        let request = LegRequest::Transfer {
            call: self.key.clone(),
            target,
            done,
        };
        if let Err(e) = self.requests.try_send(request) {
            let (mpsc::error::TrySendError::Full(request)
            | mpsc::error::TrySendError::Closed(request)) = e;
            if let LegRequest::Transfer { done, .. } = request {
                let _ = done.send(TransferOutcome::Failed {
                    reason: "the SIP signalling is busy; try again shortly".into(),
                });
            }
        }
    }

    async fn clear(&mut self) -> Result<(), LegError> {
        // The pacer already stopped releasing. The packet still waiting for
        // its slot goes out as silence: the caller hears nothing more than
        // what is already on the wire, and sequence numbers stay
        // continuous.
        let blanked = self.sender.silence_waiting();
        tracing::debug!(blanked, "barge-in: waiting agent audio blanked");
        Ok(())
    }

    async fn hang_up(&mut self) {
        let stats = self.session.stats();
        let jitter_depth = self.session.jitter_depth();
        tracing::info!(?stats, ?jitter_depth, "call media figures");
        if !std::mem::replace(&mut self.figures_recorded, true) {
            use crate::metrics as m;
            metrics::counter!(m::RTP_RECEIVED).increment(stats.received);
            metrics::counter!(m::RTP_SENT).increment(stats.sent);
            metrics::counter!(m::RTP_LOST).increment(stats.lost.max(0) as u64);
            metrics::counter!(m::RTP_CONCEALED).increment(stats.concealed);
            metrics::counter!(m::RTP_REJECTED).increment(stats.rejected);
        }
        if std::mem::replace(&mut self.ended_by_caller, true) {
            return;
        }
        let _ = self
            .requests
            .send(LegRequest::HangUp {
                call: self.key.clone(),
                reason: "call ended".into(),
                stats,
            })
            .await;
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
