//! Barge-in on a SIP call, end to end against the real binary: a raw
//! SIP/RTP caller lets the demo agent's greeting start, talks over it with
//! a recorded caller fixture, and records every RTP packet warmline sends.
//! On SIP our pacer owns the clock, so:
//!
//! - the last agent RTP packet leaves within 20 ms of the barge-in moment,
//!   when warmline paused the agent (the server logs the barge-in when it
//!   confirms it, `decided_after_ms` after the pause; both clocks are this
//!   machine's wall clock);
//! - the truncation's `audio_end_ms` equals the agent audio actually sent,
//!   ±20 ms.
//!
//! And with the line returning the greeting as echo (160 ms, 10 dB down)
//! and nothing else, the greeting plays whole with no barge-in.

mod support {
    pub mod raw_sip;
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::raw_sip::{rtp_packet, RawCall};

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

/// One packet warmline sent: when it arrived (seconds of day), whether it
/// carried sound (anything but μ-law digital silence), and its marker bit
/// (warmline sets it on the first packet of each talkspurt).
#[derive(Clone, Copy, Debug)]
struct Heard {
    at: f64,
    voiced: bool,
    marker: bool,
}

/// A dialled call: the server and our raw caller.
struct Dialled {
    server: support::sipp::SipServer,
    call: RawCall,
}

/// Starts the server and places one call to it (INVITE, 200, ACK).
fn dial(call_id: &str) -> Dialled {
    let server = support::sipp::start(
        BINARY,
        &[
            ("WARMLINE_LOG__FORMAT", Some("json")),
            ("RUST_LOG", Some("warn,warmline::call=info")),
        ],
    );
    let call = support::raw_sip::dial(&server.sip, call_id);
    Dialled { server, call }
}

#[test]
fn barge_in_on_sip_stops_agent_rtp_within_a_frame_and_truncates_to_the_audio_sent() {
    let Dialled { server, call } = dial("barge-in-over-sip");
    let (rtp, media) = (&call.rtp, call.media);

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
    call.bye();
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
    // The audio stopped at the pause; the cancel and truncate follow when
    // the sound proves to be an interruption.
    let confirmed_after = record["decided_after_ms"]
        .as_u64()
        .or_else(|| record["fields"]["decided_after_ms"].as_u64())
        .expect("decided_after_ms") as f64
        / 1_000.0;
    let decided_at = timestamp_seconds_of_day(record["timestamp"].as_str().expect("timestamp"))
        - confirmed_after;
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

/// The line returns the demo's greeting 160 ms late and 10 dB down: the
/// greeting plays whole, with no barge-in and no answer.
#[test]
fn sip_greeting_with_echo_fed_back_plays_whole_without_a_pause() {
    let Dialled { server, call } = dial("echo-over-sip");
    let (rtp, media) = (&call.rtp, call.media);
    rtp.set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    let gain = 10f32.powf(-10.0 / 20.0);
    let delay_frames = 8; // 160 ms
    let mut returned: std::collections::VecDeque<[u8; 160]> = std::collections::VecDeque::new();
    let mut agent_frames = 0usize;
    let mut seq = 0u16;
    let mut next = Instant::now();
    let mut buf = [0u8; 2_048];
    while seq < 200 {
        // What warmline sent since the last frame is what the line plays.
        while let Ok((n, _)) = rtp.recv_from(&mut buf) {
            if n == 172 && buf[1] & 0x7F == 0 {
                let mut frame = [0xFFu8; 160];
                frame.copy_from_slice(&buf[12..172]);
                if frame.iter().any(|&b| b != 0xFF && b != 0x7F) {
                    agent_frames += 1;
                }
                returned.push_back(frame);
            }
        }
        // The caller side: only the echo, `delay_frames` behind.
        let payload: Vec<u8> = if returned.len() > delay_frames {
            let frame = returned.pop_front().expect("frame");
            frame
                .iter()
                .map(|&c| {
                    let s = f32::from(warmline::media::g711::ulaw_decode(c)) * gain;
                    warmline::media::g711::ulaw_encode(s as i16)
                })
                .collect()
        } else {
            vec![0xFF; 160]
        };
        rtp.send_to(&rtp_packet(seq, u32::from(seq) * 160, &payload), media)
            .expect("send RTP");
        seq = seq.wrapping_add(1);
        next += Duration::from_millis(20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    call.bye();
    let logs = server.server.logs();
    let barge_ins: Vec<&String> = logs.iter().filter(|l| l.contains("barge-in")).collect();
    assert!(barge_ins.is_empty(), "cut by its own echo: {barge_ins:?}");
    // A pause that resumed is reported apart (decision 0010's known limit:
    // on a loaded machine this loop's own timing moves the echo's delay).
    let resumed = logs
        .iter()
        .filter(|l| l.contains("false interruption"))
        .count();
    println!("SIP echo: {resumed} pauses on echo that resumed (false interruptions)");
    // Every frame of the greeting that carries sound arrived: it played to
    // its end (its last partial frame is padded, so it may count once more).
    let expected = support::wav::fixture_mulaw("demo_greeting.wav")
        .chunks(160)
        .filter(|f| f.iter().any(|&b| b != 0xFF && b != 0x7F))
        .count();
    println!("SIP echo 160 ms / 10 dB: {agent_frames} agent frames of {expected}, no barge-in");
    assert!(
        agent_frames == expected || agent_frames == expected + 1,
        "greeting frames heard: {agent_frames} of {expected}"
    );
}
