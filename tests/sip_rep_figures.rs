//! SIP rep figures (issue 15; docs/PERFORMANCE.md, "SIP reps (issue
//! 15)"), through the real `warmline` binary on loopback with a scripted
//! Realtime model that escalates. Run with `-- --nocapture`.
//!
//! - From the rep INVITE leaving warmline to warmline taking the phone's
//!   180, over 10 rings of a SIPp rep that rings and refuses (486): both
//!   ends are lines of warmline's own log, one clock.
//! - The one-way latency of the bridge between a SIP caller and a SIP rep,
//!   both raw RTP peers in this process (one clock): a 100 ms chirp (300
//!   Hz to 3 kHz) found by cross-correlation in what the other side
//!   received, from the packet carrying its first sample leaving the
//!   sender to that sample arriving. The caller's signalling is SIPp; the
//!   rep's phone is a minimal SIP UAS here.

mod support {
    pub mod fake_tool_model;
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{fake_tool_model, sipp};
use warmline::media::g711::{ulaw_decode, ulaw_encode};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_SIPFIG_TOKEN";
const RINGS: usize = 10;
/// The figures are measured one at a time: two servers, SIPp and the
/// peers side by side on a small machine skew each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server(rep_uri: &str, model_url: &str) -> sipp::SipServer {
    let dir = std::env::temp_dir().join(format!("warmline-sipfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let config = dir.join(format!("reps-{}.toml", rep_uri.len()));
    std::fs::write(
        &config,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\
             sip_uri = \"{rep_uri}\"\n\n[handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    sipp::start(
        BIN,
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some("rep-token-sipfig")),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
            // The ring figure reads the endpoint's and the ringer's lines.
            ("RUST_LOG", Some("warn,warmline::ingress::sip=info")),
        ],
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1)]
}

