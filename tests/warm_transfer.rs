//! Warm transfer on live calls (issue 14, decision 0029), through the real
//! `warmline` binary: a simulated Twilio caller, a rep's softphone over
//! `/rep/ws` whose audio is a str0m peer (tests/support/rep_phone.rs),
//! and the demo agent or a scripted Realtime model.
//!
//! - The demo agent escalates (the caller presses 0); the rep rings with
//!   the card, accepts and sends their audio; during the brief the caller
//!   hears the hold chime and the rep hears the agent; once bridged the
//!   caller's 700 Hz tone reaches the rep and the rep's 1100 Hz tone the
//!   caller; the rep hangs up and the Twilio stream closes.
//! - A decline and a ring timeout answer the model's tool call with
//!   `nobody_answered`, the AI speaks again and the call goes on.
//! - A hand-back brings the AI back: its new session is given an item
//!   with the rep's note, and it speaks to the caller again.

mod support {
    pub mod fake_tool_model;
    pub mod rep_phone;
    pub mod server;
    pub mod twilio_sim;
}

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::rep_phone::{rms, tone_share, Finish, RepPhone, Talk};
use support::server::{ServerProcess, AUTH};
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::media::g711::{ulaw_decode, ulaw_encode};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_WT_ANA_TOKEN";
const TOKEN: &str = "rep-token-ana-wt-7c41";
const ADMIN: &str = "admin-token-wt-5d02";
/// What the caller says once the rep rings: a 700 Hz tone.
const CALLER_HZ: f64 = 700.0;
/// What the rep says once bridged: an 1100 Hz tone.
const REP_HZ: f64 = 1_100.0;

fn config_file(name: &str, ring_timeout_secs: u64) -> String {
    config_with(name, &format!("ring_timeout_secs = {ring_timeout_secs}\n"))
}

/// A config with one rep, no wrap-up, and `handoff` lines added.
fn config_with(name: &str, handoff: &str) -> String {
    let dir = std::env::temp_dir().join(format!("warmline-wt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n{handoff}"
        ),
    )
    .expect("write");
    file.to_string_lossy().into_owned()
}

