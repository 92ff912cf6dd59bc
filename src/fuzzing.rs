//! The entry points of warmline's fuzz targets, one function per parser
//! that takes network input. The cargo-fuzz targets in `fuzz/` call them
//! with libFuzzer's inputs; `tests/fuzz_corpus.rs` calls them with every
//! committed seed (and simple mutations of it) on the stable toolchain, so
//! what the fuzzers found stays fixed without nightly in CI.
//!
//! Each function must never panic on any input; beyond that, each asserts
//! the properties written in its doc comment. STUN is not here: str0m
//! parses it, inside its own fuzzed code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ingress::sip::rtp_session::{RtpSession, RtpSessionConfig};
use crate::ingress::sip::srtp::{MasterKey, SdesKeys, SrtpContext};
use crate::media::dtmf::TelephoneEvent;
use crate::media::g711::Law;
use crate::media::jitter::JitterConfig;
use crate::media::rtp::{write_rtp, RtcpCompound, RtpPacketView};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every fuzz target, by the name of its `fuzz/fuzz_targets/` file and its
/// seed directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("twilio_stream", twilio_stream),
    ("openai_event", openai_event),
    ("webrtc_signal", webrtc_signal),
    ("rtp", rtp),
    ("rtcp", rtcp),
    ("rtp_session", rtp_session),
    ("srtp", srtp),
];

/// A Twilio Media Streams text frame: `stream::parse` never panics.
pub fn twilio_stream(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::ingress::twilio::stream::parse(text);
    }
}

/// An OpenAI Realtime server event: `events::parse_server` never panics.
pub fn openai_event(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::model::openai::events::parse_server(text);
    }
}

/// A WebRTC signalling message from the browser: parsing never panics,
/// and what parses parses the same again.
pub fn webrtc_signal(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(first) = crate::ingress::webrtc::signal::parse(text) {
            let again = crate::ingress::webrtc::signal::parse(text);
            assert_eq!(again.ok(), Some(first));
        }
    }
}

/// An RTP packet: a parsed packet re-written (fixed header + payload)
/// parses back to the same header and payload; an RFC 4733 event payload
/// parses or is refused, never panics.
pub fn rtp(data: &[u8]) {
    let Ok(packet) = RtpPacketView::parse(data) else {
        return;
    };
    let _ = TelephoneEvent::parse(packet.payload);
    let _ = packet.to_jitter();
    let mut out = Vec::new();
    write_rtp(&packet.header, packet.payload, &mut out);
    let back = RtpPacketView::parse(&out).expect("a packet we wrote parses");
    assert_eq!(back.header, packet.header);
    assert_eq!(back.payload, packet.payload);
}

/// An RTCP compound packet: parsing and walking every packet never panics.
pub fn rtcp(data: &[u8]) {
    if let Ok(compound) = RtcpCompound::parse(data) {
        for packet in compound.packets() {
            let _ = format!("{packet:?}");
        }
    }
}

fn session_config(srtp: Option<SdesKeys>) -> RtpSessionConfig {
    RtpSessionConfig {
        payload_type: 0,
        law: Law::Ulaw,
        telephone_event_pt: Some(101),
        remote: SocketAddr::from(([192, 0, 2, 1], 40_000)),
        signalling_ip: [192, 0, 2, 1].into(),
        ssrc: 0x1234_5678,
        initial_sequence: 1,
        initial_timestamp: 0,
        cname: "fuzz".into(),
        jitter: JitterConfig::default(),
        srtp,
    }
}

/// A call's whole inbound media path: the input is a sequence of
/// datagrams (a 2-byte big-endian length, then that many bytes), fed to
/// one `RtpSession` on its RTP and RTCP ports 20 ms apart, with audio
/// popped between them. Never panics; every accepted or refused packet is
/// counted once.
pub fn rtp_session(data: &[u8]) {
    let mut session = RtpSession::new(session_config(None), Duration::ZERO);
    let source = SocketAddr::from(([192, 0, 2, 1], 40_000));
    let mut now = Duration::ZERO;
    let mut rest = data;
    let mut datagrams = 0u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (datagram, tail) = rest[2..].split_at(len);
        rest = tail;
        now += Duration::from_millis(20);
        let wall = Duration::from_secs(1_800_000_000) + now;
        if datagrams % 5 == 4 {
            session.on_rtcp(wall, datagram);
        } else {
            session.on_rtp(now, wall, datagram, source);
            datagrams += 1;
        }
        let _ = session.pop_audio(now);
        let _ = session.poll_digit();
        if datagrams > 1_000 {
            break;
        }
    }
    let stats = session.stats();
    assert!(stats.received + stats.rejected <= datagrams + 1_000);
    let _ = session.poll_rtcp(
        now + Duration::from_secs(10),
        Duration::from_secs(1_800_000_000),
    );
}

/// SRTP: arbitrary bytes never authenticate under a fixed key (a forgery
/// would need the key), and never panic; bytes that are an RTP packet
/// round-trip through protect and unprotect unchanged.
pub fn srtp(data: &[u8]) {
    let key = MasterKey::from_bytes(&[0x42; 30]).expect("30 bytes");
    let (Ok(mut tx), Ok(mut rx)) = (SrtpContext::new(&key), SrtpContext::new(&key)) else {
        return;
    };
    let mut out = Vec::new();
    assert!(
        rx.unprotect_rtp(data, &mut out).is_err(),
        "a forged SRTP packet authenticated"
    );
    assert!(
        rx.unprotect_rtcp(data, &mut out).is_err(),
        "a forged SRTCP packet authenticated"
    );
    let mut wire = Vec::new();
    if tx.protect_rtp(data, &mut wire).is_ok() {
        rx.unprotect_rtp(&wire, &mut out)
            .expect("our own packet unprotects");
        assert_eq!(out, data);
    }
    if tx.protect_rtcp(data, &mut wire).is_ok() {
        rx.unprotect_rtcp(&wire, &mut out)
            .expect("our own SRTCP unprotects");
        assert_eq!(out, data);
    }
}