/// The log line's timestamp (`2026-12-04T14:47:57.714226Z …`) as
/// seconds since midnight, and the value of its `field=`.
fn stamp_and_field(line: &str, field: &str) -> Option<(f64, String)> {
    let time = line.get(11..26)?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    let start = line.find(&format!("{field}="))? + field.len() + 1;
    let value = line[start..].split([' ', ',']).next()?.to_owned();
    Some((h * 3600.0 + m * 60.0 + s, value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_rep_s_ring_reaches_warmline_within_50_ms_at_p95() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (url, _seen) = fake_tool_model::start_per_call_with_summaries(
        "escalate_to_human",
        json!({"reason": "measure"}),
        Vec::new(),
    )
    .await;
    let rep_port = support::server::free_port();
    let server = server(&format!("sip:ana@127.0.0.1:{rep_port}"), &url);
    let rings = RINGS.to_string();
    let rep = std::thread::spawn(move || {
        let dir = sipp::workdir();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/rep_rings_then_busy.xml");
        Command::new("sipp")
            .current_dir(&dir)
            .arg("-sf")
            .arg(&file)
            .args(["-i", "127.0.0.1", "-p", &rep_port.to_string()])
            .args(["-m", &rings, "-nostdin", "-timeout", "60"])
            .output()
            .expect("sipp rep")
    });
    let sip = server.sip.clone();
    let callers = tokio::task::spawn_blocking(move || {
        sipp::run(
            "call_rtp",
            &sip,
            &[
                "-m",
                &RINGS.to_string(),
                "-r",
                "2",
                "-d",
                "1500",
                "-timeout",
                "60",
            ],
        )
    });
    let callers = callers.await.expect("callers ran");
    let rep = tokio::task::spawn_blocking(move || rep.join().expect("rep"))
        .await
        .expect("joined");
    let logs = server.server.logs();
    let placed = logs
        .iter()
        .filter(|l| l.contains("placing an outbound call"))
        .count();
    assert!(callers.passed(), "{}", callers.errors);
    assert!(
        rep.status.success(),
        "the SIPp rep took {RINGS} rings ({placed} placed): {}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let mut left = std::collections::HashMap::new();
    let mut times = Vec::new();
    for line in &logs {
        if line.contains("placing an outbound call") {
            if let Some((t, call)) = stamp_and_field(line, "call") {
                left.insert(call, t);
            }
        } else if line.contains("SIP rep's phone rings") {
            if let Some((t, call)) = stamp_and_field(line, "sip_call") {
                if let Some(sent) = left.get(&call) {
                    times.push(Duration::from_secs_f64((t - sent).max(0.0)));
                }
            }
        }
    }
    let sample: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("placing an outbound") || l.contains("phone rings"))
        .take(2)
        .collect();
    assert_eq!(times.len(), RINGS, "one 180 per ring: {sample:?}");
    times.sort();
    let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
    println!(
        "rep INVITE leaving → its 180 taken, over {RINGS} rings: p50 {:.2} ms, p95 {:.2} ms, \
         max {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    assert!(p95 < Duration::from_millis(50), "{p95:?}");
}

/// A 100 ms linear chirp from 300 Hz to 3 kHz at 8 kHz, as samples.
fn chirp() -> Vec<i16> {
    let (rate, n) = (8_000.0, 800usize);
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let phase = 2.0 * std::f64::consts::PI * (300.0 * t + 0.5 * 27_000.0 * t * t);
            let edge = (i.min(n - 1 - i) as f64 / (rate * 0.005)).min(1.0);
            (edge * phase.sin() * 12_000.0) as i16
        })
        .collect()
}

/// When the chirp's first sample arrived in `frames` (arrival instants of
/// 160-sample packets), and the normalised correlation there.
fn arrival(frames: &[(Instant, Vec<i16>)]) -> (Instant, f64) {
    let signal: Vec<f64> = frames
        .iter()
        .flat_map(|(_, f)| f.iter().map(|&s| f64::from(s)))
        .collect();
    let template: Vec<f64> = chirp().iter().map(|&s| f64::from(s)).collect();
    let t_energy: f64 = template.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut best = (0, 0.0);
    for lag in 0..signal.len().saturating_sub(template.len()) {
        let window = &signal[lag..lag + template.len()];
        let dot: f64 = window.iter().zip(&template).map(|(a, b)| a * b).sum();
        let energy: f64 = window.iter().map(|x| x * x).sum::<f64>().sqrt();
        let score = dot / (t_energy * energy).max(1e-9);
        if score > best.1 {
            best = (lag, score);
        }
    }
    let (lag, score) = best;
    let frame = (lag / 160).min(frames.len().saturating_sub(1));
    let within = Duration::from_secs_f64((lag % 160) as f64 / 8_000.0);
    (frames[frame].0 + within, score)
}

fn median(sorted: &[Duration]) -> Duration {
    sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or(Duration::MAX)
}

/// The latency of each chirp said after `from`: where it shows in what
/// the other side heard in the 400 ms after it left (well correlated
/// only), sorted.
fn latencies(said: &[Instant], heard: &[(Instant, Vec<i16>)], from: Instant) -> Vec<Duration> {
    let mut out: Vec<Duration> = said
        .iter()
        .filter(|s| **s > from)
        .filter_map(|s| {
            let window: Vec<_> = heard
                .iter()
                .filter(|(at, _)| *at >= *s && *at < *s + Duration::from_millis(400))
                .cloned()
                .collect();
            if window.len() < 10 {
                return None;
            }
            let (at, score) = arrival(&window);
            (score > 0.6).then(|| at.saturating_duration_since(*s))
        })
        .collect();
    out.sort();
    out
}

/// One side's RTP: sends 20 ms μ-law packets paced on this clock (the
/// chirp at each of `chirp_at`, after its start, else silence) to
/// wherever the first packet came from, and keeps what arrives.
struct Peer {
    socket: UdpSocket,
    heard: Vec<(Instant, Vec<i16>)>,
    said: Vec<Instant>,
}

impl Peer {
    fn bind() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("rtp");
        socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .expect("timeout");
        Peer {
            socket,
            heard: Vec::new(),
            said: Vec::new(),
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    /// Runs until `stop`; a chirp every `every` from the first packet.
    fn run(mut self, every: Duration, stop: Arc<AtomicBool>) -> Peer {
        let chirp = chirp();
        let (mut remote, mut start): (Option<SocketAddr>, Option<Instant>) = (None, None);
        let (mut sent, mut seq) = (0u64, 0u16);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                if n > 12 && buf[1] & 0x7f == 0 {
                    remote.get_or_insert(from);
                    start.get_or_insert_with(Instant::now);
                    let frame = buf[12..n].iter().map(|&c| ulaw_decode(c)).collect();
                    self.heard.push((Instant::now(), frame));
                }
            }
            let (Some(to), Some(t0)) = (remote, start) else {
                continue;
            };
            while t0.elapsed() >= Duration::from_millis(20 * sent) {
                let at = Duration::from_millis(20 * sent);
                let into = at.as_nanos() % every.as_nanos();
                let index = (into / 20_000_000) as usize;
                // The marker starts each chirp's talkspurt, as a phone with
                // silence suppression sends it: the jitter buffer may then
                // settle at what the network needs.
                let marker = if index == 0 { 0x80 } else { 0 };
                let mut packet = vec![0x80, marker, 0, 0, 0, 0, 0, 0, 0xca, 0xfe, 0, 1];
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&((sent * 160) as u32).to_be_bytes());
                for i in 0..160 {
                    let s = chirp.get(index * 160 + i).copied().unwrap_or(0);
                    packet.push(ulaw_encode(s));
                }
                if index == 0 {
                    self.said.push(Instant::now());
                }
                let _ = self.socket.send_to(&packet, to);
                sent += 1;
                seq = seq.wrapping_add(1);
            }
        }
        self
    }
}

