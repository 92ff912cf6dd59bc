//! Headless Chromium on `/dashboard`, the supervisor's desk (issue 17,
//! decision 0030): the real binary, a simulated Twilio caller saying a
//! 700 Hz tone, and a scripted Realtime model whose first response asks
//! for `refund`, a tool gated by `approval = "required"` whose webhook is
//! served here. The page (tests/oracles/dashboard.py) refuses a wrong
//! token, logs in as "Ada Lovelace" (the admin token exchanged for a
//! session token, which alone is kept in sessionStorage; decision 0038)
//! and must:
//! - show the live call within 3 s of its server-side `started_at`, with
//!   the approval waiting, flagged on the row;
//! - listen in: received audio with `getStats()` energy above silence;
//! - whisper: the model gets a system-role item and no `response.create`
//!   follows because of it;
//! - approve with edited arguments: the webhook gets the edit;
//! - take over: the agent's leg leaves the call, the page's rep leg is in
//!   and hears the caller; its hang-up ends the call (and a monitor's
//!   `take_over` is refused);
//! - show each of those actions in its Audit view, under the name, and
//!   `GET /api/v1/audit` the same with the server's timestamps inside the
//!   page's steps; the approval's record keeps `approved_by`; its log-out
//!   ends the session (the token answers 401).
//!
//! A second test coaches: a rep (a str0m peer, tests/support/webrtc_peer.rs)
//! is in a call with the demo agent; the page's Coach sends Chromium's
//! microphone (bursts of a tone from a WAV) into the call, and the rep
//! hears it while the caller does not. Before that, the silent call is
//! flagged "long silence" on its row within 3 s of the server's bound
//! (`[call] long_silence_secs = 2` there).
//!
//! Saves `dashboard.png`, `dashboard-take-over.png`, `dashboard-audit.png`
//! and `dashboard-silence.png` under the test's target tmpdir
//! (docs/dashboard.png is the first).

mod support {
    pub mod desk_page;
    pub mod fake_tool_model;
    pub mod server;
    pub mod twilio_sim;
    pub mod webrtc_peer;
}

use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use support::desk_page::{
    chrono_secs, live_call, now_secs, open_page, power, wait_for_audit, wait_for_record,
    write_microphone,
};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::ulaw_encode;

