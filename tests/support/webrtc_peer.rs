//! A WebRTC peer that is not a browser: str0m (full ICE, the controlling
//! side) behind `/webrtc/ws`, sending Opus from a 48 kHz microphone
//! signal at 20 ms and decoding what it receives. For tests that need many
//! or fast calls without Chromium (`tests/webrtc_leg.rs`).

#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio_tungstenite::tungstenite::{self, Message};

/// What one call saw.
#[derive(Debug, Default)]
pub struct PeerReport {
    /// From sending the offer to str0m's `Connected`.
    pub connected_after: Option<Duration>,
    /// Opus packets received, and when (since connected).
    pub received: Vec<Duration>,
    /// RMS of the decoded audio received, per 20 ms frame, in order.
    pub frame_rms: Vec<f64>,
    /// The signalling messages received (JSON), in order.
    pub messages: Vec<String>,
}

/// Calls `/webrtc/ws` at `addr` for `seconds`, with `microphone` (48 kHz
/// mono, looped) as what it says.
pub fn call(addr: &str, microphone: &[i16], seconds: f64) -> PeerReport {
    session(
        addr,
        |sdp| serde_json::json!({ "type": "offer", "sdp": sdp }),
        microphone,
        seconds,
    )
}

/// Joins the live call `call_id` as `role` with the admin `token`
/// (docs/WEBRTC.md `join`), for `seconds`. A refused join panics with the
/// server's `error` message.
pub fn join(
    addr: &str,
    call_id: &str,
    role: &str,
    token: &str,
    microphone: &[i16],
    seconds: f64,
) -> PeerReport {
    session(
        addr,
        |sdp| {
            serde_json::json!({
                "type": "join", "call_id": call_id, "role": role, "token": token, "sdp": sdp,
            })
        },
        microphone,
        seconds,
    )
}

/// The first message's answer to a join or an offer: `error` messages
/// until then (for refusal tests).
pub fn first_answer(addr: &str, first: serde_json::Value) -> serde_json::Value {
    let tcp = TcpStream::connect(addr).expect("connect");
    let (mut ws, _) =
        tungstenite::client(format!("ws://{addr}/webrtc/ws"), tcp).expect("WebSocket handshake");
    ws.send(Message::text(first.to_string())).expect("send");
    loop {
        if let Message::Text(text) = ws.read().expect("read") {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

fn session(
    addr: &str,
    first: impl FnOnce(String) -> serde_json::Value,
    microphone: &[i16],
    seconds: f64,
) -> PeerReport {
    warmline::tls::install_crypto_provider();
    let mut report = PeerReport::default();
    let tcp = TcpStream::connect(addr).expect("connect");
    let (mut ws, _) =
        tungstenite::client(format!("ws://{addr}/webrtc/ws"), tcp).expect("WebSocket handshake");

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let local = udp.local_addr().expect("addr");
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().expect("an offer");
    let offered = Instant::now();
    let offer = first(offer.to_sdp_string());
    ws.send(Message::text(offer.to_string()))
        .expect("send offer");
    let answer = loop {
        let text = match ws.read().expect("read") {
            Message::Text(text) => text.to_string(),
            _ => continue,
        };
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        report.messages.push(text);
        if value["type"] == "answer" {
            break value["sdp"].as_str().expect("sdp").to_owned();
        }
        assert_ne!(value["type"], "error", "refused: {value}");
    };
    let answer = SdpAnswer::from_sdp_string(&answer).expect("answer SDP");
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .expect("accept answer");
    ws.get_mut().set_nonblocking(true).expect("nonblocking");
    let pt = rtc
        .writer(mid)
        .and_then(|w| w.payload_params().next().map(|p| p.pt()))
        .expect("Opus negotiated");

    let mut encoder =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
    let mut pcm = vec![0i16; 5760];
    let mut packet = [0u8; 1500];
    let mut buf = vec![0u8; 2048];
    let deadline = offered + Duration::from_secs_f64(seconds);
    let mut connected_at: Option<Instant> = None;
    let mut next_send = Instant::now();
    let mut sent_frames: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Drive str0m until it waits.
        let timeout = loop {
            match rtc.poll_output().expect("poll") {
                Output::Timeout(at) => break at,
                Output::Transmit(t) => {
                    let _ = udp.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    connected_at = Some(Instant::now());
                    report.connected_after = Some(offered.elapsed());
                    next_send = Instant::now();
                }
                Output::Event(Event::MediaData(data)) => {
                    if let Some(at) = connected_at {
                        report.received.push(at.elapsed());
                    }
                    if let Ok(n) = decoder.decode(&data.data, &mut pcm, false) {
                        let sum: f64 = pcm[..n].iter().map(|&s| f64::from(s).powi(2)).sum();
                        report.frame_rms.push((sum / n.max(1) as f64).sqrt());
                    }
                }
                Output::Event(_) => {}
            }
        };
        // Our 20 ms of microphone.
        if connected_at.is_some() {
            while Instant::now() >= next_send {
                let start = (sent_frames as usize * 960) % microphone.len().max(1);
                let frame: Vec<i16> = (0..960)
                    .map(|i| {
                        microphone
                            .get((start + i) % microphone.len().max(1))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect();
                if let Ok(n) = encoder.encode(&frame, &mut packet) {
                    let time = MediaTime::new(sent_frames * 960, Frequency::FORTY_EIGHT_KHZ);
                    if let Some(writer) = rtc.writer(mid) {
                        let _ = writer.write(pt, next_send, time, &packet[..n]);
                    }
                }
                sent_frames += 1;
                next_send += Duration::from_millis(20);
            }
        }
        // Signalling messages, without waiting.
        loop {
            match ws.read() {
                Ok(Message::Text(text)) => report.messages.push(text.to_string()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        let mut wake = timeout.min(deadline);
        if connected_at.is_some() {
            wake = wake.min(next_send);
        }
        let wait = wake.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            continue;
        }
        udp.set_read_timeout(Some(wait.min(Duration::from_millis(20))))
            .expect("timeout");
        match udp.recv_from(&mut buf) {
            Ok((n, source)) => {
                if let Ok(contents) = buf[..n].try_into() {
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: local,
                            contents,
                        },
                    );
                    let _ = rtc.handle_input(input);
                }
            }
            Err(_) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
    let _ = ws.send(Message::text(r#"{"type":"hangup"}"#));
    report
}
