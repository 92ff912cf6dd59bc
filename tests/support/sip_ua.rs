//! A minimal SIP caller over UDP for tests that must see what SIPp does
//! not report: when each RTP packet arrived and whether it carried sound,
//! and when the server's BYE came. It sends an INVITE with a PCMU offer,
//! ACKs the 200, streams μ-law silence every 20 ms, records the server's
//! RTP, and answers the server's BYE with 200.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The status code of a SIP response.
pub fn status(message: &str) -> Option<u16> {
    message
        .strip_prefix("SIP/2.0 ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// The first value of header `name`.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// A UDP socket that speaks SIP to `target`.
pub struct Client {
    pub socket: UdpSocket,
    pub target: String,
    pub port: u16,
}

impl Client {
    pub fn new(target: &str) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        Client {
            socket,
            target: target.to_owned(),
            port,
        }
    }

    pub fn send(&self, message: &str) {
        self.socket
            .send_to(message.as_bytes(), &self.target)
            .expect("send");
    }

    /// The next message within `wait`.
    pub fn recv(&self, wait: Duration) -> Option<String> {
        let mut buf = [0u8; 65_535];
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("timeout");
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The first final (≥ 200) response within `wait`.
    pub fn final_response(&self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(m) = self.recv(left) {
                if status(&m).is_some_and(|s| s >= 200) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// An INVITE offering PCMU with media at `rtp_port`.
    pub fn invite(&self, call_id: &str, rtp_port: u16) -> String {
        let body = format!(
            "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        );
        format!(
            "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n\
             From: <sip:+15559870000@127.0.0.1>;tag=from-{call_id}\r\n\
             To: <sip:+15551230000@{target}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@127.0.0.1:{port}>\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            target = self.target,
            port = self.port,
            len = body.len(),
        )
    }

    /// An out-of-dialog OPTIONS.
    pub fn options(&self, call_id: &str) -> String {
        format!(
            "OPTIONS sip:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n\
             From: <sip:ping@127.0.0.1>;tag=from-{call_id}\r\n\
             To: <sip:{target}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            target = self.target,
            port = self.port,
        )
    }
}

/// One RTP packet from the server: when it arrived and its RMS level
/// (linear, of 32767).
#[derive(Clone, Copy, Debug)]
pub struct Heard {
    pub at: Instant,
    pub rms: f64,
}

/// A call in progress, observed from the caller's side.
pub struct ObservedCall {
    pub answered_at: Instant,
    heard: Arc<Mutex<Vec<Heard>>>,
    bye_at: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ObservedCall {
    /// Places a call to `target` and keeps it up until the server's BYE.
    pub fn place(target: &str, call_id: &str) -> ObservedCall {
        let client = Client::new(target);
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp bind");
        let rtp_port = rtp.local_addr().expect("addr").port();
        client.send(&client.invite(call_id, rtp_port));
        let ok = client
            .final_response(Duration::from_secs(5))
            .expect("a final answer to the INVITE");
        assert_eq!(status(&ok), Some(200), "{ok}");
        let answered_at = Instant::now();
        let to = header(&ok, "To").expect("To").to_owned();
        client.send(&format!(
            "ACK sip:warmline@{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-{call_id}-ack;rport\r\n\
             From: <sip:+15559870000@127.0.0.1>;tag=from-{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            t = client.target,
            p = client.port
        ));
        let remote_rtp = remote_media(&ok).expect("m= and c= in the answer");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let bye_at = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        // Caller RTP: silence every 20 ms (keeps the media timeout away).
        {
            let rtp = rtp.try_clone().expect("clone");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut next = Instant::now();
                let mut seq: u16 = 1;
                let mut ts: u32 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
                    packet[2..4].copy_from_slice(&seq.to_be_bytes());
                    packet[4..8].copy_from_slice(&ts.to_be_bytes());
                    packet.extend(std::iter::repeat_n(0xFFu8, 160));
                    let _ = rtp.send_to(&packet, remote_rtp);
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                    next += Duration::from_millis(20);
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }));
        }
        // The server's RTP, with arrival times and levels.
        {
            let heard = heard.clone();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                rtp.set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = rtp.recv(&mut buf) else { continue };
                    if n <= 12 || buf[1] & 0x7f != 0 {
                        continue;
                    }
                    let payload = &buf[12..n];
                    let energy: f64 = payload
                        .iter()
                        .map(|&c| {
                            let s = warmline::media::g711::ulaw_decode(c) as f64;
                            s * s
                        })
                        .sum();
                    let rms = (energy / payload.len() as f64).sqrt();
                    if let Ok(mut heard) = heard.lock() {
                        heard.push(Heard {
                            at: Instant::now(),
                            rms,
                        });
                    }
                }
            }));
        }
        // Signalling: answer the BYE.
        {
            let bye_at = bye_at.clone();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(m) = client.recv(Duration::from_millis(100)) else {
                        continue;
                    };
                    if !m.starts_with("BYE ") {
                        continue;
                    }
                    if let Ok(mut at) = bye_at.lock() {
                        at.get_or_insert_with(Instant::now);
                    }
                    let copy = |name: &str| header(&m, name).unwrap_or("").to_owned();
                    client.send(&format!(
                        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
                        copy("Via"),
                        copy("From"),
                        copy("To"),
                        copy("Call-ID"),
                        copy("CSeq")
                    ));
                }
            }));
        }
        ObservedCall {
            answered_at,
            heard,
            bye_at,
            stop,
            threads,
        }
    }

    /// When the server's BYE arrived, if it has.
    pub fn bye_at(&self) -> Option<Instant> {
        self.bye_at.lock().ok().and_then(|b| *b)
    }

    /// Waits up to `wait` for the server's BYE.
    pub fn wait_for_bye(&self, wait: Duration) -> Option<Instant> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(at) = self.bye_at() {
                return Some(at);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.bye_at()
    }

    /// Packets heard with an RMS level above `rms`, arrived in `[from, to)`.
    pub fn audible_between(&self, from: Instant, to: Instant, rms: f64) -> usize {
        self.heard
            .lock()
            .map(|h| {
                h.iter()
                    .filter(|p| p.at >= from && p.at < to && p.rms > rms)
                    .count()
            })
            .unwrap_or(0)
    }

    /// The first packet heard after `from` with an RMS level above `rms`.
    pub fn first_audible_after(&self, from: Instant, rms: f64) -> Option<Instant> {
        self.heard
            .lock()
            .ok()
            .and_then(|h| h.iter().find(|p| p.at >= from && p.rms > rms).map(|p| p.at))
    }

    /// Packets heard in all.
    pub fn packets(&self) -> usize {
        self.heard.lock().map(|h| h.len()).unwrap_or(0)
    }
}

impl Drop for ObservedCall {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The RTP address in an answer's SDP.
fn remote_media(message: &str) -> Option<std::net::SocketAddr> {
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
