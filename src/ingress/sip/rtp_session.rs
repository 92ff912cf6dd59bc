//! One call's RTP media, sans-IO: what arrives on the RTP and RTCP ports,
//! what leaves them, and the statistics RTCP carries.
//!
//! - **Inbound.** Packets are accepted only with the negotiated payload
//!   types and, until latched, only from the signalling peer's or the SDP's
//!   IP address. The first such packet latches the send address to its
//!   source (symmetric RTP / comedia, RFC 4961): carriers behind SBCs and
//!   NAT send from somewhere other than their SDP says. Telephone events
//!   go around the jitter buffer (they share the audio's sequence space but
//!   not its timing) to the DTMF receiver, and through the statistics.
//!   Audio goes through the jitter buffer, which the call's 20 ms clock
//!   drains one frame per tick. A-law is transcoded to μ-law here, so the
//!   call always sees μ-law.
//! - **Outbound.** One packet per 20 ms slot, audio or silence, so the far
//!   end's clock never stalls; the marker bit starts each talkspurt.
//!   Queued DTMF replaces the slot's audio while it plays (RFC 4733 §2.5.1)
//!   with the audio timestamp running on underneath.
//! - **RTCP.** SR (or RR) + SDES every 5 s; received SR/RR give loss,
//!   jitter and round-trip time.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::media::dtmf::{Digit, DtmfReceiver, DtmfSender};
use crate::media::g711::{alaw_to_ulaw, ulaw_to_alaw, Law};
use crate::media::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::media::rtp::{
    is_rtcp, rtt_ms, write_receiver_report, write_rtp, write_sender_report, NtpTimestamp,
    PacketKind, ReceiverStats, RtcpCompound, RtcpPacket, RtpHeader, RtpPacketView, SenderStats,
};

/// Interval between our RTCP reports.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Bytes of a 20 ms G.711 frame.
const FRAME: usize = 160;

/// What was negotiated for the call's media.
#[derive(Clone, Debug)]
pub struct RtpSessionConfig {
    /// Audio payload type (0 PCMU, 8 PCMA).
    pub payload_type: u8,
    /// The audio's G.711 law.
    pub law: Law,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Where the SDP says to send.
    pub remote: SocketAddr,
    /// The signalling peer's IP: packets from it may latch too.
    pub signalling_ip: IpAddr,
    /// Our SSRC, first sequence number and first timestamp (random).
    pub ssrc: u32,
    /// First sequence number.
    pub initial_sequence: u16,
    /// First timestamp.
    pub initial_timestamp: u32,
    /// CNAME for SDES.
    pub cname: String,
    /// The jitter buffer's depth bounds (`[media]`); its law is `law`.
    pub jitter: JitterConfig,
    /// SDES-SRTP keys when the call negotiated `RTP/SAVP`; `None`: plain.
    pub srtp: Option<super::srtp::SdesKeys>,
}

/// Per-call media figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtpCallStats {
    /// RTP packets accepted.
    pub received: u64,
    /// Packets dropped: wrong source, wrong payload type or malformed.
    pub rejected: u64,
    /// Packets lost, as the sequence numbers tell (RFC 3550 A.3).
    pub lost: i64,
    /// Interarrival jitter, in 8 kHz units.
    pub jitter: u32,
    /// Frames the jitter buffer concealed.
    pub concealed: u64,
    /// Packets we sent.
    pub sent: u64,
    /// The far end's view of our stream, from its last report: fraction
    /// lost (1/256).
    pub remote_fraction_lost: u8,
    /// The far end's jitter figure for our stream.
    pub remote_jitter: u32,
    /// Round-trip time from the last report that carried LSR/DLSR, ms.
    pub rtt_ms: Option<u32>,
}

/// One call's RTP and RTCP.
pub struct RtpSession {
    config: RtpSessionConfig,
    remote: SocketAddr,
    latched: bool,
    jitter: JitterBuffer,
    dtmf_in: DtmfReceiver,
    rx_stats: ReceiverStats,
    tx_stats: SenderStats,
    sequence: u16,
    timestamp: u32,
    talkspurt: bool,
    last_received: Option<Duration>,
    digits_in: VecDeque<char>,
    /// DTMF packets still to send: (payload, event timestamp, marker).
    dtmf_out: VecDeque<([u8; 4], u32, bool)>,
    stats: RtpCallStats,
    next_rtcp: Duration,
    buf: Vec<u8>,
    frame: [u8; FRAME],
    srtp: Srtp,
    /// SRTP: the protected packet we send, and the plain one we received.
    wire: Vec<u8>,
    plain: Vec<u8>,
}

