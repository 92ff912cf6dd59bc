//! The call-events webhook, end to end: the real `warmline` binary with
//! the offline demo agent and `[events] url` pointing at a local receiver.
//! A simulated Twilio call greets, takes a turn, presses 0 (the demo calls
//! `escalate_to_human`) and 9 (it says goodbye and calls `end_call`). The
//! receiver gets `call.started` and `call.ended`, both signed: Python's
//! `hmac` (the docs/TOOLS.md snippet) checks them, and `call.ended` holds
//! the transcript of both sides, the tool calls and the outcome. And a
//! shutdown waits for the last `call.ended` before the process exits.

mod support {
    pub mod oracle;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};

const SECRET: &str = "whsec_events_test";

/// What the receiver saw: headers we check, and the raw body.
#[derive(Clone, Debug)]
struct Delivery {
    event: String,
    idempotency_key: String,
    timestamp: String,
    signature: String,
    body: String,
}

async fn start_receiver() -> (Arc<Mutex<Vec<Delivery>>>, String) {
    let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                state.lock().expect("not poisoned").push(Delivery {
                    event: header("x-warmline-event"),
                    idempotency_key: header("idempotency-key"),
                    timestamp: header("x-warmline-timestamp"),
                    signature: header("x-warmline-signature"),
                    body,
                });
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (seen, url)
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_call_posts_signed_call_started_and_call_ended_with_its_transcript() {
    let (seen, url) = start_receiver().await;
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_EVENTS__URL", Some(&url)),
            ("WARMLINE_TOOLS_SECRET", Some(SECRET)),
        ],
        true,
    );
    let answer = signed_webhook(&server.addr, AUTH, "CA_events_1");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (stream_url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&stream_url, AUTH, None)
        .await
        .expect("upgrade accepted");
    let mut call = SimCall::start(ws, "CA_events_1", &call_token).await;

    // The greeting, one caller turn and its answer, then 0 and 9.
    call.stream(&silence(2_500)).await;
    call.stream(&support::wav::fixture_mulaw("caller_03.wav"))
        .await;
    call.stream(&silence(2_000)).await;
    call.dtmf('0').await;
    call.stream(&silence(2_000)).await;
    call.dtmf('9').await;
    call.stream(&silence(5_000)).await;
    assert!(call.observed.closed_by_server, "the call did not end on 9");

    // call.ended is delivered off the call, shortly after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let deliveries = loop {
        let now = seen.lock().expect("not poisoned").clone();
        if now.iter().any(|d| d.event == "call.ended") {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call.ended; got {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds: Vec<&str> = deliveries.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(kinds, ["call.started", "call.ended"]);

    // Signed like the tools: Python's hmac accepts both, refuses them
    // with another key and six minutes later.
    let requests = |now: u64| -> Vec<Value> {
        deliveries
            .iter()
            .map(|d| json!({"timestamp": d.timestamp, "signature": d.signature, "body": d.body, "now": now}))
            .collect()
    };
    let verdicts = |secret: &str, now: u64| -> Value {
        support::oracle::answer(
            "tool_signature.py",
            &json!({"secret": secret, "requests": requests(now)}),
        )
    };
    let now = now_unix();
    assert_eq!(verdicts(SECRET, now), json!(["ok", "ok"]));
    assert_eq!(
        verdicts("another key", now),
        json!(["mismatch", "mismatch"])
    );
    assert_eq!(verdicts(SECRET, now + 360), json!(["stale", "stale"]));

    let started: Value = serde_json::from_str(&deliveries[0].body).expect("JSON");
    let ended: Value = serde_json::from_str(&deliveries[1].body).expect("JSON");
    // Each event's id is its idempotency key; the call is the same call.
    for (delivery, body) in deliveries.iter().zip([&started, &ended]) {
        assert_eq!(body["id"], delivery.idempotency_key.as_str());
        assert_eq!(body["type"], delivery.event.as_str());
    }
    assert_ne!(started["id"], ended["id"]);
    assert_eq!(started["call"], ended["call"]);
    let call_id = started["call"]["id"].as_str().expect("a call id");
    let uuid = uuid::Uuid::parse_str(call_id).expect("a UUID");
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(started["call"]["provider_id"], "CA_events_1");
    assert_eq!(started["call"]["ingress"], "twilio");

    // The outcome: the agent ended it (end_call after 9).
    assert_eq!(ended["reason"], "agent_ended", "{ended:#}");
    let duration = ended["duration_ms"].as_u64().expect("duration");
    assert!((8_000..60_000).contains(&duration), "{duration}");

    // The transcript: the demo's scripted lines and the caller's turn, in
    // time order, each with its time.
    let transcript = ended["transcript"].as_array().expect("transcript");
    let said = |speaker: &str| -> Vec<&str> {
        transcript
            .iter()
            .filter(|l| l["speaker"] == speaker)
            .filter_map(|l| l["text"].as_str())
            .collect()
    };
    let agent = said("agent");
    assert_eq!(agent.first(), Some(&"Hello world."), "{transcript:#?}");
    assert!(agent.contains(&"Goodbye."), "{agent:?}");
    assert!(agent.contains(&"Transfer."), "{agent:?}");
    assert!(!said("caller").is_empty(), "{transcript:#?}");
    let offsets: Vec<u64> = transcript
        .iter()
        .map(|l| l["offset_ms"].as_u64().expect("offset"))
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    assert!(transcript
        .iter()
        .all(|l| l["at"].as_str().is_some_and(|at| at.ends_with('Z'))));

    // The tool calls: escalate_to_human answered by the sidecar, then
    // end_call, with arguments, outcome and latency.
    let tools = ended["tool_calls"].as_array().expect("tool calls");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["escalate_to_human", "end_call"], "{tools:#?}");
    assert_eq!(tools[0]["arguments"]["reason"], "caller pressed 0");
    assert_eq!(tools[0]["outcome"], "ok");
    assert!(tools[0]["latency_ms"].as_u64().is_some(), "{tools:#?}");
    assert_eq!(tools[1]["outcome"], "ok");

    // The escalation asked for, and why nobody took it (no [[reps]]).
    let escalation = &ended["escalation"];
    assert_eq!(escalation["reason"], "caller pressed 0", "{escalation}");
    assert_eq!(escalation["outcome"], "no_reps_configured", "{escalation}");
    assert_eq!(escalation["answered_at"], Value::Null, "{escalation}");
    // What this call did not have is there, as null.
    for field in ["summary", "recording_url"] {
        assert_eq!(ended.get(field), Some(&Value::Null), "{field}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_waits_for_the_drained_calls_call_ended_to_be_delivered() {
    // The receiver takes 1.5 s to answer call.ended: the process must
    // still be there when it does.
    let answered: Arc<Mutex<Option<std::time::Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (answered_in, seen_in) = (answered.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/events",
        post(move |body: String| {
            let (answered, seen) = (answered_in.clone(), seen_in.clone());
            async move {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let ended = body["type"] == "call.ended";
                seen.lock().expect("not poisoned").push(body);
                if ended {
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                    *answered.lock().expect("not poisoned") = Some(std::time::Instant::now());
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_EVENTS__URL", Some(&url)),
            ("WARMLINE_TOOLS_SECRET", Some(SECRET)),
            // No grace: the call hears the closing prompt at once.
            ("WARMLINE_SERVER__SHUTDOWN_GRACE_SECS", Some("0")),
        ],
        false,
    );
    let answer = signed_webhook(&server.addr, AUTH, "CA_events_drain");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (stream_url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&stream_url, AUTH, None)
        .await
        .expect("upgrade accepted");
    let mut call = SimCall::start(ws, "CA_events_drain", &call_token).await;
    call.stream(&silence(1_500)).await;
    let status = std::process::Command::new("kill")
        .args(["-s", "TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    call.stream(&silence(6_000)).await;
    assert!(
        call.observed.closed_by_server,
        "the drain did not end the call"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exited_at = loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            assert!(status.success(), "{status}");
            break std::time::Instant::now();
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let answered = answered
        .lock()
        .expect("not poisoned")
        .expect("call.ended was answered");
    assert!(
        answered <= exited_at,
        "the process exited before its call.ended was delivered"
    );
    let seen = seen.lock().expect("not poisoned").clone();
    let ended = seen
        .iter()
        .find(|e| e["type"] == "call.ended")
        .expect("a call.ended");
    assert_eq!(ended["reason"], "drained", "{ended:#}");
}
