//! Headless Chromium takes a live call on `/rep` (issue 14's Done-when,
//! decision 0029): the real binary, a simulated Twilio caller who presses
//! 0 for the demo agent, and the page (tests/oracles/rep_call.py) logged
//! in as the rep with a fake microphone saying bursts of an 1100 Hz tone.
//! The page rings with the card, accepts, sends its audio, is bridged,
//! hears the caller (`getStats()` `totalAudioEnergy` above silence), the
//! caller hears the rep's tone, and the rep's hang-up closes the Twilio
//! stream. Then the call's card page (`/rep/calls/{id}`, decision 0040)
//! in a new tab asks for the rep token and shows the card, and the card
//! API answers only the rep's token (401, then 429 past the burst).
//! Saves `rep-call-ringing.png`, `rep-call-bridged.png` and `rep-card.png`
//! under the test's target tmpdir (docs/rep-call.png is one of them).

mod support {
    pub mod rep_phone;
    pub mod server;
    pub mod twilio_sim;
}

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::rep_phone::{rms, tone_share};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::{ulaw_decode, ulaw_encode};

const TOKEN_VAR: &str = "WARMLINE_REP_PAGE_CALL_TOKEN";
const TOKEN: &str = "rep-token-page-call-19be";
const REP_HZ: f64 = 1_100.0;

