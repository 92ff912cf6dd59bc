//! Headless Chromium calls the demo agent from `/try`, over the WebRTC leg
//! (str0m, ICE-lite, DTLS-SRTP, Opus), with a WAV as its microphone.
//!
//! The browser side is `tests/oracles/try_page.py` (Selenium driving
//! Debian's `chromium` and `chromium-driver`, all from
//! `scripts/install-deps`): it clicks Call and samples the page and the
//! received track's `getStats()` every 100 ms. The microphone is 1 s of
//! silence, a recorded caller phrase (speech 0.38–1.62 s into it) and
//! 0.6 s of silence, looped by Chromium. The test checks that the greeting
//! arrives as real audio (`totalAudioEnergy`), that the caller's speech
//! barges in on the agent on the server (its log line and
//! `warmline_barge_ins_total`) and on the page within 3 s of the speech,
//! and that the page shows the transcript. The screenshot is saved under
//! the test's target directory.

mod support {
    pub mod server;
    pub mod twilio_sim;
}

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::twilio_sim::http_get;

/// When the first word of the caller's phrase starts, in the microphone
/// file (1 s of silence, then `caller_01.wav`, whose speech starts at
/// 381 ms).
const SPEECH_ONSET_S: f64 = 1.381;
/// How long the browser stays on the call.
const CALL_SECONDS: &str = "8";

fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .expect("sox (scripts/install-deps installs it)");
    assert!(status.success(), "sox {args:?} failed");
}

/// The fake microphone: silence, a caller's phrase, silence; 48 kHz.
fn microphone(dir: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/caller_01.wav");
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    sox(&[
        "-n",
        "-r",
        "48000",
        "-c",
        "1",
        "-b",
        "16",
        &path("lead.wav"),
        "trim",
        "0",
        "1.0",
    ]);
    sox(&[
        "-n",
        "-r",
        "48000",
        "-c",
        "1",
        "-b",
        "16",
        &path("tail.wav"),
        "trim",
        "0",
        "0.6",
    ]);
    sox(&[
        &fixture.to_string_lossy(),
        "-r",
        "48000",
        &path("speech.wav"),
    ]);
    sox(&[
        &path("lead.wav"),
        &path("speech.wav"),
        &path("tail.wav"),
        &path("microphone.wav"),
    ]);
    dir.join("microphone.wav")
}

fn barge_ins_total(addr: &str) -> f64 {
    http_get(addr, "/metrics")
        .body
        .lines()
        .filter(|l| l.starts_with("warmline_barge_ins_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Seconds since midnight of the first log line containing `what` (the
/// line starts with an RFC 3339 UTC timestamp).
fn log_time(logs: &[String], what: &str) -> Option<f64> {
    let line = logs.iter().find(|l| l.contains(what))?;
    let time = line
        .split_whitespace()
        .next()?
        .split('T')
        .nth(1)?
        .trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn with_web_try_off_the_page_is_absent_and_a_browser_call_is_refused_but_joins_stay_possible() {
    use tokio_tungstenite::tungstenite::{connect, Message};
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("OPENAI_API_KEY", None), ("WARMLINE_WEB__TRY", Some("off"))],
        false,
    );
    assert_eq!(http_get(&server.addr, "/try").status, 404);
    assert_eq!(http_get(&server.addr, "/try/try.js").status, 404);
    // The socket stays for joins (the supervisor's desk, with the admin
    // token), but a browser's own call is refused, saying why.
    let (mut ws, _) = connect(format!("ws://{}/webrtc/ws", server.addr)).expect("/webrtc/ws");
    ws.send(Message::text(
        serde_json::json!({"type": "offer", "sdp": "v=0"}).to_string(),
    ))
    .expect("send");
    let answer = loop {
        match ws.read().expect("an answer") {
            Message::Text(text) => break serde_json::from_str::<Value>(&text).expect("JSON"),
            _ => continue,
        }
    };
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("[web] try")),
        "{answer}"
    );
    let metrics = http_get(&server.addr, "/metrics").body;
    assert!(
        metrics.contains("warmline_refused_total{ingress=\"webrtc\",reason=\"try_off\"} 1"),
        "{metrics}"
    );
    // The rest of the server is unaffected.
    assert_eq!(http_get(&server.addr, "/healthz").status, 200);
}

