//! Headless Chromium on the desk's Inbox and Call detail views (issue 17,
//! decision 0037): the real binary with the demo agent (recorded), a rep
//! on a softphone (tests/support/rep_phone.rs), and a simulated Twilio
//! caller who talks, talks over the AI (a barge-in), presses 8 (the AI
//! takes a callback with `take_callback`) and 0 (the AI escalates; the
//! rep is rung, accepts, is briefed with the AI's summary and next
//! action, talks, then hangs up). The page (tests/oracles/dashboard_inbox.py):
//!
//! - shows the caller waiting for a person while the rep's phone rings;
//! - within 3 s of the call's end (the server's `ended_at`) shows the
//!   callback the AI took and the hand-over, each with the summary and the
//!   next action the record holds;
//! - marks the callback done: the API then says so (who and when), a
//!   second mark changes nothing, and a reloaded page still shows it done;
//! - opens the call's detail: a timeline with the barge-in, the tool calls
//!   and the hand-over marked where they happened, and the recording
//!   loaded into the player (its duration the call's) within 3 s; a click
//!   on a line seeks the player there and it plays.
//!
//! Saves `inbox.png`, `inbox-done.png` and `call.png` under the test's
//! target tmpdir.

mod support {
    pub mod desk_page;
    pub mod rep_phone;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::rep_phone::{rms, tone_share, Finish, RepPhone};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::ulaw_encode;

const ADMIN: &str = "admin-token-inbox-4e91";
const REP_TOKEN_VAR: &str = "WARMLINE_REP_INBOX_ANA_TOKEN";
const REP_TOKEN: &str = "rep-token-ana-inbox-2b7d";
/// The simulated caller's number (tests/support/twilio_sim.rs).
const CALLER: &str = "+15551230000";

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

/// One second of the rep's 1100 Hz tone at 48 kHz.
fn rep_tone() -> Vec<i16> {
    (0..48_000)
        .map(|i| {
            let t = f64::from(i) / 48_000.0;
            (8_000.0 * (2.0 * std::f64::consts::PI * 1_100.0 * t).sin()) as i16
        })
        .collect()
}

/// The recording's last 1.5 s, while caller and rep talked: the share
/// of the caller's 700 Hz tone on the left and of the rep's 1100 Hz tone
/// on the right (the bridge is part of the recording).
fn bridge_in_recording(dir: &std::path::Path, id: &str) -> (f64, f64) {
    let path = dir.join("recordings").join(format!("{id}.wav"));
    let mut reader = hound::WavReader::open(&path).expect("the call's recording");
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    let tail = &samples[samples.len().saturating_sub(2 * 12_000)..];
    let side =
        |channel: usize| -> Vec<i16> { tail.iter().skip(channel).step_by(2).copied().collect() };
    let (left, right) = (side(0), side(1));
    let caller = tone_share(&left, 8_000.0, 700.0);
    let rep = tone_share(&right, 8_000.0, 1_100.0);
    assert!(
        rms(&left) > 1_000.0 && caller > 0.5,
        "the caller's side of the bridge is not in the recording: rms {:.0}, 700 Hz share {caller:.2}",
        rms(&left)
    );
    assert!(
        rms(&right) > 1_000.0 && rep > 0.5,
        "the rep's side of the bridge is not in the recording: rms {:.0}, 1100 Hz share {rep:.2}",
        rms(&right)
    );
    (caller, rep)
}

/// Seconds since 1970 of an RFC 3339 time as the API writes it.
fn epoch_secs(at: &str) -> f64 {
    let at: jiff::Timestamp = at.parse().expect("RFC 3339");
    at.as_millisecond() as f64 / 1000.0
}

async fn get(http: &reqwest::Client, addr: &str, path: &str) -> (u16, Value) {
    let answer = http
        .get(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, addr: &str, path: &str) -> (u16, Value) {
    let answer = http
        .post(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The ended call's record, waiting up to 10 s for the store.
async fn record(http: &reqwest::Client, addr: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(http, addr, &format!("/api/v1/calls/{id}")).await;
        if status == 200 && body["state"] == "ended" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call's record never came: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_the_hand_over_and_the_callback_marks_it_done_and_the_call_detail_plays_its_recording(
) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard_inbox");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let config = dir.join("inbox.toml");
    std::fs::write(
        &config,
        format!(
            r#"[recording]
dir = "{recordings}"

[[agents]]
id = "support"
instructions = "Help the caller."
default = true
record = true
tools = ["escalate_to_human", "take_callback"]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[reps]]
id = "ana"
name = "Ana Ruiz"
token_env = "{REP_TOKEN_VAR}"

[handoff]
wrap_up_secs = 0
"#,
            recordings = dir.join("recordings").display()
        ),
    )
    .expect("config");
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            (REP_TOKEN_VAR, Some(REP_TOKEN)),
            ("OPENAI_API_KEY", None),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let addr = server.addr.clone();
    warmline::tls::install_crypto_provider();
    let http = reqwest::Client::new();

    let (mut page, mut child) =
        support::desk_page::open("dashboard_inbox.py", &addr, ADMIN, &dir, &[]);
    let ready = page.next(60).await;
    assert_eq!(ready["ready"], true, "the inbox never loaded: {ready}");
    assert_eq!(ready["hash"], "#inbox", "{ready}");

    // The rep: rung, then waits for the test's word to accept (the page
    // must first have seen the caller waiting), is briefed, talks, hangs up.
    let (accept_tx, accept_rx) = mpsc::channel::<()>();
    let rep_side = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut rep = RepPhone::login(&addr, REP_TOKEN);
            let ring = rep.wait_for("ring", Duration::from_secs(40));
            let call_id = ring["card"]["call_id"]
                .as_str()
                .expect("the card names the call")
                .to_owned();
            let _ = accept_rx.recv_timeout(Duration::from_secs(15));
            let talk = rep.accept_and_talk(
                &call_id,
                &rep_tone(),
                Finish::HangUp(Duration::from_millis(2_000)),
                Duration::from_secs(25),
            );
            (call_id, talk)
        })
    };

    let answer = signed_webhook(&addr, AUTH, "CA_inbox");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_inbox", &call_token).await;
    // The greeting; a turn; another, talked over the AI's answer.
    call.stream(&silence(2_500)).await;
    call.stream(&support::wav::fixture_mulaw("caller_03.wav"))
        .await;
    call.stream(&silence(1_500)).await;
    call.stream(&support::wav::fixture_mulaw("caller_05.wav"))
        .await;
    call.stream(&silence(400)).await;
    let clears = call.observed.clears;
    call.stream(&support::wav::fixture_mulaw("caller_07.wav"))
        .await;
    assert!(
        call.observed.clears > clears,
        "no barge-in cleared playback"
    );
    call.stream(&silence(1_500)).await;
    // 8: the AI takes a callback. 0: it asks for a person.
    call.dtmf('8').await;
    call.stream(&silence(2_000)).await;
    call.dtmf('0').await;
    let pending = loop {
        if let Some(report) = page.try_next() {
            break report;
        }
        assert!(!call.observed.closed_by_server, "the call ended early");
        call.stream(&silence(100)).await;
    };
    let id = pending["call_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no caller showed as waiting: {pending}"))
        .to_owned();
    assert!(
        pending["text"]
            .as_str()
            .is_some_and(|t| t.contains(CALLER) && t.contains("caller pressed 0")),
        "{pending}"
    );
    let _ = accept_tx.send(());
    // The rep talks, then hangs up: the call ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut sample = 0usize;
    while !call.observed.closed_by_server {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call never ended"
        );
        let tone: Vec<u8> = (sample..sample + 800)
            .map(|i| {
                let t = i as f64 / 8_000.0;
                ulaw_encode((6_000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16)
            })
            .collect();
        sample += 800;
        call.stream(&tone).await;
    }
    page.go();
    let (rung_id, talk) = rep_side.await.expect("the rep ran");
    assert_eq!(rung_id, id, "the rep was rung for another call");
    assert_eq!(talk.ended.as_deref(), Some("rep_hung_up"), "{talk:?}");

    // What the record holds, which the page must show.
    let detail = record(&http, &addr, &id).await;
    assert_eq!(detail["outcome"], "transferred", "{detail}");
    let escalation = &detail["escalations"][0];
    assert_eq!(escalation["outcome"], "answered", "{detail}");
    assert_eq!(escalation["rep"], "ana", "{detail}");
    let summary = escalation["summary"]
        .as_str()
        .unwrap_or_else(|| panic!("no summary: {detail}"));
    let next_action = escalation["next_action"]
        .as_str()
        .unwrap_or_else(|| panic!("no next action: {detail}"));
    let taken = &detail["callbacks"][0];
    assert_eq!(taken["kind"], "callback", "{detail}");
    assert_eq!(taken["number"], CALLER, "{detail}");
    assert_eq!(taken["done_at"], Value::Null, "{detail}");
    let cut: Vec<&Value> = detail["transcript"]
        .as_array()
        .map(|t| t.iter().filter(|l| l["truncated"] == true).collect())
        .unwrap_or_default();
    assert!(!cut.is_empty(), "no line was cut by a barge-in: {detail}");
    let tools: Vec<&str> = detail["tool_calls"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        tools.contains(&"take_callback") && tools.contains(&"escalate_to_human"),
        "{tools:?}"
    );
    let ended_at = epoch_secs(detail["ended_at"].as_str().expect("ended_at"));
    let (caller_share, rep_share) = bridge_in_recording(&dir, &id);

    // The inbox: the callback (to do) and the hand-over, with the summary
    // and the next action, within 3 s of the call's end.
    let shown = page.next(30).await;
    let shown_after = shown["shown_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("the inbox never showed them: {shown}"))
        - ended_at;
    assert!(
        shown_after < 3.0,
        "shown {shown_after:.2} s after the call ended"
    );
    for card in [&shown["callback"], &shown["handoff"]] {
        assert_eq!(card["call_id"], id.as_str(), "{shown}");
        assert_eq!(card["summary"], summary, "{shown}");
        assert_eq!(card["next_action"], next_action, "{shown}");
    }
    assert_eq!(shown["callback"]["kind"], "callback", "{shown}");
    assert_eq!(shown["callback"]["who"], CALLER, "{shown}");
    assert_eq!(shown["callback"]["can_mark"], true, "{shown}");
    assert!(
        shown["handoff"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("answered by ana")),
        "{shown}"
    );
    assert_eq!(shown["pending_left"], 0, "{shown}");

    // Marked done on the page: the API says who and when; once only.
    let marked = page.next(10).await;
    assert!(marked["marked_at"].is_f64(), "{marked}");
    assert_eq!(marked["open_left"], 0, "{marked}");
    let (status, listed) = get(&http, &addr, "/api/v1/callbacks").await;
    assert_eq!(status, 200, "{listed}");
    let done = &listed["callbacks"][0];
    assert_eq!(done["call_id"], id.as_str(), "{listed}");
    // The supervisor's session name, and the audit log says so too.
    assert_eq!(done["done_by"], "Katherine Johnson", "{listed}");
    // The audit entry goes through the store's writer: tens of ms.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let audit = loop {
        let (status, audit) = get(&http, &addr, "/api/v1/audit").await;
        assert_eq!(status, 200, "{audit}");
        let seen = audit["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["action"] == "mark_done"));
        if seen || tokio::time::Instant::now() > until {
            break audit;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let marks: Vec<&Value> = audit["entries"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["action"] == "mark_done").collect())
        .unwrap_or_default();
    assert_eq!(marks.len(), 1, "one mark, however often clicked: {audit}");
    assert_eq!(marks[0]["who"], "Katherine Johnson", "{audit}");
    assert_eq!(marks[0]["call_id"], id.as_str(), "{audit}");
    let done_at = done["done_at"]
        .as_str()
        .unwrap_or_else(|| panic!("not done: {listed}"))
        .to_owned();
    let marked_after = epoch_secs(&done_at) - marked["marked_at"].as_f64().unwrap_or(0.0);
    assert!(
        marked_after.abs() < 3.0,
        "done_at is {marked_after:.2} s from the click"
    );
    let (status, again) = post(&http, &addr, &format!("/api/v1/callbacks/{id}/0/done")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["done_at"], done_at.as_str(), "a second mark moved it");
    let (status, missing) = post(&http, &addr, &format!("/api/v1/callbacks/{id}/7/done")).await;
    assert_eq!(status, 404, "{missing}");
    page.go();

    let reloaded = page.next(20).await;
    assert_eq!(reloaded["reloaded_open"], 0, "{reloaded}");
    assert_eq!(
        reloaded["reloaded_done"][0]["call_id"],
        id.as_str(),
        "{reloaded}"
    );

    // The call detail: the timeline and the recording.
    let opened = page.next(30).await;
    assert_eq!(opened["hash"], format!("#call/{id}"), "{opened}");
    let at = |key: &str| opened[key].as_f64().unwrap_or(f64::INFINITY);
    let loaded = at("loaded_at") - at("opened_at");
    let recording = at("recording_at") - at("opened_at");
    assert!(loaded < 3.0, "the timeline took {loaded:.2} s: {opened}");
    assert!(
        recording < 3.0,
        "the recording took {recording:.2} s: {opened}"
    );
    assert_eq!(opened["recording"], "ready", "{opened}");
    let call_secs = detail["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let heard_secs = opened["duration"].as_f64().unwrap_or(0.0);
    assert!(
        heard_secs > 0.0 && (heard_secs - call_secs).abs() < 1.5,
        "the player's recording lasts {heard_secs:.2} s, the call {call_secs:.2} s"
    );
    assert_eq!(
        opened["barges"].as_u64(),
        Some(cut.iter().filter(|l| l["speaker"] == "agent").count() as u64),
        "{opened}"
    );
    assert!(opened["cut_lines"].as_u64() >= Some(1), "{opened}");
    let shown_tools: Vec<&str> = opened["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(shown_tools, tools, "{opened}");
    let steps: Vec<&str> = opened["handoff"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(steps, ["requested", "answered"], "{opened}");
    assert!(
        opened["escalation_text"]
            .as_str()
            .is_some_and(|t| t.contains(summary) && t.contains(next_action)),
        "{opened}"
    );

    let played = page.next(20).await;
    let seek = played["seek_ms"].as_f64().expect("a line to click") / 1000.0;
    let current = played["current"].as_f64().unwrap_or(-1.0);
    let later = played["later"].as_f64().unwrap_or(-1.0);
    assert!(
        (current - seek).abs() < 0.5,
        "clicked a line at {seek:.2} s; the player is at {current:.2} s"
    );
    assert!(
        later > current + 0.5,
        "the player did not play on: {played}"
    );
    let status = child.wait().expect("python exits");
    assert!(status.success());
    for shot in ["inbox.png", "inbox-done.png", "call.png"] {
        assert!(dir.join(shot).exists(), "no {shot}");
    }
    println!(
        "waiting caller shown; recorded bridge: 700 Hz share {caller_share:.2} left, 1100 Hz \
         {rep_share:.2} right; hand-over and callback shown {shown_after:.2} s after the call \
         ended; marked done ({done_at}); timeline in {loaded:.2} s, recording ({heard_secs:.1} s \
         of a {call_secs:.1} s call) in {recording:.2} s; a click at {seek:.2} s seeked to \
         {current:.2} s and played to {later:.2} s"
    );
}