/// 10 s at 48 kHz: 400 ms of the rep's tone, 400 ms of quiet (bursts, so
/// the browser's noise suppression does not learn the tone as noise).
fn write_microphone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..480_000u32 {
        let on = (i / 19_200) % 2 == 0;
        let t = f64::from(i) / 48_000.0;
        let s = if on {
            10_000.0 * (2.0 * std::f64::consts::PI * REP_HZ * t).sin()
        } else {
            0.0
        };
        w.write_sample(s as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

fn caller_tone(from: usize, ms: usize) -> Vec<u8> {
    (from..from + ms * 8)
        .map(|i| {
            let t = i as f64 / 8_000.0;
            ulaw_encode((8_000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_takes_a_live_call_on_the_rep_page_and_talks_both_ways() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rep_call");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let microphone = dir.join("rep-microphone.wav");
    write_microphone(&microphone);
    let config = dir.join("reps.toml");
    std::fs::write(
        &config,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some(TOKEN)),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let addr = server.addr.clone();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/rep_call.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(TOKEN)
        .arg(&dir)
        .arg(&microphone)
        .arg("3")
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with selenium (scripts/install-deps)");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let ready = tokio::task::spawn_blocking({
        let lines = std::sync::Mutex::new(lines);
        move || {
            let line = lines
                .lock()
                .expect("lock")
                .recv_timeout(Duration::from_secs(60))
                .expect("the page never got ready (see its stderr)");
            (line, lines.into_inner().expect("lock"))
        }
    });
    let (line, lines) = ready.await.expect("ready");
    let ready: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(ready["ready"], true);

    // The caller: the greeting, 0, then the 700 Hz tone until the stream
    // closes (or the page's report comes).
    let answer = signed_webhook(&addr, AUTH, "CA_rep_page_call");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_rep_page_call", &call_token).await;
    call.observed.audio = Some(Vec::new());
    // Instants and the page's wall-clock times on one scale.
    let (zero, zero_wall) = (Instant::now(), SystemTime::now());
    let at = |wall: f64| {
        let since = wall
            - zero_wall
                .duration_since(UNIX_EPOCH)
                .expect("1970")
                .as_secs_f64();
        zero + Duration::from_secs_f64(since.max(0.0))
    };
    call.stream(&vec![0xFF; 8 * 2_500]).await;
    call.dtmf('0').await;
    call.stream(&vec![0xFF; 8 * 500]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut sample = 0;
    let mut report = None;
    while tokio::time::Instant::now() < deadline {
        if let Ok(line) = lines.try_recv() {
            report = Some(line);
        }
        if call.observed.closed_by_server && report.is_some() {
            break;
        }
        if call.observed.closed_by_server {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
    }
    let report: Value =
        serde_json::from_str(&report.expect("the page reported nothing")).expect("JSON");
    let status = child.wait().expect("python exits");
    assert!(status.success(), "{report}");

    assert_eq!(report["presence"], "available", "{report}");
    assert!(report["ring_at"].is_f64(), "the page never rang: {report}");
    assert!(
        report["next_action"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s != "—"),
        "{report}"
    );
    assert_eq!(report["audio"], "connected", "{report}");
    let bridged_at = at(report["bridged_at"].as_f64().expect("bridged"));
    let hung_up_at = at(report["hung_up_at"].as_f64().expect("hung up"));
    assert_eq!(report["after_hangup"], "idle", "{report}");

    // The page heard the caller: energy per second of received audio.
    let samples = report["samples"].as_array().expect("samples");
    let stat = |i: usize, key: &str| samples[i]["stats"][key].as_f64().unwrap_or(0.0);
    let last = samples.len() - 1;
    let energy = stat(last, "energy") - stat(0, "energy");
    let duration = stat(last, "duration") - stat(0, "duration");
    let power = energy / duration.max(1e-3);
    assert!(
        duration > 1.5 && power > 1e-3,
        "the page heard mean power {power:.5} over {duration:.2} s: {report}"
    );

    // The caller heard the rep's tone once bridged.
    let audio = call.observed.audio.as_deref().unwrap_or(&[]);
    let heard: Vec<i16> = call
        .observed
        .media_levels
        .iter()
        .zip(audio.chunks(160))
        .filter(|((when, _), _)| {
            *when >= bridged_at + Duration::from_millis(300) && *when < hung_up_at
        })
        .map(|(_, frame)| frame.iter().map(|&c| ulaw_decode(c)).collect::<Vec<i16>>())
        .filter(|frame| rms(frame) > 300.0)
        .flatten()
        .collect();
    let share = tone_share(&heard, 8_000.0, REP_HZ);
    assert!(
        heard.len() >= 8 * 500 && share > 0.5,
        "the caller heard {} loud samples, {REP_HZ} Hz share {share:.2}",
        heard.len()
    );
    // The rep hung up: the Twilio stream closed.
    let closed = call.observed.closed_at.expect("the stream never closed");
    assert!(
        closed >= hung_up_at && closed - hung_up_at < Duration::from_secs(3),
        "closed {:?} after the hang-up",
        closed.checked_duration_since(hung_up_at)
    );
    // The card page, opened after the call in a new tab (decision 0040):
    // it asked for the token, then showed the same next action, ended.
    let page = &report["card_page"];
    assert_eq!(page["asked_token"], true, "{page}");
    assert_eq!(page["state"], "ended", "{page}");
    assert_eq!(page["next_action"], report["next_action"], "{page}");
    assert!(page["lines"].as_u64().is_some_and(|n| n >= 1), "{page}");
    assert!(dir.join("rep-card.png").exists());
    let call_id = report["call_id"].as_str().expect("the page knew its call");
    warmline::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let card = |id: String, token: &'static str| {
        http.get(format!("http://{addr}/rep/calls/{id}/card"))
            .bearer_auth(token)
            .send()
    };
    let answer = card(call_id.to_owned(), TOKEN).await.expect("card");
    assert_eq!(answer.status(), 200);
    let shelved: Value = answer.json().await.expect("JSON");
    assert_eq!(shelved["card"]["call_id"], call_id);
    assert_eq!(shelved["state"], "ended");
    let unknown = card("0193aaaa-0000-7000-8000-000000000000".into(), TOKEN)
        .await
        .expect("card");
    assert_eq!(unknown.status(), 404, "a call never offered to the rep");
    // Wrong rep tokens: 401, then 429 past the burst, while the right
    // token still passes.
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let wrong = card(call_id.to_owned(), "not-a-rep-token")
            .await
            .expect("card");
        statuses.push(wrong.status().as_u16());
    }
    assert_eq!(statuses[0], 401, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let me = http
        .get(format!("http://{addr}/rep/me"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200, "the right token is never limited");
    assert!(dir.join("rep-call-ringing.png").exists());
    assert!(dir.join("rep-call-bridged.png").exists());
    println!(
        "the page heard mean power {power:.4} over {duration:.1} s; the caller heard {REP_HZ} Hz \
         share {share:.2}; stream closed {:?} after the hang-up",
        closed - hung_up_at
    );
}