fn header(message: &str, name: &str) -> String {
    message
        .lines()
        .find(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .map(|l| l.trim_end().to_owned())
        .unwrap_or_default()
}

/// A rep's phone: answers the INVITE (180, 200 with `rtp_port`) and sends
/// BYE after `talk`. Returns when the BYE is answered, and when the call
/// was answered.
fn phone(sip: UdpSocket, rtp_port: u16, talk: Duration) -> Instant {
    let mut buf = [0u8; 65_535];
    sip.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (n, from) = sip.recv_from(&mut buf).expect("the INVITE");
    let invite = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(invite.starts_with("INVITE "), "{invite}");
    let vias: Vec<&str> = invite.lines().filter(|l| l.starts_with("Via:")).collect();
    let to = format!("{};tag=phone", header(&invite, "To"));
    let (call_id, cseq, from_h) = (
        header(&invite, "Call-ID"),
        header(&invite, "CSeq"),
        header(&invite, "From"),
    );
    let local = sip.local_addr().expect("addr");
    let sdp = format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    );
    let response = |status: &str, body: &str| {
        let mut m = format!("SIP/2.0 {status}\r\n");
        for via in &vias {
            m.push_str(via);
            m.push_str("\r\n");
        }
        m.push_str(&format!(
            "{from_h}\r\n{to}\r\n{call_id}\r\n{cseq}\r\nContact: <sip:phone@{local}>\r\n"
        ));
        if !body.is_empty() {
            m.push_str("Content-Type: application/sdp\r\n");
        }
        m.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        m
    };
    sip.send_to(response("180 Ringing", "").as_bytes(), from)
        .expect("180");
    sip.send_to(response("200 OK", &sdp).as_bytes(), from)
        .expect("200");
    let answered = Instant::now();
    std::thread::sleep(talk);
    let contact = header(&invite, "Contact");
    let target = contact
        .split('<')
        .nth(1)
        .and_then(|c| c.split('>').next())
        .unwrap_or("sip:warmline@127.0.0.1")
        .to_owned();
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-phone-bye\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n{call_id}\r\nCSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        to.replacen("To:", "", 1).trim(),
        from_h.replacen("From:", "", 1).trim()
    );
    sip.send_to(bye.as_bytes(), from).expect("BYE");
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_to_a_sip_rep_adds_at_most_40_ms_one_way() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (url, _seen) = fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "measure"}),
        Vec::new(),
    )
    .await;
    let sip = UdpSocket::bind("127.0.0.1:0").expect("phone");
    let phone_port = sip.local_addr().expect("addr").port();
    let server = server(&format!("sip:rep@127.0.0.1:{phone_port}"), &url);
    let stop = Arc::new(AtomicBool::new(false));
    // The rep chirps every 1.2 s, the caller every 1 s: each finds the
    // other's in what it hears once bridged.
    let (rep_peer, caller_peer) = (Peer::bind(), Peer::bind());
    let rep_rtp = rep_peer.port();
    let caller_rtp = caller_peer.port().to_string();
    let rep_media = {
        let stop = stop.clone();
        std::thread::spawn(move || rep_peer.run(Duration::from_millis(1_200), stop))
    };
    let caller_media = {
        let stop = stop.clone();
        std::thread::spawn(move || caller_peer.run(Duration::from_millis(1_000), stop))
    };
    let phone = std::thread::spawn(move || phone(sip, rep_rtp, Duration::from_secs(13)));
    let sip_addr = server.sip.clone();
    let caller = tokio::task::spawn_blocking(move || {
        let args = [
            "-m",
            "1",
            "-timeout",
            "40",
            "-key",
            "media_peer_port",
            &caller_rtp,
        ];
        sipp::run("wait_for_bye_media_peer", &sip_addr, &args)
    });
    let outcome = caller.await.expect("sipp");
    let answered = phone.join().expect("phone");
    stop.store(true, Ordering::Relaxed);
    let rep = rep_media.join().expect("rep media");
    let caller = caller_media.join().expect("caller media");
    assert!(outcome.passed(), "{}", outcome.errors);
    // Each chirp sent 4 s or more after the answer (brief over, bridged,
    // steady state), found in the 400 ms after it left.
    let steady = answered + Duration::from_secs(4);
    let caller_to_rep = latencies(&caller.said, &rep.heard, steady);
    let rep_to_caller = latencies(&rep.said, &caller.heard, steady);
    // The jitter buffer each direction passed: the caller leg's, then the
    // rep leg's (their depths at the end, logged by warmline).
    let logs = server.server.logs();
    let depth = |what: &str| {
        logs.iter()
            .filter(|l| l.contains(what))
            .find_map(|l| {
                let at = l.find("jitter_depth=")? + "jitter_depth=".len();
                let ms = l[at..].split("ms").next()?;
                ms.parse::<u64>().ok().map(Duration::from_millis)
            })
            .unwrap_or_else(|| panic!("no jitter depth in {what:?} lines"))
    };
    let (caller_depth, rep_depth) = (depth("call media figures"), depth("SIP rep leg media over"));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let show = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
    };
    println!(
        "one-way through the bridge, SIP caller ↔ SIP rep ([media] jitter_min_ms = 0, loopback):\n  \
         caller → rep {:?} ms (median {:.1}), of which the caller leg's jitter buffer {:.0} ms\n  \
         rep → caller {:?} ms (median {:.1}), of which the rep leg's jitter buffer {:.0} ms",
        show(&caller_to_rep),
        ms(median(&caller_to_rep)),
        ms(caller_depth),
        show(&rep_to_caller),
        ms(median(&rep_to_caller)),
        ms(rep_depth)
    );
    assert!(caller_to_rep.len() >= 3, "the rep heard too few chirps");
    assert!(rep_to_caller.len() >= 3, "the caller heard too few chirps");
    let added_to_rep = median(&caller_to_rep).saturating_sub(caller_depth);
    let added_to_caller = median(&rep_to_caller).saturating_sub(rep_depth);
    println!(
        "  added beyond the jitter buffers (medians): caller → rep {:.1} ms, rep → caller {:.1} ms",
        ms(added_to_rep),
        ms(added_to_caller)
    );
    assert!(
        added_to_rep <= Duration::from_millis(40),
        "{added_to_rep:?}"
    );
    assert!(
        added_to_caller <= Duration::from_millis(40),
        "{added_to_caller:?}"
    );
}
