//! baresip, a real SIP softphone, calls the real `warmline` binary and its
//! offline demo agent, records what it hears, and hangs up.
//!
//! baresip 1.0 (Debian `baresip`, installed by `scripts/install-deps`) runs
//! headless with a fresh `-f DIR` per run (see `tests/support/baresip.rs`):
//! modules `g711` (PCMU/PCMA), `aufile` as the audio source (a 16-bit 8 kHz
//! WAV as microphone; in 1.0 aufile has no player, and none is needed),
//! `sndfile` as the recording filter, and the `account` and `menu` apps
//! (`menu` provides `/dial`). `sndfile` writes
//! `dump-YYYY-MM-DD-HH-MM-SS-dec.wav` (received, decoded) and `...-enc.wav`
//! (sent) into `snd_path`. `-t N` quits after N seconds and hangs up the
//! call with a BYE first (`ua: stop all`), waiting for its 200; `-s`
//! prints the SIP trace we check that against. If the microphone WAV ends
//! before `-t`, baresip hangs up instead ("audio error (end of file)"), so
//! the microphone here outlasts `-t`. `-n 127.0.0.1` keeps its SDP on
//! loopback, and it binds TCP/TLS on its SIP port + 1.

mod support {
    pub mod baresip;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::Path;
use std::time::{Duration, Instant};

use support::twilio_sim::{http_get, metric};
use support::{baresip, sipp};

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

fn fixture(name: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    support::wav::frames_8k(&path)
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect()
}

/// The best normalised cross-correlation of `needle` inside `hay`, over
/// offsets `0..=max_lag`, and that offset.
fn best_match(hay: &[i16], needle: &[i16], max_lag: usize) -> (f64, usize) {
    let n: f64 = needle.iter().map(|&s| f64::from(s).powi(2)).sum();
    let mut best = (0.0, 0);
    for lag in 0..=max_lag {
        let Some(window) = hay.get(lag..lag + needle.len()) else {
            break;
        };
        let (mut dot, mut h) = (0.0, 0.0);
        for (&a, &b) in window.iter().zip(needle) {
            dot += f64::from(a) * f64::from(b);
            h += f64::from(a).powi(2);
        }
        let c = if h > 0.0 { dot / (n * h).sqrt() } else { 0.0 };
        if c > best.0 {
            best = (c, lag);
        }
    }
    best
}

/// Polls `/metrics` until `series` reads `value` (or five seconds pass),
/// returning the last exposition.
fn metrics_until(addr: &str, series: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = http_get(addr, "/metrics").body;
        if metric(&body, series) == Some(value) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn baresip_calls_the_demo_agent_records_its_greeting_and_hangs_up_cleanly() {
    let server = sipp::start(env!("CARGO_BIN_EXE_warmline"), &[]);
    // A quiet caller (dithered silence, about -70 dBFS) so the agent's
    // greeting plays out without a barge-in; 15 s outlasts `-t`.
    let quiet = fixture("silence_dither.wav");
    let mic: Vec<i16> = quiet.iter().copied().cycle().take(15 * 8000).collect();
    let run = baresip::call(&format!("sip:agent@{}", server.sip), &mic, 6);
    let out = &run.output;

    assert_eq!(run.exit_code, Some(0), "{out}");
    assert!(out.contains("Call established"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("Call with sip:agent@") && l.contains("terminated")),
        "{out}"
    );

    // A clean hang-up from baresip: its BYE to warmline, and warmline's
    // 200 OK for that BYE back to baresip.
    let trace = run.sip_trace();
    let to_warmline = format!("{} -> {}", run.sip, server.sip);
    let to_baresip = format!("{} -> {}", server.sip, run.sip);
    let bye = trace
        .iter()
        .find(|(dir, start, _)| *dir == to_warmline && start.starts_with("BYE sip:"))
        .unwrap_or_else(|| panic!("no BYE from baresip in the trace: {trace:?}\n{out}"));
    assert!(bye.2.ends_with(" BYE"), "{bye:?}");
    assert!(
        trace.iter().any(|(dir, start, cseq)| *dir == to_baresip
            && start.starts_with("SIP/2.0 200")
            && *cseq == bye.2),
        "no 200 OK for {bye:?}: {trace:?}"
    );

    // What baresip received and decoded: the demo agent's greeting.
    let (heard, rate) = run.recording("-dec.wav");
    assert_eq!(rate, 8000);
    let seconds = heard.len() as f64 / 8000.0;
    assert!(
        seconds >= 2.0,
        "decoded recording is {seconds:.2} s long\n{out}"
    );
    // The silent reference: what baresip sent (the dithered silence),
    // recorded by the same filter.
    let (sent, _) = run.recording("-enc.wav");
    let heard_rms = rms(&heard);
    let silence_rms = rms(&sent);
    let greeting = fixture("demo_greeting.wav");
    let (similarity, offset) = best_match(&heard, &greeting, 8000);
    let greeting_rms = rms(&heard[offset..offset + greeting.len()]);
    println!(
        "decoded {seconds:.2} s: rms {heard_rms:.0} overall, {greeting_rms:.0} over the greeting \
         (at {:.3} s, correlation {similarity:.3}); silent reference (sent) rms {silence_rms:.1}",
        offset as f64 / 8000.0
    );
    assert!(silence_rms < 50.0, "silent reference rms {silence_rms}");
    assert!(heard_rms > 300.0, "decoded rms {heard_rms}");
    assert!(
        heard_rms > 10.0 * silence_rms,
        "{heard_rms} vs {silence_rms}"
    );
    // The whole greeting arrived, sample for sample as far as μ-law goes,
    // within the first second of the recording.
    assert!(similarity > 0.9, "greeting correlation {similarity:.3}");

    // warmline saw one SIP call, and it is over.
    let metrics = metrics_until(
        &server.server.addr,
        "warmline_calls_active{ingress=\"sip\"}",
        0.0,
    );
    assert_eq!(
        metric(&metrics, "warmline_calls_started_total{ingress=\"sip\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "warmline_calls_active{ingress=\"sip\"}"),
        Some(0.0),
        "{metrics}"
    );
}
