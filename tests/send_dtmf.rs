//! `send_dtmf` end to end: the real `warmline` binary, a fake OpenAI
//! Realtime model whose first response calls `send_dtmf`, and the caller's
//! side decoding what arrives on the wire:
//! - SIP with telephone-event negotiated: a UDP peer parses the RTP and
//!   feeds the events to warmline's RFC 4733 receiver, and checks that the
//!   agent's sentence plays before the keys and none of it during them;
//! - SIP without it: the peer's in-band detector hears the tones;
//! - Twilio: the simulated caller's audio, through the in-band detector.

mod support {
    pub mod fake_tool_model;
    pub mod server;
    pub mod sip_ua;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_tool_model::{self, first_output};
use support::server::AUTH;
use support::sip_ua::{header, status, Client};
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::dtmf::{DtmfReceiver, InbandConfig, InbandDetector};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::g711::ulaw_decode;
use warmline::media::g711::ulaw_encode;

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

fn model_env(url: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("WARMLINE_MODEL__OPENAI_URL", Some(url.to_owned())),
        ("WARMLINE_MODEL__BACKEND", Some("openai".into())),
        ("OPENAI_API_KEY", Some("sk-test-fake".into())),
    ]
}

fn as_env<'a>(env: &'a [(&'static str, Option<String>)]) -> Vec<(&'static str, Option<&'a str>)> {
    env.iter().map(|(k, v)| (*k, v.as_deref())).collect()
}

/// One RTP packet as the peer received it.
#[derive(Clone, Debug)]
struct Packet {
    pt: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

/// A SIP caller on UDP that offers PCMU (and telephone-event 101 when
/// asked), streams silence, and keeps every RTP packet it receives.
struct Peer {
    packets: Arc<Mutex<Vec<Packet>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _client: Client,
}

impl Peer {
    fn call(target: &str, call_id: &str, telephone_event: bool) -> Peer {
        let client = Client::new(target);
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp bind");
        let rtp_port = rtp.local_addr().expect("addr").port();
        let (formats, events) = if telephone_event {
            (
                "0 101",
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            )
        } else {
            ("0", "")
        };
        let body = format!(
            "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\n{events}a=sendrecv\r\n"
        );
        client.send(&format!(
            "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n\
             From: <sip:+15559870000@127.0.0.1>;tag=from-{call_id}\r\n\
             To: <sip:+15551230000@{target}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
            port = client.port,
            len = body.len(),
        ));
        let ok = client
            .final_response(Duration::from_secs(5))
            .expect("a final answer to the INVITE");
        assert_eq!(status(&ok), Some(200), "{ok}");
        assert_eq!(
            ok.contains("telephone-event"),
            telephone_event,
            "telephone-event answered only when offered: {ok}"
        );
        let to = header(&ok, "To").expect("To").to_owned();
        client.send(&format!(
            "ACK sip:warmline@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-{call_id}-ack;rport\r\n\
             From: <sip:+15559870000@127.0.0.1>;tag=from-{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            p = client.port
        ));
        let remote = media_address(&ok).expect("m= and c= in the answer");
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            // Caller silence every 20 ms: latches our address and keeps
            // the media timeout away.
            let rtp = rtp.try_clone().expect("clone");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let (mut seq, mut ts, mut next) = (1u16, 0u32, Instant::now());
                while !stop.load(Ordering::Relaxed) {
                    let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
                    packet[2..4].copy_from_slice(&seq.to_be_bytes());
                    packet[4..8].copy_from_slice(&ts.to_be_bytes());
                    packet.extend(std::iter::repeat_n(0xFFu8, 160));
                    let _ = rtp.send_to(&packet, remote);
                    (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(160));
                    next += Duration::from_millis(20);
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }));
        }
        {
            let packets = packets.clone();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                rtp.set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = rtp.recv(&mut buf) else { continue };
                    if n < 12 || buf[0] >> 6 != 2 || (200..=204).contains(&buf[1]) {
                        continue;
                    }
                    let b = &buf[..n];
                    if let Ok(mut packets) = packets.lock() {
                        packets.push(Packet {
                            pt: b[1] & 0x7F,
                            marker: b[1] & 0x80 != 0,
                            sequence: u16::from_be_bytes([b[2], b[3]]),
                            timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
                            payload: b[12 + usize::from(b[0] & 0x0F) * 4..].to_vec(),
                        });
                    }
                }
            }));
        }
        Peer {
            packets,
            stop,
            threads,
            _client: client,
        }
    }

    fn packets(&self) -> Vec<Packet> {
        self.packets.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn media_address(message: &str) -> Option<std::net::SocketAddr> {
    let ip = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split(' ')
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// What the in-band detector hears in μ-law audio.
fn inband_digits(mulaw: &[u8]) -> String {
    let mut detector = InbandDetector::new(InbandConfig::default());
    mulaw
        .chunks_exact(160)
        .enumerate()
        .filter_map(|(i, chunk)| {
            let samples: Vec<i16> = chunk.iter().map(|&c| ulaw_decode(c)).collect();
            let frame =
                Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), &samples)
                    .expect("a frame");
            detector.push(&frame).map(|e| e.digit.as_char())
        })
        .collect()
}

fn sent_output(output: Option<(String, String)>, digits: &str) {
    let (call_id, output) = output.expect("the model got the function output");
    assert_eq!(call_id, "call_dtmf_1");
    let output: Value = serde_json::from_str(&output).expect("JSON output");
    assert_eq!(output, json!({"status": "sent", "digits": digits}));
}