const ADMIN: &str = "admin-token-dashboard-7f3c";
const SECRET: &str = "whsec_dashboard_test";
const WHISPER: &str = "The caller is a premium customer: offer a callback.";
/// Who the page logs in as.
const SUPERVISOR: &str = "Ada Lovelace";

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

    let (mut page, mut child) = open_page(&addr, ADMIN, &dir, &[]);
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
    let session = ready["kept"]
        .as_str()
        .filter(|t| t.starts_with("wls_"))
        .unwrap_or_else(|| panic!("the session token is the tab's sessionStorage: {ready}"))
        .to_owned();
    assert!(
        !ready["storage"].to_string().contains(ADMIN),
        "the admin token was kept: {ready}"
    );
    assert_eq!(ready["who"], SUPERVISOR, "{ready}");
    assert_eq!(ready["resumed"], true, "a reload kept the session: {ready}");

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
    let listed = live_call(&http, &addr, ADMIN, &id).await;
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
    let legs = live_call(&http, &addr, ADMIN, &id).await["legs"].clone();
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
    let ended_after = now_secs() - hung["hung_up_at"].as_f64().unwrap_or(0.0);

    // The Audit view, then GET /api/v1/audit: each action under the name.
    let audited = page.next(20).await;
    let opened = audited["audit_opened_at"].as_f64().expect("opened");
    let shown_after = audited["audit_shown_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("the audit view never showed six actions: {audited}"))
        - opened;
    assert!(shown_after < 3.0, "the audit view took {shown_after:.2} s");
    let on_page: Vec<(&str, &str)> = audited["audit"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["who"].as_str().unwrap_or(""),
                        r["action"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let newest_first = [
        "hang_up",
        "take_over",
        "approve",
        "whisper",
        "listen",
        "login",
    ];
    assert_eq!(
        on_page,
        newest_first.map(|a| (SUPERVISOR, a)),
        "the audit view: {audited}"
    );
    let filtered = audited["filtered"].as_array().expect("filtered rows");
    assert_eq!(filtered.len(), 5, "only the call's entries: {audited}");
    assert_eq!(audited["kept_after"], Value::Null, "logged out: {audited}");
    assert_eq!(audited["login_shown"], true, "{audited}");

    let audit = wait_for_audit(&http, &addr, ADMIN, 7).await;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "logout",
            "hang_up",
            "take_over",
            "approve",
            "whisper",
            "listen",
            "login"
        ]
    );
    assert!(audit.iter().all(|e| e["who"] == SUPERVISOR), "{audit:?}");
    let session_id = &audit[0]["detail"]["session"];
    assert!(session_id.is_string(), "{audit:?}");
    assert!(audit.iter().all(|e| &e["detail"]["session"] == session_id));
    let at = |action: &str| {
        let entry = audit
            .iter()
            .find(|e| e["action"] == action)
            .expect("recorded");
        chrono_secs(entry["at"].as_str().expect("at"))
    };
    let for_call = |action: &str| {
        audit
            .iter()
            .find(|e| e["action"] == action)
            .map(|e| e["call_id"].clone())
    };
    for action in ["listen", "whisper", "approve", "take_over", "hang_up"] {
        assert_eq!(for_call(action), Some(json!(id)), "{action}");
    }
    // The server's times fall inside the page's steps (one clock).
    let page_at = |report: &Value, key: &str| report[key].as_f64().expect(key);
    let steps = [
        ("login", 0.0, page_at(&row, "row_at")),
        ("listen", at("login"), page_at(&whispered, "whispered_at")),
        ("whisper", at("listen"), page_at(&whispered, "whispered_at")),
        (
            "approve",
            page_at(&whispered, "whispered_at"),
            page_at(&approved, "approved_at"),
        ),
        (
            "take_over",
            page_at(&approved, "approved_at"),
            page_at(&hung, "hung_up_at"),
        ),
        ("hang_up", page_at(&hung, "hung_up_at"), opened),
        ("logout", opened, now_secs()),
    ];
    for (action, after, before) in steps {
        let t = at(action);
        assert!(
            t >= after - 0.01 && t <= before + 0.01,
            "{action} at {t:.3}, not within {after:.3}..{before:.3}"
        );
    }
    let approve = audit
        .iter()
        .find(|e| e["action"] == "approve")
        .expect("approve");
    assert_eq!(approve["detail"]["tool"], "refund", "{approve}");
    assert_eq!(approve["detail"]["edited"], true, "{approve}");
    assert_eq!(approve["detail"]["arguments"]["amount"], 40, "{approve}");
    let whisper = audit
        .iter()
        .find(|e| e["action"] == "whisper")
        .expect("whisper");
    assert_eq!(whisper["detail"]["text"], WHISPER);
    let refused_after = http
        .get(format!("http://{addr}/api/v1/calls"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("answers")
        .status()
        .as_u16();
    assert_eq!(refused_after, 401, "the logged-out session still works");
    // The approval's record keeps who approved it.
    let tool = wait_for_record(&http, &addr, ADMIN, &id).await;
    assert_eq!(tool["approval"], "approved", "{tool}");
    assert_eq!(tool["approved_by"], SUPERVISOR, "{tool}");

    let status = child.wait().expect("python exits");
    assert!(status.success());
    assert!(dir.join("dashboard.png").exists());
    assert!(dir.join("dashboard-audit.png").exists());
    println!(
        "row {shown:.2} s after start; listen power {heard:.4}, after the take-over {taken:.4}; whisper as a system item, \
         no response; approved amount 40; took over: {roles:?}; ended {:.2} s after the hang-up; audit view in {shown_after:.2} s \
         with {} entries under {SUPERVISOR:?}",
        ended_after,
        audit.len()
    );
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
        "[call]\nsilence_reprompt_secs = 0\nsilence_hangup_secs = 0\nlong_silence_secs = 2\n",
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
    let (mut page, mut child) = open_page(&addr, ADMIN, &dir, &["coach", mic]);
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
    // The silent call was flagged within 3 s of the server's bound: 2 s
    // after its silence began.
    let since = row["silent_since"]
        .as_str()
        .unwrap_or_else(|| panic!("no long-silence flag: {row}"));
    assert!(
        row["silence_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Long silence")),
        "{row}"
    );
    let flagged = row["silence_at"].as_f64().expect("silence_at") - (chrono_secs(since) + 2.0);
    assert!(
        (-0.05..3.0).contains(&flagged),
        "the flag showed {flagged:.2} s after the server's bound"
    );
    warmline::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let listed = live_call(&http, &addr, ADMIN, &id).await;
    assert_eq!(listed["silent_since"], since, "{listed}");
    assert!(dir.join("dashboard-silence.png").exists());
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
    println!(
        "long silence flagged {flagged:.2} s after the bound; coaching: the rep heard {rep_loud} loud frames, the caller {caller_loud}"
    );
}
