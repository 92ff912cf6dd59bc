//! Barge-in on a SIP call, end to end against the real binary: a raw
//! SIP/RTP caller lets the demo agent's greeting start, talks over it with
//! a recorded caller fixture, and records every RTP packet warmline sends.
//! On SIP our pacer owns the clock, so:
//!
//! - the last agent RTP packet leaves within 20 ms of the barge-in decision
//!   (the decision's time is the server's log timestamp; both clocks are
//!   this machine's wall clock);
//! - the truncation's `audio_end_ms` equals the agent audio actually sent,
//!   ±20 ms.

mod support {
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

/// Seconds since midnight UTC, now.
fn wall_seconds_of_day() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        % 86_400.0
}

/// Seconds since midnight UTC of an RFC 3339 timestamp
/// (`2026-11-25T11:02:03.123456Z`).
fn timestamp_seconds_of_day(stamp: &str) -> f64 {
    let time = stamp
        .split('T')
        .nth(1)
        .expect("a date-time")
        .trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().and_then(|p| p.parse().ok()).expect("hours");
    let m: f64 = parts.next().and_then(|p| p.parse().ok()).expect("minutes");
    let s: f64 = parts.next().and_then(|p| p.parse().ok()).expect("seconds");
    h * 3_600.0 + m * 60.0 + s
}

fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Where the answer's SDP says to send RTP.
fn answer_rtp_address(answer: &str) -> SocketAddr {
    let ip = answer
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("m=audio port");
    format!("{ip}:{port}").parse().expect("RTP address")
}

