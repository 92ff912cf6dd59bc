//! The SIP rep's media as a linked leg of the call's room: the edge task
//! that runs on the call's worker (decision 0024's `LegLink`).
//!
//! One clock: the room's. Each mix the room hands down is one 20 ms tick,
//! sent at once as one RTP packet (16 kHz → 8 kHz → the negotiated law).
//! The rep's voice goes up (μ-law → 8 kHz → 16 kHz) as soon as the jitter
//! buffer releases it: it is asked on every packet and on every tick, so a
//! frame waits its buffer's target depth and not for the next tick too
//! (the room queues and trims what a leg hands it, decision 0031). RFC
//! 4733 keys are matched against the hand-back sequence here and
//! reported, never acted on; so is a phone that sends no RTP for `[sip]
//! media_timeout_secs`.

use std::net::UdpSocket as StdUdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::call::room::{LegLink, LegPort};
use crate::ingress::sip::rtp_session::{RtpSession, RtpSessionConfig};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::Law;
use crate::media::halfband::{Downsampler2, Upsampler2};

/// Samples of a 20 ms frame at 8 kHz and at 16 kHz.
const NARROW: usize = 160;
const WIDE: usize = 320;
/// Frames the edge takes from the jitter buffer at one go, at most (after
/// a stall, the rest follow on the next packets and ticks).
const UP_BURST: usize = 3;

/// The rep's voice on its way up: 8 kHz μ-law → 16 kHz frames.
struct Up {
    resampler: Upsampler2,
    narrow: [i16; NARROW],
    wide: [i16; WIDE],
    frames: u64,
}

impl Up {
    /// Hands the room what the jitter buffer releases at `now`.
    fn drain(
        &mut self,
        session: &mut RtpSession,
        now: Duration,
        port: &mut LegPort,
    ) -> Result<(), crate::call::room::LinkClosed> {
        for _ in 0..UP_BURST {
            let Some(heard) = session.pop_audio(now) else {
                return Ok(());
            };
            // The session hands μ-law whatever the wire's law.
            for (s, &c) in self.narrow.iter_mut().zip(heard.iter()) {
                *s = Law::Ulaw.decode(c);
            }
            self.resampler.process(&self.narrow, &mut self.wide);
            let at = MediaTime(self.frames * WIDE as u64);
            self.frames += 1;
            if let Ok(frame) = Frame::from_samples(SampleRate::Hz16000, at, &self.wide) {
                port.send_frame(frame)?;
            }
        }
        Ok(())
    }
}

/// What the edge needs from the rep's call.
pub(super) struct EdgeParts {
    /// The negotiated session.
    pub session: RtpSessionConfig,
    /// The hand-back key sequence.
    pub hand_back: String,
    /// No RTP from the phone for this long is reported (zero: never).
    pub media_timeout: Duration,
    /// What the rep call task must act on.
    pub events: mpsc::Sender<EdgeEvent>,
    /// Fires (or drops) when the rep's dialog is over.
    pub stop: oneshot::Receiver<()>,
}

/// What the edge reports to the rep's call task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EdgeEvent {
    /// The hand-back keys were pressed.
    HandBack,
    /// No RTP from the phone for the media timeout (once per call).
    MediaLost,
}

/// The rep's phone as a linked leg, on `sockets` (RTP, RTCP: bound off
/// the worker, registered on it).
pub(super) fn link(sockets: (StdUdpSocket, StdUdpSocket), parts: EdgeParts) -> LegLink {
    LegLink::new("sip", move |port: LegPort| async move {
        let rtp = StdSockets::register(sockets);
        let (rtp, rtcp) = match rtp {
            Ok(sockets) => sockets,
            Err(e) => {
                tracing::error!(error = %e, "the SIP rep's RTP socket could not start");
                port.end(format!("the rep's RTP could not start: {e}"))
                    .await;
                return;
            }
        };
        run(parts, port, rtp, rtcp).await;
    })
}

struct StdSockets;