/// SRTP state of a session.
#[derive(Debug)]
enum Srtp {
    /// Plain RTP.
    Off,
    /// Both directions' contexts.
    On(Box<super::srtp::SrtpPair>),
    /// Keys were negotiated but the cipher could not be set up: nothing is
    /// sent or accepted, since plain RTP would break what was agreed.
    Failed,
}

impl std::fmt::Debug for RtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpSession")
            .field("remote", &self.remote)
            .field("latched", &self.latched)
            .field("stats", &self.stats)
            .finish()
    }
}

impl RtpSession {
    /// A session that starts at `now`.
    pub fn new(config: RtpSessionConfig, now: Duration) -> RtpSession {
        let jitter = JitterBuffer::new(JitterConfig {
            law: config.law,
            ..config.jitter
        });
        let srtp = match &config.srtp {
            None => Srtp::Off,
            Some(keys) => match super::srtp::SrtpPair::new(keys) {
                Ok(pair) => Srtp::On(Box::new(pair)),
                Err(e) => {
                    tracing::error!(error = %e, "SRTP could not start: the call's media is dropped");
                    Srtp::Failed
                }
            },
        };
        RtpSession {
            srtp,
            wire: Vec::new(),
            plain: Vec::new(),
            remote: config.remote,
            latched: false,
            jitter,
            dtmf_in: DtmfReceiver::new(),
            rx_stats: ReceiverStats::new(8_000),
            tx_stats: SenderStats::new(),
            sequence: config.initial_sequence,
            timestamp: config.initial_timestamp,
            talkspurt: true,
            last_received: None,
            digits_in: VecDeque::new(),
            dtmf_out: VecDeque::new(),
            stats: RtpCallStats::default(),
            next_rtcp: now + RTCP_INTERVAL,
            buf: Vec::with_capacity(256),
            frame: [0xFF; FRAME],
            config,
        }
    }

