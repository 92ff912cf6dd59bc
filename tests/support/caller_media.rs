//! The media side of a SIPp caller in rep tests: SIPp 3.6 cannot record
//! what it receives, so a Rust RTP peer ([`MediaPeer`]) on the port its
//! SDP offers sends the caller's voice and keeps what warmline sends back;
//! and the cross-correlation that finds one voice in another's recording.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The loudest `len`-sample stretch of `samples` (a stretch of speech to
/// look for).
pub fn loudest(samples: &[i16], len: usize) -> &[i16] {
    let energy = |w: &[i16]| w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
    let start = (0..samples.len().saturating_sub(len))
        .step_by(len / 4)
        .max_by(|&a, &b| energy(&samples[a..a + len]).total_cmp(&energy(&samples[b..b + len])))
        .unwrap_or(0);
    &samples[start..start + len]
}

/// The best normalised cross-correlation of `needle` anywhere in `hay`.
pub fn best_match(hay: &[i16], needle: &[i16]) -> f64 {
    let n: f64 = needle.iter().map(|&s| f64::from(s).powi(2)).sum();
    let mut best = 0.0f64;
    for window in hay.windows(needle.len()) {
        let (mut dot, mut h) = (0.0, 0.0);
        for (&a, &b) in window.iter().zip(needle) {
            dot += f64::from(a) * f64::from(b);
            h += f64::from(a).powi(2);
        }
        if h > 0.0 {
            best = best.max(dot / (n * h).sqrt());
        }
    }
    best
}

/// The caller's RTP: sends `voice` (looped, μ-law, 20 ms packets) to
/// wherever warmline's first packet came from, and keeps every sample
/// warmline sent.
pub struct MediaPeer {
    /// The UDP port the caller's SDP offers.
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<i16>>,
}

impl MediaPeer {
    pub fn start(voice: Vec<i16>) -> MediaPeer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("peer bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut heard = Vec::new();
            let mut remote: Option<SocketAddr> = None;
            let (mut seq, mut at, mut sent) = (0u16, 0usize, 0u32);
            let start = Instant::now();
            let mut buf = [0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if n > 12 && buf[1] & 0x7f == 0 {
                        remote.get_or_insert(from);
                        heard.extend(
                            buf[12..n]
                                .iter()
                                .map(|&c| warmline::media::g711::ulaw_decode(c)),
                        );
                    }
                }
                let Some(to) = remote else { continue };
                // Paced by wall time: a packet per 20 ms since the start.
                while start.elapsed() >= Duration::from_millis(20 * u64::from(sent)) {
                    let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
                    packet[2..4].copy_from_slice(&seq.to_be_bytes());
                    packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                    for _ in 0..160 {
                        packet.push(warmline::media::g711::ulaw_encode(voice[at % voice.len()]));
                        at += 1;
                    }
                    let _ = socket.send_to(&packet, to);
                    seq = seq.wrapping_add(1);
                    sent += 1;
                }
            }
            heard
        });
        MediaPeer { port, stop, thread }
    }

    pub fn finish(self) -> Vec<i16> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("media peer")
    }
}
