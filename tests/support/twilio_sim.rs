//! A Twilio simulator for tests: signs and posts the voice webhook, opens
//! the Media Streams socket the TwiML names, streams caller audio in real
//! time, plays what the server sends at 20 ms per frame and echoes marks as
//! Twilio does (including all pending marks at once on `clear`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use warmline::ingress::twilio::signature::compute;

/// A raw HTTP/1.1 response.
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// POSTs a form to `http://{addr}{path}` with an optional signature header.
pub fn post_form(
    addr: &str,
    path: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> HttpResponse {
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let sig = signature.map_or(String::new(), |s| format!("X-Twilio-Signature: {s}\r\n"));
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{sig}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    HttpResponse { status, body }
}

/// GETs `http://{addr}{path}`.
#[allow(dead_code)] // not every test binary reads metrics
pub fn http_get(addr: &str, path: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    HttpResponse { status, body }
}

/// The value of the first Prometheus sample whose name and labels start
/// with `series`, if any.
#[allow(dead_code)]
pub fn metric(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The webhook parameters of an inbound call.
pub fn webhook_params(call_sid: &str) -> Vec<(String, String)> {
    [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15551230000"),
        ("To", "+15559870000"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Posts a correctly signed webhook; returns the TwiML.
pub fn signed_webhook(addr: &str, token: &str, call_sid: &str) -> HttpResponse {
    let params = webhook_params(call_sid);
    let sig = compute(token, &format!("http://{addr}/twilio/voice"), &params);
    post_form(addr, "/twilio/voice", &params, Some(&sig))
}

/// [`signed_webhook`] for a call to the number `to`.
pub fn signed_webhook_to(addr: &str, token: &str, call_sid: &str, to: &str) -> HttpResponse {
    let params: Vec<(String, String)> = webhook_params(call_sid)
        .into_iter()
        .map(|(k, v)| {
            if k == "To" {
                (k, to.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let sig = compute(token, &format!("http://{addr}/twilio/voice"), &params);
    post_form(addr, "/twilio/voice", &params, Some(&sig))
}

/// The stream URL and call token in a TwiML answer.
pub fn stream_of(twiml: &str) -> (String, String) {
    let url = twiml
        .split("url=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("Stream url")
        .to_owned();
    let token = twiml
        .split("name=\"call_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("call_token parameter")
        .to_owned();
    (url, token)
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the stream socket, signed over its URL (or with `signature`).
pub async fn connect_stream(
    url: &str,
    auth_token: &str,
    signature: Option<String>,
) -> Result<Socket, u16> {
    let mut request = url.into_client_request().expect("request");
    let sig = signature.unwrap_or_else(|| compute(auth_token, url, &[]));
    request.headers_mut().insert(
        "X-Twilio-Signature",
        HeaderValue::from_str(&sig).expect("header"),
    );
    // Twilio streams each frame as it is captured: Nagle's algorithm here
    // would hold a frame for the server's ACK of the previous one, adding
    // up to a frame of latency the server never caused.
    match tokio_tungstenite::connect_async_with_config(request, None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

/// What the simulated caller observed.
#[derive(Debug, Default)]
pub struct Observed {
    pub media_frames: usize,
    pub clears: usize,
    pub marks_sent_back: usize,
    pub closed_by_server: bool,
    /// The latest a caller frame left after its 20 ms slot (this side's
    /// scheduling, not the server's).
    pub max_send_lag: Duration,
    /// Times the playback queue ran dry and a frame started a new run
    /// (each one moves the echo path's delay).
    pub playout_restarts: usize,
    /// How far the playback of the nth frame fell behind the first frame's
    /// start plus n × 20 ms, at most (how much the echo path's delay grew
    /// while the agent spoke).
    pub max_playout_drift: Duration,
    first_play: Option<Instant>,
    /// (time since start, frames received so far) at each clear.
    pub clear_times: Vec<Duration>,
    /// Frames of audio received per 500 ms window.
    pub first_media_at: Option<Duration>,
    /// Every μ-law byte of agent audio received, in order, when set to
    /// `Some` (off by default: load runs must not keep it).
    pub audio: Option<Vec<u8>>,
    /// Each media frame received: when, and its RMS level (of 32767).
    pub media_levels: Vec<(Instant, f64)>,
    /// When the server closed the socket.
    pub closed_at: Option<Instant>,
}

/// The simulated call: drives the socket in real time.
pub struct SimCall {
    pub ws: Socket,
    pub stream_sid: String,
    started: Instant,
    seq: u64,
    media_ts: u64,
    /// Frames queued for playback: (done playing at, mark after it).
    playing: std::collections::VecDeque<(Instant, Option<String>)>,
    pub observed: Observed,
    /// The line returns what it played this late (ms) and this much
    /// quieter (dB), mixed into the caller audio `stream` sends.
    pub echo: Option<(u32, f32)>,
    /// Audio queued for playback: (done playing at, samples).
    audio_queue: std::collections::VecDeque<(Instant, Vec<i16>)>,
    /// What was played, on the caller stream's sample clock.
    line: Vec<i16>,
    /// Every sample of agent audio played, in order.
    pub played: Vec<i16>,
}

impl SimCall {
    /// Sends `connected` and `start`.
    pub async fn start(mut ws: Socket, call_sid: &str, call_token: &str) -> SimCall {
        let stream_sid = format!("MZ{call_sid}");
        ws.send(Message::text(
            json!({"event":"connected","protocol":"Call","version":"1.0.0"}).to_string(),
        ))
        .await
        .expect("send connected");
        ws.send(Message::text(
            json!({"event":"start","sequenceNumber":"1","streamSid":stream_sid,
                   "start":{"streamSid":stream_sid,"accountSid":"AC0","callSid":call_sid,"tracks":["inbound"],
                            "customParameters":{"call_token":call_token},
                            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}})
            .to_string(),
        ))
        .await
        .expect("send start");
        SimCall {
            ws,
            stream_sid,
            started: Instant::now(),
            seq: 1,
            media_ts: 0,
            playing: Default::default(),
            observed: Observed::default(),
            echo: None,
            audio_queue: Default::default(),
            line: Vec::new(),
            played: Vec::new(),
        }
    }

    /// Streams `mulaw` in 20 ms frames in real time, handling what comes back.
    pub async fn stream(&mut self, mulaw: &[u8]) {
        let mut next = tokio::time::Instant::now();
        for chunk in mulaw.chunks(160) {
            self.seq += 1;
            let mixed = self.with_echo(chunk);
            let payload = base64::engine::general_purpose::STANDARD.encode(&mixed);
            let msg = json!({"event":"media","sequenceNumber":self.seq.to_string(),"streamSid":self.stream_sid,
                             "media":{"track":"inbound","chunk":self.seq.to_string(),"timestamp":self.media_ts.to_string(),"payload":payload}});
            self.media_ts += 20;
            if self.ws.send(Message::text(msg.to_string())).await.is_err() {
                self.observed.closed_by_server = true;
                self.observed.closed_at.get_or_insert_with(Instant::now);
                return;
            }
            let lag = tokio::time::Instant::now().saturating_duration_since(next);
            self.observed.max_send_lag = self.observed.max_send_lag.max(lag);
            next += Duration::from_millis(20);
            if !self.pump_until(next).await {
                return;
            }
        }
    }

    fn with_echo(&self, chunk: &[u8]) -> Vec<u8> {
        let Some((delay_ms, loss_db)) = self.echo else {
            return chunk.to_vec();
        };
        let gain = 10f32.powf(-loss_db / 20.0);
        let start = self.media_ts as usize * 8;
        let delay = delay_ms as usize * 8;
        chunk
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                let n = start + j;
                let echo = n
                    .checked_sub(delay)
                    .and_then(|i| self.line.get(i))
                    .map_or(0.0, |&s| f32::from(s) * gain);
                let own = f32::from(warmline::media::g711::ulaw_decode(c));
                warmline::media::g711::ulaw_encode((own + echo).clamp(-32768.0, 32767.0) as i16)
            })
            .collect()
    }

    fn commit_played(&mut self) {
        while self
            .audio_queue
            .front()
            .is_some_and(|(due, _)| *due <= Instant::now())
        {
            let Some((due, samples)) = self.audio_queue.pop_front() else {
                break;
            };
            let start_ms = due
                .saturating_duration_since(self.started)
                .as_millis()
                .saturating_sub(20) as usize;
            let at = start_ms * 8;
            if self.line.len() < at + samples.len() {
                self.line.resize(at + samples.len(), 0);
            }
            self.line[at..at + samples.len()].copy_from_slice(&samples);
            self.played.extend_from_slice(&samples);
        }
    }

    /// Sends a DTMF digit.
    pub async fn dtmf(&mut self, digit: char) {
        self.seq += 1;
        let msg = json!({"event":"dtmf","sequenceNumber":self.seq.to_string(),"streamSid":self.stream_sid,
                         "dtmf":{"track":"inbound_track","digit":digit.to_string()}});
        let _ = self.ws.send(Message::text(msg.to_string())).await;
    }

    /// Handles server messages and plays audio until `deadline`; false
    /// when the server closed the socket.
    pub async fn pump_until(&mut self, deadline: tokio::time::Instant) -> bool {
        loop {
            self.commit_played();
            // Echo marks whose audio has finished playing.
            while self
                .playing
                .front()
                .is_some_and(|(due, _)| *due <= Instant::now())
            {
                if let Some((_, Some(name))) = self.playing.pop_front() {
                    self.send_mark(&name).await;
                }
            }
            let wait = tokio::time::sleep_until(deadline);
            tokio::select! {
                () = wait => return true,
                frame = self.ws.next() => {
                    match frame {
                        Some(Ok(Message::Text(text))) => self.on_server(text.as_str()).await,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                            self.observed.closed_by_server = true;
                            self.observed.closed_at.get_or_insert_with(Instant::now);
                            return false;
                        }
                        Some(Ok(_)) => {}
                    }
                }
            }
        }
    }

    async fn send_mark(&mut self, name: &str) {
        self.seq += 1;
        let msg = json!({"event":"mark","sequenceNumber":self.seq.to_string(),"streamSid":self.stream_sid,"mark":{"name":name}});
        let _ = self.ws.send(Message::text(msg.to_string())).await;
        self.observed.marks_sent_back += 1;
    }

    async fn on_server(&mut self, text: &str) {
        let v: Value = serde_json::from_str(text).expect("server sends JSON");
        match v["event"].as_str() {
            Some("media") => {
                self.observed.media_frames += 1;
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(v["media"]["payload"].as_str().unwrap_or(""))
                    .expect("media payload is base64");
                if let Some(audio) = self.observed.audio.as_mut() {
                    audio.extend_from_slice(&payload);
                }
                let energy: f64 = payload
                    .iter()
                    .map(|&c| f64::from(warmline::media::g711::ulaw_decode(c)).powi(2))
                    .sum();
                let rms = (energy / payload.len().max(1) as f64).sqrt();
                self.observed.media_levels.push((Instant::now(), rms));
                self.observed
                    .first_media_at
                    .get_or_insert(self.started.elapsed());
                // Twilio plays frames back to back from now or the queue end.
                if self.observed.media_frames > 1
                    && self.playing.back().is_none_or(|(d, _)| *d < Instant::now())
                {
                    self.observed.playout_restarts += 1;
                }
                let start = self
                    .playing
                    .back()
                    .map_or(Instant::now(), |(d, _)| (*d).max(Instant::now()));
                let first = *self.observed.first_play.get_or_insert(start);
                let nominal =
                    first + Duration::from_millis(20) * (self.observed.media_frames as u32 - 1);
                self.observed.max_playout_drift = self
                    .observed
                    .max_playout_drift
                    .max(start.saturating_duration_since(nominal));
                self.playing
                    .push_back((start + Duration::from_millis(20), None));
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(v["media"]["payload"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                self.audio_queue.push_back((
                    start + Duration::from_millis(20),
                    payload
                        .iter()
                        .map(|&c| warmline::media::g711::ulaw_decode(c))
                        .collect(),
                ));
            }
            Some("mark") => {
                let name = v["mark"]["name"].as_str().unwrap_or("").to_owned();
                match self.playing.back_mut() {
                    Some(last) if last.1.is_none() => last.1 = Some(name),
                    _ => {
                        let at = self.playing.back().map_or(Instant::now(), |(d, _)| *d);
                        self.playing.push_back((at, Some(name)));
                    }
                }
            }
            Some("clear") => {
                self.observed.clears += 1;
                self.observed.clear_times.push(self.started.elapsed());
                self.commit_played();
                self.audio_queue.clear();
                let pending: Vec<String> = self.playing.drain(..).filter_map(|(_, n)| n).collect();
                for name in pending {
                    self.send_mark(&name).await;
                }
            }
            other => panic!("unexpected server event {other:?}: {text}"),
        }
    }
}