impl StdSockets {
    fn register(sockets: (StdUdpSocket, StdUdpSocket)) -> std::io::Result<(UdpSocket, UdpSocket)> {
        Ok((
            UdpSocket::from_std(sockets.0)?,
            UdpSocket::from_std(sockets.1)?,
        ))
    }
}

fn wall() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The hand-back keys: the last keys pressed, matched against the
/// sequence (bounded by its length).
#[derive(Debug)]
pub(super) struct KeyMatch {
    sequence: String,
    pressed: String,
}

impl KeyMatch {
    pub(super) fn new(sequence: &str) -> KeyMatch {
        KeyMatch {
            sequence: sequence.to_owned(),
            pressed: String::with_capacity(sequence.len()),
        }
    }

    /// A key; true when it completes the sequence.
    pub(super) fn press(&mut self, key: char) -> bool {
        if self.sequence.is_empty() {
            return false;
        }
        if self.pressed.len() == self.sequence.len() {
            self.pressed.remove(0);
        }
        self.pressed.push(key);
        if self.pressed == self.sequence {
            self.pressed.clear();
            return true;
        }
        false
    }
}

async fn run(parts: EdgeParts, mut port: LegPort, rtp: UdpSocket, rtcp: UdpSocket) {
    let EdgeParts {
        session,
        hand_back,
        media_timeout,
        events,
        mut stop,
    } = parts;
    let mut lost = false;
    let epoch = Instant::now();
    let law = session.law;
    let mut session = RtpSession::new(session, Duration::ZERO);
    let mut keys_in = KeyMatch::new(&hand_back);
    let mut up = Up {
        resampler: Upsampler2::new(),
        narrow: [0; NARROW],
        wide: [0; WIDE],
        frames: 0,
    };
    let mut down = Downsampler2::new();
    let (mut narrow, mut mulaw) = ([0i16; NARROW], [0u8; NARROW]);
    let (mut buf, mut rtcp_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
    let ended = loop {
        tokio::select! {
            received = rtp.recv_from(&mut buf) => {
                if let Ok((n, source)) = received {
                    let now = epoch.elapsed();
                    session.on_rtp(now, wall(), &buf[..n], source);
                    while let Some(key) = session.poll_digit() {
                        if keys_in.press(key) && events.try_send(EdgeEvent::HandBack).is_err() {
                            tracing::debug!("hand-back keys pressed again while one is pending");
                        }
                    }
                    if up.drain(&mut session, now, &mut port).is_err() {
                        break None;
                    }
                }
            }
            received = rtcp.recv_from(&mut rtcp_buf) => {
                if let Ok((n, _)) = received {
                    session.on_rtcp(wall(), &rtcp_buf[..n]);
                }
            }
            // Cancel safe: a mix is taken only when returned.
            mix = port.next_mix() => {
                let Some(mix) = mix else { break None };
                let now = epoch.elapsed();
                if up.drain(&mut session, now, &mut port).is_err() {
                    break None;
                }
                let heard = session.last_received().unwrap_or_default();
                if !lost && !media_timeout.is_zero() && now.saturating_sub(heard) >= media_timeout {
                    // Reported once; the call task acts (a full queue means
                    // it is acting on keys already, and the next tick tells).
                    lost = events.try_send(EdgeEvent::MediaLost).is_ok();
                }
                down.process(mix.samples(), &mut narrow);
                for (c, &s) in mulaw.iter_mut().zip(narrow.iter()) {
                    *c = Law::Ulaw.encode(s);
                }
                let (packet, dest) = session.packet_for_slot(Some(&mulaw));
                if !packet.is_empty() {
                    let _ = rtp.try_send_to(packet, dest);
                }
                if let Some((report, dest)) = session.poll_rtcp(now, wall()) {
                    let _ = rtcp.try_send_to(report, dest);
                }
            }
            _ = &mut stop => break Some("the rep's phone call ended".to_owned()),
        }
    };
    let jitter_depth = session.jitter_depth();
    tracing::info!(stats = ?session.stats(), ?law, ?jitter_depth, "SIP rep leg media over");
    if let Some(reason) = ended {
        port.end(reason).await;
    }
}