fn server(config: &str, model_url: Option<&str>) -> ServerProcess {
    let mut env = vec![
        ("WARMLINE_CONFIG", Some(config)),
        (TOKEN_VAR, Some(TOKEN)),
        ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
    ];
    match model_url {
        Some(url) => env.extend([
            ("WARMLINE_MODEL__OPENAI_URL", Some(url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ]),
        None => env.push(("OPENAI_API_KEY", None)),
    }
    support::server::start(BIN, &env, std::env::var_os("WT_ECHO").is_some())
}

/// `ms` of a tone at `hz`, 8 kHz μ-law, from sample `from` on.
fn caller_tone(from: usize, ms: usize) -> Vec<u8> {
    (from..from + ms * 8)
        .map(|i| {
            let t = i as f64 / 8_000.0;
            ulaw_encode((8_000.0 * (2.0 * std::f64::consts::PI * CALLER_HZ * t).sin()) as i16)
        })
        .collect()
}

/// One second of the rep's tone at 48 kHz (a whole number of periods, so
/// it loops cleanly).
fn rep_tone() -> Vec<i16> {
    (0..48_000)
        .map(|i| {
            let t = f64::from(i) / 48_000.0;
            (8_000.0 * (2.0 * std::f64::consts::PI * REP_HZ * t).sin()) as i16
        })
        .collect()
}

/// The 300 Hz "speech" the scripted model says in every response.
fn model_speech() -> Vec<u8> {
    (0..3_200)
        .map(|i| {
            let t = f64::from(i) / 8_000.0;
            ulaw_encode((8_000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16)
        })
        .collect()
}

async fn start_call(addr: &str, sid: &str) -> SimCall {
    let answer = signed_webhook(addr, AUTH, sid);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, sid, &call_token).await;
    call.observed.audio = Some(Vec::new());
    call
}

/// The caller's received frames (8 kHz samples) with when they arrived.
fn caller_frames(call: &SimCall) -> Vec<(Instant, Vec<i16>)> {
    let audio = call.observed.audio.as_deref().unwrap_or(&[]);
    call.observed
        .media_levels
        .iter()
        .zip(audio.chunks(160))
        .map(|((at, _), frame)| (*at, frame.iter().map(|&c| ulaw_decode(c)).collect()))
        .collect()
}

/// The samples of `frames` that arrived in `from..to`.
fn between(frames: &[(Instant, Vec<i16>)], from: Instant, to: Instant) -> Vec<Vec<i16>> {
    frames
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .map(|(_, f)| f.clone())
        .collect()
}

fn logs_tail(server: &ServerProcess) -> String {
    let logs = server.logs();
    logs[logs.len().saturating_sub(40)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_agent_hands_a_twilio_caller_to_a_rep_who_talks_then_hangs_up() {
    let config = config_file("bridge.toml", 20);
    let server = server(&config, None);
    let addr = server.addr.clone();
    let mut rep = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
            .await
            .expect("login")
    };
    let mut call = start_call(&addr, "CA_wt_bridge").await;
    // The greeting plays out, then the caller presses 0.
    call.stream(&vec![0xFF; 8 * 2_500]).await;
    call.dtmf('0').await;
    let pressed = Instant::now();

    let ring_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let rep_side = {
        let ring_at = ring_at.clone();
        tokio::task::spawn_blocking(move || {
            let ring = rep.wait_for("ring", Duration::from_secs(10));
            *ring_at.lock().expect("lock") = Some(Instant::now());
            let call_id = ring["card"]["call_id"]
                .as_str()
                .expect("call id")
                .to_owned();
            // On hold for a second before the rep picks up.
            std::thread::sleep(Duration::from_secs(1));
            let talk = rep.accept_and_talk(
                &call_id,
                &rep_tone(),
                Finish::HangUp(Duration::from_millis(2_500)),
                Duration::from_secs(25),
            );
            (rep, ring, talk)
        })
    };
    // Silence until the rep rings, then the caller's tone; until the
    // stream closes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut sample = 0;
    while !call.observed.closed_by_server && tokio::time::Instant::now() < deadline {
        let ringing = ring_at.lock().expect("lock").is_some();
        let chunk = if ringing {
            caller_tone(sample, 100)
        } else {
            vec![0xFF; 800]
        };
        sample += 800;
        call.stream(&chunk).await;
    }
    let (rep, ring, talk) = rep_side.await.expect("the rep ran");
    let tail = logs_tail(&server);
    let ring_at = ring_at.lock().expect("lock").expect("rang");

    // The ring and the card.
    assert!(
        ring_at - pressed < Duration::from_secs(3),
        "ring after {:?}",
        ring_at - pressed
    );
    assert_eq!(ring["card"]["reason"], "caller pressed 0", "{ring}");
    assert_eq!(ring["card"]["caller"], "+15551230000", "{ring}");
    let card_update = rep.messages.iter().any(|(_, m)| {
        m["type"] == "card"
            && m["card"]["next_action"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
    });
    assert!(
        card_update,
        "the model's summary never reached the card: {:?}",
        rep.messages
    );

    let Talk {
        connected_after,
        brief_at,
        bridged_at,
        finished_at,
        heard,
        ended,
        ..
    } = talk;
    let connected = connected_after.expect("the rep's audio never connected");
    let brief_at = brief_at.unwrap_or_else(|| panic!("no brief\n{tail}"));
    let bridged_at = bridged_at.unwrap_or_else(|| panic!("never bridged\n{tail}"));
    let finished_at = finished_at.expect("the rep never hung up");
    assert_eq!(ended.as_deref(), Some("rep_hung_up"));

    // During the ring and the brief the caller hears the hold chime (440
    // and 554 Hz notes), not the agent.
    let frames = caller_frames(&call);
    let hold: Vec<i16> = between(&frames, ring_at + Duration::from_millis(200), bridged_at)
        .into_iter()
        .filter(|f| rms(f) > 100.0)
        .flatten()
        .collect();
    assert!(
        hold.len() >= 160 * 10,
        "{} samples of hold audio\n{tail}",
        hold.len()
    );
    let chime = tone_share(&hold, 8_000.0, 440.0) + tone_share(&hold, 8_000.0, 554.37);
    assert!(
        chime > 0.6,
        "hold audio is not the chime: share {chime:.2}\n{tail}"
    );

    // During the brief the rep hears the agent.
    let briefed = heard
        .iter()
        .filter(|(at, f)| *at >= brief_at && *at < bridged_at && rms(f) > 300.0)
        .count();
    assert!(
        briefed >= 10,
        "{briefed} loud frames of brief at the rep\n{tail}"
    );

    // Bridged: each hears the other's tone.
    let settle = bridged_at + Duration::from_millis(400);
    let at_rep: Vec<i16> = heard
        .iter()
        .filter(|(at, _)| *at >= settle && *at < finished_at)
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    let rep_share = tone_share(&at_rep, 48_000.0, CALLER_HZ);
    assert!(
        at_rep.len() >= 48 * 1_000 && rms(&at_rep) > 1_000.0 && rep_share > 0.5,
        "the rep heard {} samples, rms {:.0}, {CALLER_HZ} Hz share {rep_share:.2}\n{tail}",
        at_rep.len(),
        rms(&at_rep)
    );
    let at_caller: Vec<i16> = between(&frames, settle, finished_at).concat();
    let caller_share = tone_share(&at_caller, 8_000.0, REP_HZ);
    assert!(
        at_caller.len() >= 8 * 1_000 && rms(&at_caller) > 1_000.0 && caller_share > 0.5,
        "the caller heard {} samples, rms {:.0}, {REP_HZ} Hz share {caller_share:.2}\n{tail}",
        at_caller.len(),
        rms(&at_caller)
    );

    // The rep hung up: the Twilio stream closed.
    let closed = call.observed.closed_at.expect("the stream never closed");
    assert!(closed >= finished_at && closed - finished_at < Duration::from_secs(3));

    // The call's record says a person took it: the escalation, answered
    // by the rep, makes the outcome `transferred`.
    let record = ended_record(&addr).await;
    assert_eq!(record["outcome"], "transferred", "{record}");
    // Ended by the rep, not by an operator through the admin API.
    assert_eq!(record["end_reason"], "rep_hung_up", "{record}");
    assert_eq!(record["escalations"][0]["outcome"], "answered", "{record}");
    assert_eq!(record["escalations"][0]["rep"], "ana", "{record}");
    println!(
        "ring {:?} after the key; rep audio connected in {connected:?}; brief {:?}; \
         bridged {:?}; rep heard {CALLER_HZ} Hz share {rep_share:.2}, caller heard {REP_HZ} Hz \
         share {caller_share:.2}; stream closed {:?} after the hang-up",
        ring_at - pressed,
        bridged_at - brief_at,
        bridged_at - ring_at,
        closed - finished_at
    );
}

/// The newest ended call's record from the history API, waiting up to
/// 10 s for the store to write it.
async fn ended_record(addr: &str) -> Value {
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let answer = http
                .get(format!("http://{addr}{path}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("the API answers");
            answer.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = get("/api/v1/calls?state=ended&limit=1".into()).await;
        if let Some(id) = list["calls"][0]["id"].as_str() {
            return get(format!("/api/v1/calls/{id}")).await;
        }
        assert!(
            Instant::now() < deadline,
            "no ended call in the records: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The scripted model's tool outputs, waiting up to 10 s for the first.
fn tool_output(seen: &Mutex<support::fake_tool_model::Seen>) -> Value {
    let (_, output) = support::fake_tool_model::first_output(seen, Duration::from_secs(10))
        .expect("the model got no tool result");
    serde_json::from_str(&output).expect("JSON output")
}

/// A call whose model escalates at once, and a rep who rings and
/// declines (`decline`) or lets it ring out. Checks that the call goes
/// on; returns the tool result and the model's record.
async fn unanswered(
    ring_timeout_secs: u64,
    decline: bool,
) -> (Value, Arc<Mutex<support::fake_tool_model::Seen>>) {
    let (url, seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "billing dispute", "summary": "Charged twice."}),
        model_speech(),
    )
    .await;
    let config = config_file(&format!("ring{ring_timeout_secs}.toml"), ring_timeout_secs);
    let server = server(&config, Some(&url));
    let addr = server.addr.clone();
    let mut rep = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
            .await
            .expect("login")
    };
    let mut call = start_call(&addr, &format!("CA_wt_ring_{decline}")).await;
    let rep_side = tokio::task::spawn_blocking(move || {
        let ring = rep.wait_for("ring", Duration::from_secs(10));
        let call_id = ring["card"]["call_id"]
            .as_str()
            .expect("call id")
            .to_owned();
        assert_eq!(ring["card"]["summary"], "Charged twice.", "{ring}");
        if decline {
            rep.send(json!({"type": "decline", "call_id": call_id}));
        } else {
            let cancelled = rep.wait_for("ring_cancelled", Duration::from_secs(10));
            assert_eq!(cancelled["call_id"], call_id.as_str());
        }
        rep
    });
    let mut streamed = 0;
    while !rep_side.is_finished() && streamed < 15_000 {
        call.stream(&vec![0xFF; 8 * 100]).await;
        streamed += 100;
    }
    rep_side.await.expect("the rep rang");
    let output = tool_output(&seen);
    // The call goes on: the AI speaks again and nobody hangs up.
    let before = call.observed.media_frames;
    call.stream(&vec![0xFF; 8 * 2_000]).await;
    assert!(!call.observed.closed_by_server, "{}", logs_tail(&server));
    let after = call.observed.media_frames - before;
    assert!(
        after >= 10,
        "{after} frames from the AI after the tool result"
    );
    drop(server);
    (output, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_ring_returns_to_the_ai_with_a_tool_result_and_the_call_goes_on() {
    let started = Instant::now();
    let (output, seen) = unanswered(20, true).await;
    assert_eq!(output["status"], "unavailable", "{output}");
    assert_eq!(output["reason"], "nobody_answered", "{output}");
    assert!(
        seen.lock().expect("lock").responses >= 2,
        "the AI never spoke again"
    );
    // Declined at once: far sooner than the 20 s ring.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_timeout_returns_to_the_ai_with_a_tool_result_and_the_call_goes_on() {
    let (output, seen) = unanswered(5, false).await;
    assert_eq!(output["status"], "unavailable", "{output}");
    assert_eq!(output["reason"], "nobody_answered", "{output}");
    assert!(
        seen.lock().expect("lock").responses >= 2,
        "the AI never spoke again"
    );
}

/// A rep takes the call and hands it back with a note; `after_bridge`
/// is `[handoff] agent_after_bridge`. Returns the scripted model's
/// sessions.
async fn hand_back(after_bridge: &str) -> u32 {
    const NOTE: &str = "Refunded the duplicate charge; the caller wants the receipt by email.";
    let (url, seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "billing dispute"}),
        model_speech(),
    )
    .await;
    let config = config_with(
        &format!("handback-{after_bridge}.toml"),
        &format!("agent_after_bridge = \"{after_bridge}\"\n"),
    );
    let server = server(&config, Some(&url));
    let addr = server.addr.clone();
    let mut rep = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
            .await
            .expect("login")
    };
    let mut call = start_call(&addr, "CA_wt_handback").await;
    let rep_side = tokio::task::spawn_blocking(move || {
        let ring = rep.wait_for("ring", Duration::from_secs(10));
        let call_id = ring["card"]["call_id"]
            .as_str()
            .expect("call id")
            .to_owned();
        let talk = rep.accept_and_talk(
            &call_id,
            &rep_tone(),
            Finish::HandBack(Duration::from_millis(1_000), NOTE.into()),
            Duration::from_secs(20),
        );
        (rep, talk)
    });
    while !rep_side.is_finished() && !call.observed.closed_by_server {
        call.stream(&vec![0xFF; 8 * 100]).await;
    }
    let (_rep, talk) = rep_side.await.expect("the rep ran");
    let tail = logs_tail(&server);
    assert_eq!(talk.ended.as_deref(), Some("handed_back"), "{tail}");
    let handed_back = talk.finished_at.expect("handed back");
    call.stream(&vec![0xFF; 8 * 2_000]).await;
    assert!(!call.observed.closed_by_server, "the call ended\n{tail}");

    let seen = seen.lock().expect("lock");
    let output: Value = serde_json::from_str(&seen.outputs[0].1).expect("JSON");
    assert_eq!(output["status"], "connected", "{output}");
    // The agent's session (a new one if it left at the bridge) was given
    // the rep's note.
    let told = seen
        .items
        .iter()
        .any(|item| item.to_string().contains(NOTE));
    assert!(told, "no item with the rep's note: {:#?}", seen.items);
    // It spoke to the caller again: the 300 Hz speech after the hand-back.
    let frames = caller_frames(&call);
    let again: Vec<i16> = between(&frames, handed_back, Instant::now()).concat();
    let share = tone_share(&again, 8_000.0, 300.0);
    assert!(
        rms(&again) > 300.0 && share > 0.3,
        "rms {:.0}, 300 Hz share {share:.2}",
        rms(&again)
    );
    seen.sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_back_tells_the_ai_what_happened_and_it_speaks_again() {
    // The agent left at the bridge and comes back in a new session.
    let sessions = hand_back("close").await;
    assert!(sessions >= 2, "{sessions} sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_agent_keeps_its_session_and_answers_the_hand_back() {
    let sessions = hand_back("listen").await;
    assert_eq!(sessions, 1, "the listening agent's session was replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_queue_plays_hold_and_the_position_then_returns_to_the_ai_at_its_maximum_wait() {
    let (url, seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "billing dispute"}),
        Vec::new(),
    )
    .await;
    let config = config_with("queue.toml", "queue_max_wait_secs = 5\n");
    let server = server(&config, Some(&url));
    let addr = server.addr.clone();
    // The rep is logged in but busy: the caller waits.
    let mut rep = tokio::task::spawn_blocking(move || {
        let mut rep = RepPhone::login(&addr, TOKEN);
        rep.send(json!({"type": "presence", "presence": "busy"}));
        let presence = rep.wait_for("presence", Duration::from_secs(5));
        assert_eq!(presence["status"]["presence"], "busy");
        rep
    })
    .await
    .expect("login");
    let started = Instant::now();
    let mut call = start_call(&server.addr, "CA_wt_queue").await;
    call.stream(&vec![0xFF; 8 * 4_000]).await;
    let frames = caller_frames(&call);
    let output = tool_output(&seen);
    let answered = Instant::now();
    assert_eq!(output["reason"], "queue_timeout", "{output}");
    assert!(
        answered - started >= Duration::from_secs(5),
        "answered early: {output}"
    );
    // The model is silent here: what the caller heard while waiting is the
    // position prompt (speech, over 2 s) and the chime (0.5 s in 3 s).
    let waiting: Vec<Vec<i16>> = between(&frames, started, started + Duration::from_secs(3))
        .into_iter()
        .filter(|f| rms(f) > 300.0)
        .collect();
    assert!(
        waiting.len() >= 50,
        "{} loud frames while waiting: no position prompt\n{}",
        waiting.len(),
        logs_tail(&server)
    );
    // The call goes on: the AI is asked to speak after the tool result.
    call.stream(&vec![0xFF; 8 * 1_500]).await;
    assert!(!call.observed.closed_by_server);
    assert!(
        seen.lock().expect("lock").responses >= 2,
        "the AI never spoke again"
    );
    // The rep never rang.
    rep.send(json!({"type": "presence", "presence": "available"}));
    let presence = rep.wait_for("presence", Duration::from_secs(5));
    assert!(
        !rep.messages.iter().any(|(_, m)| m["type"] == "ring"),
        "{presence}"
    );
}