    /// Where our packets go.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Where our RTCP goes (RTP port + 1).
    pub fn remote_rtcp(&self) -> SocketAddr {
        SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1))
    }

    /// The figures so far.
    pub fn stats(&self) -> RtpCallStats {
        let mut s = self.stats;
        s.lost = self.rx_stats.cumulative_lost();
        s.jitter = self.rx_stats.jitter();
        s.concealed = self.jitter.stats().concealed;
        s
    }

    /// When the last valid packet arrived.
    pub fn last_received(&self) -> Option<Duration> {
        self.last_received
    }

    /// A re-INVITE moved the far end: send there, and latch again.
    pub fn set_remote(&mut self, remote: SocketAddr) {
        if remote != self.config.remote {
            self.config.remote = remote;
            self.remote = remote;
            self.latched = false;
        }
    }

    /// One datagram from the RTP port, at `now` on the call clock and
    /// `wall` since the Unix epoch (for RTCP round trips).
    pub fn on_rtp(&mut self, now: Duration, wall: Duration, bytes: &[u8], source: SocketAddr) {
        if is_rtcp(bytes) {
            self.on_rtcp(wall, bytes);
            return;
        }
        match &mut self.srtp {
            Srtp::Off => self.on_plain_rtp(now, bytes, source),
            Srtp::Failed => self.stats.rejected += 1,
            Srtp::On(pair) => {
                let mut plain = std::mem::take(&mut self.plain);
                match pair.inbound.unprotect_rtp(bytes, &mut plain) {
                    Ok(()) => self.on_plain_rtp(now, &plain, source),
                    Err(e) => {
                        tracing::trace!(error = %e, "SRTP packet refused");
                        self.stats.rejected += 1;
                    }
                }
                self.plain = plain;
            }
        }
    }

    /// Whether the call's media is SRTP.
    pub fn is_srtp(&self) -> bool {
        !matches!(self.srtp, Srtp::Off)
    }

    fn on_plain_rtp(&mut self, now: Duration, bytes: &[u8], source: SocketAddr) {
        let Ok(packet) = RtpPacketView::parse(bytes) else {
            self.stats.rejected += 1;
            return;
        };
        let pt = packet.header.payload_type;
        let is_event = Some(pt) == self.config.telephone_event_pt;
        if pt != self.config.payload_type && !is_event {
            self.stats.rejected += 1;
            return;
        }
        if !self.latched {
            let allowed =
                source.ip() == self.config.remote.ip() || source.ip() == self.config.signalling_ip;
            if !allowed {
                self.stats.rejected += 1;
                return;
            }
            if source != self.remote {
                tracing::info!(from = %self.remote, to = %source, "RTP latched to the caller's source");
            }
            self.remote = source;
            self.latched = true;
        } else if source != self.remote {
            // Once latched, another source is an injection or a stale
            // stream: ignore it (a re-INVITE re-opens latching).
            self.stats.rejected += 1;
            return;
        }
        self.stats.received += 1;
        self.last_received = Some(now);
        let kind = if is_event {
            PacketKind::TelephoneEvent
        } else {
            PacketKind::Audio
        };
        self.rx_stats.on_packet(&packet.header, kind, now);
        if is_event {
            if let Ok(Some(event)) = self.dtmf_in.push(packet.header.timestamp, packet.payload) {
                self.digits_in.push_back(event.digit.as_char());
            }
            return;
        }
        if let Err(e) = self.jitter.push(packet.to_jitter(), now) {
            tracing::debug!(error = %e, "RTP packet not buffered");
            self.stats.rejected += 1;
        }
    }

    /// One datagram from the RTCP port (or RTCP muxed on the RTP port),
    /// at `wall` since the Unix epoch. SR arrival is kept on the wall
    /// clock too: LSR/DLSR are wall-clock figures.
    pub fn on_rtcp(&mut self, wall: Duration, bytes: &[u8]) {
        match &mut self.srtp {
            Srtp::Off => self.on_plain_rtcp(wall, bytes),
            Srtp::Failed => {}
            Srtp::On(pair) => {
                let mut plain = std::mem::take(&mut self.plain);
                if pair.inbound.unprotect_rtcp(bytes, &mut plain).is_ok() {
                    self.on_plain_rtcp(wall, &plain);
                }
                self.plain = plain;
            }
        }
    }

    fn on_plain_rtcp(&mut self, wall: Duration, bytes: &[u8]) {
        let Ok(compound) = RtcpCompound::parse(bytes) else {
            return;
        };
        let now = wall;
        let now_ntp = NtpTimestamp::from_unix(wall);
        for packet in compound.packets() {
            let blocks = match packet {
                RtcpPacket::SenderReport(sr) => {
                    self.rx_stats.on_sender_report(sr.ssrc, sr.info.ntp, now);
                    Some(sr.reports)
                }
                RtcpPacket::ReceiverReport(rr) => Some(rr.reports),
                _ => None,
            };
            for block in blocks.iter().flat_map(|b| b.iter()) {
                if block.ssrc != self.config.ssrc {
                    continue;
                }
                self.stats.remote_fraction_lost = block.fraction_lost;
                self.stats.remote_jitter = block.jitter;
                if let Some(rtt) =
                    rtt_ms(now_ntp.middle32(), block.last_sr, block.delay_since_last_sr)
                {
                    self.stats.rtt_ms = Some(rtt);
                }
            }
        }
    }

    /// A digit the caller pressed, if any.
    pub fn poll_digit(&mut self) -> Option<char> {
        self.digits_in.pop_front()
    }

    /// The depth the jitter buffer currently aims for.
    pub fn jitter_depth(&self) -> Duration {
        self.jitter.target_depth()
    }

    /// The caller's next 20 ms of audio as μ-law: `None` until the first
    /// packet (and while the buffer fills).
    pub fn pop_audio(&mut self, now: Duration) -> Option<[u8; FRAME]> {
        let payload = match self.jitter.pop(now) {
            Playout::Buffering => return None,
            Playout::Frame { payload, .. } | Playout::Concealed { payload, .. } => payload,
        };
        let mut out = [0xFFu8; FRAME];
        match self.config.law {
            Law::Ulaw => out.copy_from_slice(payload),
            Law::Alaw => {
                for (o, &a) in out.iter_mut().zip(payload.iter()) {
                    *o = alaw_to_ulaw(a);
                }
            }
        }
        Some(out)
    }

    /// Whether a telephone-event payload type was negotiated (RFC 4733
    /// DTMF can be sent).
    pub fn sends_telephone_events(&self) -> bool {
        self.config.telephone_event_pt.is_some()
    }

    /// Starts a key press of `duration_samples` as RFC 4733 events in the
    /// next slots: one event on the next slot's timestamp, its duration
    /// growing by a slot per packet, the E bit three times (needs a
    /// negotiated telephone-event PT; returns false without one). A press
    /// still sending is cut short by the new one.
    pub fn send_digit(&mut self, digit: char, duration_samples: u16) -> bool {
        let (Some(_), Some(digit)) = (self.config.telephone_event_pt, Digit::from_char(digit))
        else {
            return false;
        };
        let start = self.timestamp;
        self.dtmf_out.clear();
        let sender = DtmfSender {
            duration_samples,
            ..DtmfSender::default()
        };
        for p in sender.packets(digit, start) {
            self.dtmf_out.push_back((p.payload, p.timestamp, p.marker));
        }
        true
    }

    /// The packet for this 20 ms slot: `mulaw` audio, or silence when the
    /// agent is quiet. Returns the datagram (SRTP-protected when
    /// negotiated; empty if it cannot be protected: never plain) and where
    /// it goes.
    pub fn packet_for_slot(&mut self, mulaw: Option<&[u8]>) -> (&[u8], SocketAddr) {
        self.build_slot(mulaw);
        let remote = self.remote;
        (
            protect(&mut self.srtp, &self.buf, &mut self.wire, false),
            remote,
        )
    }

    fn build_slot(&mut self, mulaw: Option<&[u8]>) {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        if let (Some((payload, event_ts, marker)), Some(pt)) =
            (self.dtmf_out.pop_front(), self.config.telephone_event_pt)
        {
            let header = RtpHeader {
                marker,
                payload_type: pt,
                sequence,
                timestamp: event_ts,
                ssrc: self.config.ssrc,
            };
            write_rtp(&header, &payload, &mut self.buf);
            self.tx_stats.on_sent(payload.len());
            self.stats.sent += 1;
            self.talkspurt = true;
            return;
        }
        let marker = match mulaw {
            Some(_) => std::mem::replace(&mut self.talkspurt, false),
            None => {
                self.talkspurt = true;
                false
            }
        };
        let silence = self.config.law.silence_code();
        match mulaw {
            Some(audio) => {
                for (dst, &src) in self
                    .frame
                    .iter_mut()
                    .zip(audio.iter().chain(std::iter::repeat(&0xFF)))
                {
                    *dst = match self.config.law {
                        Law::Ulaw => src,
                        Law::Alaw => ulaw_to_alaw(src),
                    };
                }
            }
            None => self.frame.fill(silence),
        }
        let header = RtpHeader {
            marker,
            payload_type: self.config.payload_type,
            sequence,
            timestamp,
            ssrc: self.config.ssrc,
        };
        write_rtp(&header, &self.frame, &mut self.buf);
        self.tx_stats.on_sent(FRAME);
        self.stats.sent += 1;
    }

    /// When the next RTCP report is due.
    pub fn next_rtcp(&self) -> Duration {
        self.next_rtcp
    }

    /// Our RTCP report (SR + SDES, or RR + SDES before we have sent),
    /// if one is due at `now`. `wall` is the wall-clock time since the Unix
    /// epoch, for the NTP timestamp.
    pub fn poll_rtcp(&mut self, now: Duration, wall: Duration) -> Option<(&[u8], SocketAddr)> {
        if now < self.next_rtcp {
            return None;
        }
        self.next_rtcp = now + RTCP_INTERVAL;
        let blocks: Vec<_> = self.rx_stats.make_report_block(wall).into_iter().collect();
        let cname = self.config.cname.as_bytes();
        let written = if self.tx_stats.has_sent() {
            let info = self
                .tx_stats
                .sender_info(NtpTimestamp::from_unix(wall), self.timestamp);
            write_sender_report(self.config.ssrc, &info, &blocks, cname, &mut self.buf)
        } else {
            write_receiver_report(self.config.ssrc, &blocks, cname, &mut self.buf)
        };
        let dest = self.remote_rtcp();
        match written {
            Ok(()) => {
                let packet = protect(&mut self.srtp, &self.buf, &mut self.wire, true);
                (!packet.is_empty()).then_some((packet, dest))
            }
            Err(e) => {
                tracing::debug!(error = %e, "RTCP report not built");
                None
            }
        }
    }
}

/// `plain` as it goes on the wire: itself without SRTP, else protected
/// into `wire`; empty when it cannot be protected.
fn protect<'a>(srtp: &mut Srtp, plain: &'a [u8], wire: &'a mut Vec<u8>, rtcp: bool) -> &'a [u8] {
    let pair = match srtp {
        Srtp::Off => return plain,
        Srtp::Failed => return &[],
        Srtp::On(pair) => pair,
    };
    let done = if rtcp {
        pair.outbound.protect_rtcp(plain, wire)
    } else {
        pair.outbound.protect_rtp(plain, wire)
    };
    match done {
        Ok(()) => wire,
        Err(e) => {
            tracing::debug!(error = %e, "SRTP could not protect a packet: not sent");
            &[]
        }
    }
}

#[cfg(test)]
mod tests;
