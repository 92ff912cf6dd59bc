//! Headless Chromium on `/dashboard`, the supervisor's desk (issue 17,
//! decision 0030): the real binary, a simulated Twilio caller saying a
//! 700 Hz tone, and a scripted Realtime model whose first response asks
//! for `refund`, a tool gated by `approval = "required"` whose webhook is
//! served here. The page (tests/oracles/dashboard.py) refuses a wrong
//! token, logs in with the admin token (kept in sessionStorage) and must:
//! - show the live call within 3 s of its server-side `started_at`, with
//!   the approval waiting, flagged on the row;
//! - listen in: received audio with `getStats()` energy above silence;
//! - whisper: the model gets a system-role item and no `response.create`
//!   follows because of it;
//! - approve with edited arguments: the webhook gets the edit;
//! - take over: the agent's leg leaves the call, the page's rep leg is in
//!   and hears the caller; its hang-up ends the call (and a monitor's
//!   `take_over` is refused).
//!
//!
//! A second test coaches: a rep (a str0m peer, tests/support/webrtc_peer.rs)
//! is in a call with the demo agent; the page's Coach sends Chromium's
//! microphone (bursts of a tone from a WAV) into the call, and the rep
//! hears it while the caller does not.
//!
//! Saves `dashboard.png` and `dashboard-take-over.png` under the test's
//! target tmpdir (docs/dashboard.png is the first).

mod support {
    pub mod desk_page;
    pub mod fake_tool_model;
    pub mod server;
    pub mod twilio_sim;
    pub mod webrtc_peer;
}

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use support::desk_page::Page;
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::ulaw_encode;

const ADMIN: &str = "admin-token-dashboard-7f3c";
const SECRET: &str = "whsec_dashboard_test";
const WHISPER: &str = "The caller is a premium customer: offer a callback.";

/// `ms` of the caller's 700 Hz tone, from sample `from` on.
fn caller_tone(from: usize, ms: usize) -> Vec<u8> {
    (from..from + ms * 8)
        .map(|i| {
            let t = i as f64 / 8_000.0;
            ulaw_encode((8_000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16)
        })
        .collect()
}

/// The refund webhook: records each body.
async fn refund(State(seen): State<Arc<Mutex<Vec<Value>>>>, body: String) -> axum::Json<Value> {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let amount = body["arguments"]["amount"].clone();
    if let Ok(mut seen) = seen.lock() {
        seen.push(body);
    }
    axum::Json(json!({ "refunded": amount }))
}

/// Starts tests/oracles/dashboard.py on the server at `addr`, with
/// `extra` arguments (the coach mode).
fn open_page(addr: &str, dir: &Path, extra: &[&str]) -> (Page, std::process::Child) {
    support::desk_page::open("dashboard.py", addr, ADMIN, dir, extra)
}

/// Mean power of the received audio over a run of `getStats()` samples.
fn power(samples: &Value) -> (f64, f64) {
    let samples: Vec<&Value> = samples
        .as_array()
        .map(|s| s.iter().filter(|s| s["energy"].is_f64()).collect())
        .unwrap_or_default();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return (0.0, 0.0);
    };
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap_or(0.0);
    let duration = f(last, "duration") - f(first, "duration");
    let energy = f(last, "energy") - f(first, "energy");
    (energy / duration.max(1e-3), duration)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("1970")
        .as_secs_f64()
}

