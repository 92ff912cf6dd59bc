//! A rep's softphone that is not a browser: `/rep/ws` over a blocking
//! WebSocket (login, presence, ring, accept or decline), and after
//! `accept` the rep's audio as the page sends it (docs/WEBRTC.md, "The
//! rep's half"): a str0m peer (full ICE, controlling) offering Opus on the
//! same socket, saying `microphone` (48 kHz, looped) once the call is
//! bridged and keeping every frame it hears, with when it heard it.

#![allow(dead_code)]
// tungstenite's handshake returns its large error type.
#![allow(clippy::result_large_err)]

use std::io::ErrorKind;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// A logged-in rep.
pub struct RepPhone {
    ws: WebSocket<TcpStream>,
    /// Every server message, with when it arrived.
    pub messages: Vec<(Instant, Value)>,
}

/// What the rep does once bridged.
#[derive(Clone, Debug)]
pub enum Finish {
    /// Hangs up after this long.
    HangUp(Duration),
    /// Hands the caller back to the AI after this long, with a note.
    HandBack(Duration, String),
    /// Vanishes after this long: stops sending and answering at once, with
    /// no message (a crashed browser). Dropping the phone then closes its
    /// socket without a close frame.
    Vanish(Duration),
}

/// What the rep heard and when things happened, after `accept`.
#[derive(Debug, Default)]
pub struct Talk {
    /// From the offer to str0m's `Connected`.
    pub connected_after: Option<Duration>,
    /// `call_state` `brief`, then `bridged`.
    pub brief_at: Option<Instant>,
    /// When the call was bridged.
    pub bridged_at: Option<Instant>,
    /// When the rep finished (hang-up or hand-back sent).
    pub finished_at: Option<Instant>,
    /// Each decoded frame (48 kHz) and when it arrived.
    pub heard: Vec<(Instant, Vec<i16>)>,
    /// The `call_ended` reason, if it came.
    pub ended: Option<String>,
    /// When each 20 ms frame of `microphone` was sent (once bridged).
    pub said: Vec<Instant>,
}

impl RepPhone {
    /// Logs in at `addr` with `token` and goes available.
    pub fn login(addr: &str, token: &str) -> RepPhone {
        let tcp = TcpStream::connect(addr).expect("connect");
        let (ws, _) =
            tungstenite::client(format!("ws://{addr}/rep/ws"), tcp).expect("WebSocket handshake");
        let mut phone = RepPhone {
            ws,
            messages: Vec::new(),
        };
        phone.send(json!({"type": "login", "token": token}));
        phone.wait_for("welcome", Duration::from_secs(5));
        phone.send(json!({"type": "presence", "presence": "available"}));
        let presence = phone.wait_for("presence", Duration::from_secs(5));
        assert_eq!(presence["status"]["presence"], "available", "{presence}");
        phone
    }