#[test]
fn a_browser_on_try_hears_the_greeting_barges_in_and_sees_the_transcript() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("try_page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let mic = microphone(&dir);
    let screenshot = dir.join("try.png");
    let _ = std::fs::remove_file(&screenshot);

    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("OPENAI_API_KEY", None), ("RUST_LOG", Some("info"))],
        true,
    );
    let page = http_get(&server.addr, "/try");
    assert_eq!(page.status, 200, "/try is on while HTTP binds loopback");
    assert!(page.body.contains("Talk to the agent"), "{}", page.body);
    let before = barge_ins_total(&server.addr);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/try_page.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{}", server.addr))
        .arg(&mic)
        .arg(&screenshot)
        .arg(CALL_SECONDS)
        .output()
        .expect("python3 with selenium (scripts/install-deps)");
    assert!(
        output.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("the oracle's JSON");
    let samples = report["samples"].as_array().expect("samples");
    let at = |s: &Value| s["t"].as_f64().unwrap_or(f64::MAX);
    let stats = |s: &Value, key: &str| s["stats"][key].as_f64();

    // Connected, and the greeting is sound, not silence. Chromium's
    // totalAudioEnergy sums (level² × seconds); 1.5 s of μ-law silence
    // stays under 1e-6, the recorded greeting reaches about 0.2.
    let connected = samples
        .iter()
        .find(|s| s["stats"]["pcState"] == "connected")
        .map(at)
        .expect("the browser's peer connection never connected");
    let greeting_energy = samples
        .iter()
        .filter(|s| at(s) < connected + 2.0 && stats(s, "bargeIns") == Some(0.0))
        .filter_map(|s| stats(s, "energy"))
        .fold(0.0, f64::max);
    assert!(
        greeting_energy > 0.01,
        "the greeting did not arrive as audio: totalAudioEnergy {greeting_energy}"
    );

    // The caller's speech barged in on the agent: on the server...
    let logs = server.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("barge-in") && l.contains("ingress=\"webrtc\"")),
        "no barge-in in the server log"
    );
    assert!(
        barge_ins_total(&server.addr) > before,
        "warmline_barge_ins_total did not move"
    );
    // ...and the page heard of it within 3 s of the speech starting.
    let seen = samples
        .iter()
        .find(|s| stats(s, "bargeIns").unwrap_or(0.0) > 0.0)
        .map(at)
        .expect("the page never showed a barge-in");
    assert!(
        seen <= SPEECH_ONSET_S + 3.0,
        "the page showed the barge-in {seen:.2} s after clicking Call (speech at {SPEECH_ONSET_S} s)"
    );

    // The page shows the transcript: the greeting first, then the caller.
    let transcript: Vec<String> = report["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    assert!(
        transcript
            .first()
            .is_some_and(|l| l.contains("Hello world.")),
        "{transcript:?}"
    );
    assert!(
        transcript.iter().any(|l| l.starts_with("YOU")),
        "no caller line: {transcript:?}"
    );
    assert!(
        transcript.iter().any(|l| l.contains("agent stopped")),
        "no barge-in note: {transcript:?}"
    );
    let connect_ms = match (
        log_time(&logs, "WebRTC call accepted"),
        log_time(&logs, "WebRTC media connected"),
    ) {
        (Some(answered), Some(connected)) => (connected - answered) * 1000.0,
        _ => panic!("the server logged no answer or no connection"),
    };
    println!(
        "answer to media connected: {connect_ms:.0} ms; greeting energy {greeting_energy:.3}; \
         barge-in on the page {seen:.2} s after Call"
    );

    let shot = std::fs::metadata(&screenshot).expect("the screenshot was saved");
    assert!(
        shot.len() > 10_000,
        "screenshot too small: {} bytes",
        shot.len()
    );
    println!("screenshot: {}", screenshot.display());
}