async fn live_call(http: &reqwest::Client, addr: &str, id: &str) -> Value {
    let answer = http
        .get(format!("http://{addr}/api/v1/calls/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    answer.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_shows_a_live_call_listens_whispers_approves_and_takes_over() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("artifact dir");

    // The refund webhook and the scripted model.
    let refunds = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tool_base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = Router::new()
        .route("/refund", post(refund))
        .with_state(refunds.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let speech = caller_tone(0, 400);
    let (model_url, seen) = support::fake_tool_model::start_with_audio(
        "refund",
        json!({"order": "A17", "amount": 90}),
        speech,
    )
    .await;
    let config = dir.join("dashboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"[call]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[tools]]
name = "refund"
description = "Refund an order."
kind = "webhook"
url = "{tool_base}/refund"
approval = "required"
parameters = {{ type = "object", properties = {{ order = {{ type = "string" }}, amount = {{ type = "integer" }} }}, required = ["order", "amount"] }}
"#
        ),
    )
    .expect("config");
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            ("WARMLINE_TOOLS_SECRET", Some(SECRET)),
            ("WARMLINE_MODEL__OPENAI_URL", Some(&model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let addr = server.addr.clone();
    warmline::tls::install_crypto_provider();
    let http = reqwest::Client::new();

    let (mut page, mut child) = open_page(&addr, &dir, &[]);
    let ready = page.next(60).await;
    assert_eq!(ready["ready"], true, "the desk never went live: {ready}");
    let refused = &ready["refused"];
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("not the admin token")),
        "{ready}"
    );
    assert_eq!(
        refused["kept"],
        Value::Null,
        "a refused token was kept: {ready}"
    );
    assert_eq!(refused["desk_shown"], false, "{ready}");
    assert_eq!(
        ready["kept"], ADMIN,
        "the session is the tab's sessionStorage"
    );

    // The caller: the tone, 100 ms at a time, between the page's steps.
    let answer = signed_webhook(&addr, AUTH, "CA_dashboard");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_dashboard", &call_token).await;
    let mut sample = 0;
    let row = loop {
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
        match page.lines.try_recv() {
            Ok(line) => break serde_json::from_str::<Value>(&line).expect("JSON"),
            Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
    };
    let id = row["call_id"]
        .as_str()
        .expect("the row names its call")
        .to_owned();
    let listed = live_call(&http, &addr, &id).await;
    let started = chrono_secs(listed["started_at"].as_str().expect("started_at"));
    let shown = row["row_at"].as_f64().expect("the call never showed") - started;
    assert!(shown < 3.0, "the call showed {shown:.2} s after it started");
    assert!(row["approval_at"].is_f64(), "no approval showed: {row}");
    assert!(
        row["flags"].to_string().contains("Approval waiting"),
        "{row}"
    );

    // Each later step: keep the caller talking until the page reports.
    macro_rules! step {
        ($secs:expr) => {{
            let deadline = tokio::time::Instant::now() + Duration::from_secs($secs);
            loop {
                match page.lines.try_recv() {
                    Ok(line) => break serde_json::from_str::<Value>(&line).expect("JSON"),
                    Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                assert!(tokio::time::Instant::now() < deadline, "the page stalled");
                if call.observed.closed_by_server {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                call.stream(&caller_tone(sample, 100)).await;
                sample += 800;
            }
        }};
    }
    // Only a rep leg may take over: a monitor's take_over is refused
    // before anything joins.
    let (a, i) = (addr.clone(), id.clone());
    let refused = tokio::task::spawn_blocking(move || {
        support::webrtc_peer::first_answer(
            &a,
            json!({"type": "join", "call_id": i, "role": "monitor", "take_over": true,
                   "token": ADMIN, "sdp": "v=0"}),
        )
    })
    .await
    .expect("answered");
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("take_over needs role")),
        "{refused}"
    );

    let listen = step!(20);
    let (heard, over) = power(&listen["listen"]);
    assert!(
        over > 1.5 && heard > 1e-3,
        "listening heard mean power {heard:.5} over {over:.2} s: {listen}"
    );

    let whispered = step!(10);
    assert!(whispered["whispered_at"].is_f64(), "{whispered}");
    let responses = seen.lock().expect("seen").responses;
    let system_item = |seen: &support::fake_tool_model::Seen| {
        seen.items
            .iter()
            .any(|i| i["role"] == "system" && i.to_string().contains(WHISPER))
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while !system_item(&seen.lock().expect("seen")) {
        assert!(
            tokio::time::Instant::now() < until,
            "the whisper never reached the model"
        );
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
    }
    for _ in 0..15 {
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
    }
    assert_eq!(
        seen.lock().expect("seen").responses,
        responses,
        "a response.create followed the whisper"
    );
    page.go();

    let approved = step!(10);
    assert!(approved["approved_at"].is_f64(), "{approved}");
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while refunds.lock().expect("refunds").is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "the webhook was never called"
        );
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
    }
    let body = refunds.lock().expect("refunds")[0].clone();
    assert_eq!(body["arguments"]["amount"], 40, "{body}");

    let took = step!(20);
    let (taken, over) = power(&took["take_over"]);
    assert!(
        over > 1.5 && taken > 1e-3,
        "after the take-over the page heard mean power {taken:.5} over {over:.2} s: {took}"
    );
    let legs = live_call(&http, &addr, &id).await["legs"].clone();
    let roles: Vec<&str> = legs
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["role"].as_str()).collect())
        .unwrap_or_default();
    assert!(!roles.contains(&"agent"), "the agent is still in: {legs}");
    assert!(roles.contains(&"rep"), "no rep leg: {legs}");
    page.go();

    let hung = step!(10);
    let closed = tokio::time::Instant::now() + Duration::from_secs(5);
    while !call.observed.closed_by_server {
        assert!(tokio::time::Instant::now() < closed, "the call never ended");
        call.stream(&caller_tone(sample, 100)).await;
        sample += 800;
    }
    assert_eq!(hung["rows_after"], 0, "{hung}");
    let status = child.wait().expect("python exits");
    assert!(status.success());
    assert!(dir.join("dashboard.png").exists());
    println!(
        "row {shown:.2} s after start; listen power {heard:.4}, after the take-over {taken:.4}; whisper as a system item, \
         no response; approved amount 40; took over: {roles:?}; ended {:.2} s after the hang-up",
        now_secs() - hung["hung_up_at"].as_f64().unwrap_or(0.0)
    );
}