/// 400 ms of a 300 Hz vowel-ish tone at about −12 dBFS: the agent talking
/// (one tone, so no DTMF detector takes it for a key).
fn agent_speech() -> Vec<u8> {
    (0..3_200)
        .map(|i| {
            let t = i as f32 / 8_000.0;
            ulaw_encode((8_000.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16)
        })
        .collect()
}

fn rms(payload: &[u8]) -> f64 {
    let energy: f64 = payload
        .iter()
        .map(|&c| f64::from(ulaw_decode(c)).powi(2))
        .sum();
    (energy / payload.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sip_the_peer_receives_rfc_4733_events_for_exactly_the_digits_sent() {
    // The model says something, then presses; after the output it talks on.
    let (url, seen) =
        fake_tool_model::start_with_audio("send_dtmf", json!({"digits": "1#1"}), agent_speech())
            .await;
    let env = model_env(&url);
    let server = support::sipp::start(BINARY, &as_env(&env));
    let sip = server.sip.clone();
    let packets = tokio::task::spawn_blocking(move || {
        let peer = Peer::call(&sip, "dtmf-rfc4733", true);
        sent_output(first_output(&seen, Duration::from_secs(10)), "1#1");
        // The answer to the output (400 ms) plays after the keys.
        std::thread::sleep(Duration::from_millis(1_000));
        peer.packets()
    })
    .await
    .expect("the peer");
    let events: Vec<&Packet> = packets.iter().filter(|p| p.pt == 101).collect();
    let mut receiver = DtmfReceiver::new();
    let digits: String = events
        .iter()
        .filter_map(|p| {
            receiver
                .push(p.timestamp, &p.payload)
                .expect("4-byte events")
        })
        .map(|e| e.digit.as_char())
        .collect();
    assert_eq!(digits, "1#1");
    // One event per press: three distinct timestamps, each starting with
    // the marker bit and ending with the E bit three times.
    let mut starts: Vec<u32> = events.iter().map(|p| p.timestamp).collect();
    starts.dedup();
    assert_eq!(starts.len(), 3, "{starts:?}");
    for start in &starts {
        let press: Vec<&&Packet> = events.iter().filter(|p| p.timestamp == *start).collect();
        assert!(press[0].marker, "marker on the first packet");
        assert_eq!(press.iter().filter(|p| p.payload[1] & 0x80 != 0).count(), 3);
        let durations: Vec<u16> = press
            .iter()
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert!(durations.windows(2).all(|w| w[0] <= w[1]), "{durations:?}");
        assert_eq!(durations.last(), Some(&800), "100 ms tones");
    }
    // The same stream as the audio: one SSRC, sequence numbers with no
    // gap across audio and events (in arrival order: loopback keeps it).
    let ssrc = packets[0].ssrc;
    assert!(packets.iter().all(|p| p.ssrc == ssrc));
    assert!(packets
        .windows(2)
        .all(|w| w[1].sequence == w[0].sequence.wrapping_add(1)));
    // The agent's sentence first, nothing of it while the keys play, and
    // its next answer after them.
    let first = packets.iter().position(|p| p.pt == 101).expect("events");
    let last = packets.iter().rposition(|p| p.pt == 101).expect("events");
    let talking = |p: &&Packet| p.pt == 0 && rms(&p.payload) > 1_000.0;
    let before = packets[..first].iter().filter(talking).count();
    let during = packets[first..last].iter().filter(talking).count();
    let after = packets[last..].iter().filter(talking).count();
    assert!(
        before >= 18,
        "the sentence before the keys: {before} frames"
    );
    assert_eq!(during, 0, "agent audio while the keys played");
    assert!(after >= 18, "the answer after the keys: {after} frames");
    // No tone leaked into the audio: RFC 4733 replaces in-band tones.
    let audio: Vec<u8> = packets
        .iter()
        .filter(|p| p.pt == 0)
        .flat_map(|p| p.payload.clone())
        .collect();
    assert_eq!(inband_digits(&audio), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sip_without_telephone_event_the_digits_go_in_band() {
    let (url, seen) = fake_tool_model::start("send_dtmf", json!({"digits": "9w00"})).await;
    let env = model_env(&url);
    let server = support::sipp::start(BINARY, &as_env(&env));
    let sip = server.sip.clone();
    let packets = tokio::task::spawn_blocking(move || {
        let peer = Peer::call(&sip, "dtmf-inband", false);
        sent_output(first_output(&seen, Duration::from_secs(10)), "9w00");
        std::thread::sleep(Duration::from_millis(200));
        peer.packets()
    })
    .await
    .expect("the peer");
    assert!(packets.iter().all(|p| p.pt == 0), "only PCMU was agreed");
    let audio: Vec<u8> = packets.iter().flat_map(|p| p.payload.clone()).collect();
    assert_eq!(inband_digits(&audio), "900");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_twilio_the_callers_audio_decodes_to_the_digits_sent() {
    let (url, seen) = fake_tool_model::start("send_dtmf", json!({"digits": "47*7"})).await;
    let env = model_env(&url);
    let server = support::server::start(BINARY, &as_env(&env), false);
    let answer = signed_webhook(&server.addr, AUTH, "CA_dtmf");
    let (stream, token) = stream_of(&answer.body);
    let ws = connect_stream(&stream, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_dtmf", &token).await;
    call.observed.audio = Some(Vec::new());
    // Four presses are 800 ms; stream caller silence until the model has
    // its answer, then a little more for the last frames.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().map(|s| s.outputs.is_empty()).unwrap_or(true) && Instant::now() < deadline {
        call.stream(&[0xFF; 160]).await;
    }
    call.stream(&[0xFF; 1_600]).await;
    sent_output(first_output(&seen, Duration::ZERO), "47*7");
    let audio = call.observed.audio.take().unwrap_or_default();
    assert_eq!(inband_digits(&audio), "47*7");
}