/// A PCMU RTP packet.
fn rtp_packet(seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x5EED_CA11u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// One packet warmline sent: when it arrived (seconds of day), whether it
/// carried sound (anything but μ-law digital silence), and its marker bit
/// (warmline sets it on the first packet of each talkspurt).
#[derive(Clone, Copy, Debug)]
struct Heard {
    at: f64,
    voiced: bool,
    marker: bool,
}

#[test]
fn barge_in_on_sip_stops_agent_rtp_within_a_frame_and_truncates_to_the_audio_sent() {
    let server = support::sipp::start(
        BINARY,
        &[
            ("WARMLINE_LOG__FORMAT", Some("json")),
            ("RUST_LOG", Some("warn,warmline::call=info")),
        ],
    );
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
    let (sip_port, rtp_port) = (
        sip.local_addr().expect("addr").port(),
        rtp.local_addr().expect("addr").port(),
    );
    let target = server.sip.clone();
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let invite = format!(
        "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-bargein-1;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
         To: <sip:+15551230000@{target}>\r\n\
         Call-ID: barge-in-over-sip\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{sip_port}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), &target)
        .expect("send INVITE");
    sip.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 65_535];
    let answer = loop {
        assert!(Instant::now() < deadline, "no 200 OK to the INVITE");
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if status(&m) == Some(200) {
                break m;
            }
        }
    };
    let to = header(&answer, "To").expect("To").to_owned();
    let ack = format!(
        "ACK sip:warmline@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-bargein-ack;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
         To: {to}\r\nCall-ID: barge-in-over-sip\r\nCSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(ack.as_bytes(), &target).expect("send ACK");
    let media = answer_rtp_address(&answer);

    // Everything warmline sends us, with its arrival time.
    let heard = Arc::new(Mutex::new(Vec::<Heard>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let socket = rtp.try_clone().expect("clone RTP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let (heard, done) = (heard.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2_048];
            while !done.load(Ordering::Relaxed) {
                if let Ok((n, _)) = socket.recv_from(&mut buf) {
                    let at = wall_seconds_of_day();
                    if n > 12 && buf[1] & 0x7F == 0 {
                        let voiced = buf[12..n].iter().any(|&b| b != 0xFF && b != 0x7F);
                        let marker = buf[1] & 0x80 != 0;
                        if let Ok(mut h) = heard.lock() {
                            h.push(Heard { at, voiced, marker });
                        }
                    }
                }
            }
        })
    };

    // Silence until the greeting's audio arrives, then the caller talks
    // over it (speech from 381 ms into the fixture), then silence again.
    let speech = support::wav::fixture_mulaw("caller_01.wav");
    let silence = [0xFFu8; 160];
    let started = Instant::now();
    let mut talking_from = None;
    let mut seq = 0u16;
    let mut next = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        let greeting_started = heard
            .lock()
            .map(|h| h.iter().any(|p| p.voiced))
            .unwrap_or(false);
        if greeting_started && talking_from.is_none() {
            talking_from = Some(seq);
        }
        let payload = match talking_from {
            Some(first) => {
                let offset = usize::from(seq - first) * 160;
                speech.get(offset..offset + 160).unwrap_or(&silence)
            }
            None => &silence,
        };
        rtp.send_to(&rtp_packet(seq, u32::from(seq) * 160, payload), media)
            .expect("send RTP");
        seq = seq.wrapping_add(1);
        next += Duration::from_millis(20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if talking_from.is_some_and(|first| usize::from(seq - first) * 160 > speech.len() + 8_000) {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    receiver.join().expect("receiver");
    let bye = format!(
        "BYE sip:warmline@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-bargein-bye;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
         To: {to}\r\nCall-ID: barge-in-over-sip\r\nCSeq: 2 BYE\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(bye.as_bytes(), &target).expect("send BYE");
    assert!(talking_from.is_some(), "the greeting never arrived");

    // The server's record of the barge-in.
    let logs = server.server.logs();
    let barge_ins: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "barge-in")
        .collect();
    assert_eq!(barge_ins.len(), 1, "one barge-in expected: {barge_ins:?}");
    let record = &barge_ins[0];
    // The call's lines carry warmline's own UUIDv7 call id, with the SIP
    // dialog (Call-ID;from-tag) apart as provider_id.
    let call_id = record["span"]["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("call_id in the span: {record}"));
    let uuid = uuid::Uuid::parse_str(call_id).unwrap_or_else(|e| panic!("{call_id}: {e}"));
    assert_eq!(uuid.get_version_num(), 7, "{record}");
    assert_eq!(
        record["span"]["provider_id"], "barge-in-over-sip;caller-1",
        "{record}"
    );
    assert_eq!(record["span"]["ingress"], "sip", "{record}");
    let decided_at = timestamp_seconds_of_day(record["timestamp"].as_str().expect("timestamp"));
    let truncated = record["truncated"].as_str().expect("truncated field");
    let audio_end_ms: i64 = truncated
        .rsplit(", ")
        .next()
        .and_then(|t| t.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("audio_end_ms in {truncated}"));

    let heard = heard.lock().expect("heard").clone();
    // The greeting starts with the talkspurt's marker (its first 100 ms are
    // digital silence in the recording, so the payload cannot tell) and
    // was cut mid-word, so its last packet before the decision is voiced.
    let first = heard
        .iter()
        .position(|p| p.marker)
        .expect("a talkspurt marker on the greeting's first packet");
    let last = heard
        .iter()
        .enumerate()
        .skip(first)
        .take_while(|(_, p)| p.at <= decided_at + 0.1)
        .filter(|(_, p)| p.voiced)
        .map(|(i, _)| i)
        .last()
        .expect("agent audio before the decision");
    let last_agent = heard[last];
    let sent_ms = (last - first + 1) as i64 * 20;
    let after_decision_ms = (last_agent.at - decided_at) * 1_000.0;
    println!(
        "barge-in: {record}\nlast agent packet {after_decision_ms:+.1} ms from the decision; \
         agent audio sent {sent_ms} ms, audio_end_ms {audio_end_ms}"
    );
    assert!(
        after_decision_ms <= 20.0,
        "the last agent packet left {after_decision_ms:.1} ms after the decision"
    );
    assert!(
        after_decision_ms >= -40.0,
        "the agent was not speaking when the barge-in was decided ({after_decision_ms:.1} ms)"
    );
    // warmline reports what it released less one frame
    // (`PlaybackTracking::Released`): the frame its RTP send clock holds
    // back until its slot, which the barge-in blanks. When the decision
    // lands just after a slot, that slot's frame has already left and the
    // figure is one frame under what was sent.
    assert!(
        (audio_end_ms - sent_ms).abs() <= 20,
        "audio_end_ms {audio_end_ms} against {sent_ms} ms of agent audio sent"
    );
    // And the agent really stopped: silence follows the cut.
    let after: Vec<&Heard> = heard
        .iter()
        .filter(|p| p.at > decided_at + 0.02 && p.at < decided_at + 0.3)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|p| !p.voiced),
        "agent audio after the barge-in"
    );
}