    /// Sends one message.
    pub fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .expect("send");
    }

    /// Reads until a message of type `kind` (kept with the others); panics
    /// past `wait` or on an `error`.
    pub fn wait_for(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {kind} within {wait:?}: {:?}",
                self.messages
            );
            self.ws
                .get_mut()
                .set_read_timeout(Some(left))
                .expect("timeout");
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    self.messages.push((Instant::now(), value.clone()));
                    assert_ne!(value["type"], "error", "refused: {value}");
                    if value["type"] == kind {
                        return value;
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("the rep's socket failed: {e}"),
            }
        }
    }

    /// Accepts `call_id`, sends the rep's audio, stays through the brief
    /// and the bridge, then finishes as `finish` says; returns within
    /// `max` in any case.
    pub fn accept_and_talk(
        &mut self,
        call_id: &str,
        microphone: &[i16],
        finish: Finish,
        max: Duration,
    ) -> Talk {
        warmline::tls::install_crypto_provider();
        let mut talk = Talk::default();
        self.send(json!({"type": "accept", "call_id": call_id}));
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
        self.send(json!({"type": "offer", "sdp": offer.to_sdp_string()}));
        let answer = self.wait_for("answer", Duration::from_secs(5));
        let answer =
            SdpAnswer::from_sdp_string(answer["sdp"].as_str().expect("sdp")).expect("answer SDP");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("accept answer");
        self.ws
            .get_mut()
            .set_nonblocking(true)
            .expect("nonblocking");
        let pt = rtc
            .writer(mid)
            .and_then(|w| w.payload_params().next().map(|p| p.pt()))
            .expect("Opus negotiated");
        let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .expect("encoder");
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
        let mut pcm = vec![0i16; 5760];
        let mut packet = [0u8; 1500];
        let mut buf = vec![0u8; 2048];
        let deadline = offered + max;
        let mut connected = false;
        let mut next_send = Instant::now();
        let mut sent: u64 = 0;
        let mut said: u64 = 0;
        let silence = [0i16; 960];
        let mut ended_at: Option<Instant> = None;
        while Instant::now() < deadline
            && ended_at.is_none_or(|t| t.elapsed() < Duration::from_millis(300))
        {
            let timeout = loop {
                match rtc.poll_output().expect("poll") {
                    Output::Timeout(at) => break at,
                    Output::Transmit(t) => {
                        let _ = udp.send_to(&t.contents, t.destination);
                    }
                    Output::Event(Event::Connected) => {
                        connected = true;
                        talk.connected_after = Some(offered.elapsed());
                        next_send = Instant::now();
                    }
                    Output::Event(Event::MediaData(data)) => {
                        if let Ok(n) = decoder.decode(&data.data, &mut pcm, false) {
                            talk.heard.push((Instant::now(), pcm[..n].to_vec()));
                        }
                    }
                    Output::Event(_) => {}
                }
            };
            // 20 ms of microphone: silence until bridged (the agent hears
            // the rep during the brief), then what the rep says.
            let mut wrote = false;
            if connected {
                while Instant::now() >= next_send {
                    wrote = true;
                    let frame: Vec<i16> = if talk.bridged_at.is_some() {
                        let start = (said as usize * 960) % microphone.len().max(1);
                        said += 1;
                        talk.said.push(Instant::now());
                        (0..960)
                            .map(|i| microphone[(start + i) % microphone.len().max(1)])
                            .collect()
                    } else {
                        silence.to_vec()
                    };
                    if let Ok(n) = encoder.encode(&frame, &mut packet) {
                        let time = MediaTime::new(sent * 960, Frequency::FORTY_EIGHT_KHZ);
                        if let Some(writer) = rtc.writer(mid) {
                            let _ = writer.write(pt, next_send, time, &packet[..n]);
                        }
                    }
                    sent += 1;
                    next_send += Duration::from_millis(20);
                }
            }
            // A phone sends what it wrote now: str0m hands the packet out
            // on the next poll, at the top of the loop, not after a wait
            // for input.
            if wrote {
                continue;
            }
            // Signalling, without waiting.
            loop {
                match self.ws.read() {
                    Ok(Message::Text(text)) => {
                        let value: Value = serde_json::from_str(&text).expect("JSON");
                        let now = Instant::now();
                        match (value["type"].as_str(), value["state"].as_str()) {
                            (Some("call_state"), Some("brief")) => talk.brief_at = Some(now),
                            (Some("call_state"), Some("bridged")) => talk.bridged_at = Some(now),
                            (Some("call_ended"), _) => {
                                talk.ended = value["reason"].as_str().map(str::to_owned);
                                ended_at = Some(now);
                            }
                            _ => {}
                        }
                        self.messages.push((now, value));
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            // The rep's finish, once bridged long enough.
            if let (Some(bridged), None) = (talk.bridged_at, talk.finished_at) {
                if let Finish::Vanish(after) = &finish {
                    if bridged.elapsed() >= *after {
                        talk.finished_at = Some(Instant::now());
                        break;
                    }
                }
                let message = match &finish {
                    Finish::HangUp(after) if bridged.elapsed() >= *after => {
                        Some(json!({"type": "hangup", "call_id": call_id}))
                    }
                    Finish::HandBack(after, note) if bridged.elapsed() >= *after => {
                        Some(json!({"type": "hand_back", "call_id": call_id, "note": note}))
                    }
                    _ => None,
                };
                if let Some(message) = message {
                    let _ = self.ws.send(Message::text(message.to_string()));
                    talk.finished_at = Some(Instant::now());
                }
            }
            let mut wake = timeout.min(deadline);
            if connected {
                wake = wake.min(next_send);
            }
            let wait = wake.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
                continue;
            }
            udp.set_read_timeout(Some(wait.min(Duration::from_millis(10))))
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
        self.ws.get_mut().set_nonblocking(false).expect("blocking");
        talk
    }
}

/// The share of `samples`' energy at `freq` Hz (Goertzel): about 1 for a
/// pure tone at `freq`, near 0 for silence, speech or another tone.
pub fn tone_share(samples: &[i16], rate: f64, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples.len() as f64;
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    if energy == 0.0 {
        return 0.0;
    }
    (2.0 * power / n) / energy
}

/// RMS of samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}
