//! The SIP rep's media as a linked leg of the call's room: the edge task
//! that runs on the call's worker (decision 0024's `LegLink`).
//!
//! One clock: the room's. Each mix the room hands down is one 20 ms tick;
//! on it the edge takes one frame from the jitter buffer (the rep's voice,
//! μ-law → 8 kHz → 16 kHz) up to the room, and sends one RTP packet of the
//! mix (16 kHz → 8 kHz → the negotiated law) to the phone. Packets from
//! the phone only fill the jitter buffer; RFC 4733 keys are matched
//! against the hand-back sequence here and reported, never acted on.

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

/// What the edge needs from the rep's call.
pub(super) struct EdgeParts {
    /// The negotiated session.
    pub session: RtpSessionConfig,
    /// The hand-back key sequence.
    pub hand_back: String,
    /// Told once per hand-back sequence pressed.
    pub keys: mpsc::Sender<()>,
    /// Fires (or drops) when the rep's dialog is over.
    pub stop: oneshot::Receiver<()>,
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
        keys,
        mut stop,
    } = parts;
    let epoch = Instant::now();
    let law = session.law;
    let mut session = RtpSession::new(session, Duration::ZERO);
    let mut keys_in = KeyMatch::new(&hand_back);
    let (mut up, mut down) = (Upsampler2::new(), Downsampler2::new());
    let (mut narrow, mut wide, mut mulaw) = ([0i16; NARROW], [0i16; WIDE], [0u8; NARROW]);
    let (mut buf, mut rtcp_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
    let mut ticks: u64 = 0;
    let ended = loop {
        tokio::select! {
            received = rtp.recv_from(&mut buf) => {
                if let Ok((n, source)) = received {
                    let now = epoch.elapsed();
                    session.on_rtp(now, wall(), &buf[..n], source);
                    while let Some(key) = session.poll_digit() {
                        if keys_in.press(key) && keys.try_send(()).is_err() {
                            tracing::debug!("hand-back keys pressed again while one is pending");
                        }
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
                if let Some(heard) = session.pop_audio(now) {
                    // The session hands μ-law whatever the wire's law.
                    for (s, &c) in narrow.iter_mut().zip(heard.iter()) {
                        *s = Law::Ulaw.decode(c);
                    }
                    up.process(&narrow, &mut wide);
                    let at = MediaTime(ticks * WIDE as u64);
                    if let Ok(frame) = Frame::from_samples(SampleRate::Hz16000, at, &wide) {
                        if port.send_frame(frame).is_err() {
                            break None;
                        }
                    }
                }
                ticks += 1;
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
    tracing::info!(stats = ?session.stats(), ?law, "SIP rep leg media over");
    if let Some(reason) = ended {
        port.end(reason).await;
    }
}