/// Seconds since 1970 of an RFC 3339 UTC time as the API writes it.
fn chrono_secs(at: &str) -> f64 {
    let at: jiff::Timestamp = at.parse().expect("RFC 3339");
    at.as_millisecond() as f64 / 1000.0
}

/// 10 s at 48 kHz: 400 ms of a 1100 Hz tone, 400 ms of quiet (bursts, so
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
            10_000.0 * (2.0 * std::f64::consts::PI * 1_100.0 * t).sin()
        } else {
            0.0
        };
        w.write_sample(s as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coaching_from_the_desk_reaches_the_rep_and_not_the_caller() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard_coach");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let microphone = dir.join("coach.wav");
    write_microphone(&microphone);
    let config = dir.join("coach.toml");
    std::fs::write(
        &config,
        "[call]\nsilence_reprompt_secs = 0\nsilence_hangup_secs = 0\n",
    )
    .expect("config");
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            ("OPENAI_API_KEY", None),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let addr = server.addr.clone();
    let mic = microphone.to_str().expect("utf-8 path");
    let (mut page, mut child) = open_page(&addr, &dir, &["coach", mic]);
    let ready = page.next(60).await;
    assert_eq!(ready["ready"], true, "the desk never went live: {ready}");

    // A silent caller: the demo agent greets, then nobody speaks.
    let answer = signed_webhook(&addr, AUTH, "CA_dashboard_coach");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_dashboard_coach", &call_token).await;
    let quiet = vec![0xFF; 800];
    let row = loop {
        call.stream(&quiet).await;
        match page.lines.try_recv() {
            Ok(line) => break serde_json::from_str::<Value>(&line).expect("JSON"),
            Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
    };
    let id = row["call_id"]
        .as_str()
        .expect("the row names its call")
        .to_owned();
    // Wait out the greeting: 1 s without sound reaching the caller.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        call.stream(&quiet).await;
        let levels = &call.observed.media_levels;
        // Only sound is sent: quiet is the last loud frame 1 s back.
        let last_loud = levels.iter().rev().find(|(_, rms)| *rms > 100.0);
        if last_loud.is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(1)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the greeting never ended: {} frames, the last 50 at {:?}",
            levels.len(),
            levels
                .iter()
                .rev()
                .take(50)
                .map(|(_, r)| *r as i64)
                .collect::<Vec<_>>()
        );
    }

    // The rep (silent) joins for 9 s; then the page coaches.
    let (a, i) = (addr.clone(), id.clone());
    let rep = tokio::task::spawn_blocking(move || {
        support::webrtc_peer::join(&a, &i, "rep", ADMIN, &[0i16; 960], 9.0)
    });
    for _ in 0..10 {
        call.stream(&quiet).await;
    }
    page.go();
    let coached = loop {
        call.stream(&[0xFF; 160]).await;
        match page.lines.try_recv() {
            Ok(line) => break serde_json::from_str::<Value>(&line).expect("JSON"),
            Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
    };
    let connected = coached["coach_connected_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("the coach never connected: {coached}"));
    let caller_loud = {
        let since = Duration::from_secs_f64((now_secs() - connected).max(0.0));
        let from = std::time::Instant::now() - since;
        call.observed
            .media_levels
            .iter()
            .filter(|(at, rms)| *at >= from && *rms > 300.0)
            .count()
    };
    while !rep.is_finished() {
        call.stream(&quiet).await;
    }
    let report = rep.await.expect("the rep ran");
    let rep_loud = report.frame_rms.iter().filter(|&&rms| rms > 300.0).count();
    assert!(
        rep_loud >= 25,
        "the rep heard {rep_loud} loud frames of {}",
        report.frame_rms.len()
    );
    assert!(
        caller_loud <= 2,
        "the caller heard {caller_loud} loud frames while the desk coached"
    );
    let left = page.next(10).await;
    assert_eq!(left["left"], true, "{left}");
    let status = child.wait().expect("python exits");
    assert!(status.success());
    println!("coaching: the rep heard {rep_loud} loud frames, the caller {caller_loud}");
}
