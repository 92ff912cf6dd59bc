//! The call records end to end (issue 16): the real `warmline` binary
//! with the offline demo agent, simulated Twilio callers, and the records
//! read back through the history API and the database.
//!
//! - PostgreSQL (Debian's, started here) is stopped in the middle of 20
//!   simulated calls and brought back: afterwards every call, transcript
//!   item and tool call is in the database exactly once, checked against
//!   the `call.ended` webhook each call also sent.
//! - With the embedded default (SQLite), a demo call is still listed by
//!   `?state=ended` after a restart, with its transcript.

mod support {
    pub mod postgres;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::config::store::StoreTarget;
use warmline::store::Store;

const ADMIN: &str = "store-test-admin";
const SECRET: &str = "whsec_store_test";

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

/// A receiver of `call.ended` bodies: what each call recorded, as the
/// oracle the database is compared with.
async fn start_receiver() -> (Arc<Mutex<Vec<Value>>>, String) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        post(move |body: String| {
            let state = state.clone();
            async move {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if body["type"] == "call.ended" {
                    state.lock().expect("not poisoned").push(body);
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
    (seen, url)
}

/// One demo call: greeting, a caller turn, 0 (escalate_to_human), 9
/// (goodbye and end_call), after `wait_ms` of silence.
async fn demo_call(addr: String, sid: String, wait_ms: usize) {
    let answer = signed_webhook(&addr, AUTH, &sid);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (stream_url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&stream_url, AUTH, None)
        .await
        .expect("upgrade accepted");
    let mut call = SimCall::start(ws, &sid, &call_token).await;
    call.stream(&silence(1_500 + wait_ms)).await;
    call.stream(&support::wav::fixture_mulaw("caller_03.wav"))
        .await;
    call.stream(&silence(1_500)).await;
    call.dtmf('0').await;
    call.stream(&silence(1_500)).await;
    call.dtmf('9').await;
    call.stream(&silence(5_000)).await;
    if !call.observed.closed_by_server {
        // Under load the 9 may land while the agent still speaks: the
        // caller hangs up instead (Twilio's `stop`). Either way the call
        // ends and is recorded; that is what these tests are about.
        use futures_util::SinkExt;
        let stop = serde_json::json!({"event": "stop", "sequenceNumber": "999999",
            "streamSid": call.stream_sid, "stop": {"accountSid": "AC0", "callSid": sid}});
        let _ = call
            .ws
            .send(tokio_tungstenite::tungstenite::Message::text(
                stop.to_string(),
            ))
            .await;
        let _ = call.ws.close(None).await;
    }
}

async fn get_json(addr: &str, path: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_during_20_calls_loses_and_duplicates_nothing() {
    warmline::tls::install_crypto_provider();
    let pg = support::postgres::Postgres::start();
    let url = pg.url();
    let (seen, events_url) = start_receiver().await;
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("DATABASE_URL", Some(&url)),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            ("WARMLINE_EVENTS__URL", Some(&events_url)),
            ("WARMLINE_TOOLS_SECRET", Some(SECRET)),
        ],
        false,
    );
    // 20 calls at once, ending one after another over about 12 s.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        calls.spawn(demo_call(
            server.addr.clone(),
            format!("CA_outage_{i:02}"),
            600 * i,
        ));
    }
    // The database goes away once a few calls have ended, and comes back
    // once a few more have ended while it was away.
    let ended_count = || seen.lock().expect("not poisoned").len();
    let wait_until = |n: usize| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ended_count() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "calls are not ending"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_until(3).await;
    let ended_before = ended_count();
    pg.down();
    wait_until(ended_before + 4).await;
    let ended_during = ended_count() - ended_before;
    // Those records waited in the spool (counted in the metrics).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = support::twilio_sim::http_get(&server.addr, "/metrics").body;
        let spooled = support::twilio_sim::metric(&metrics, "warmline_store_spool_records");
        if spooled.is_some_and(|n| n > 0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing spooled: {spooled:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pg.up();
    while let Some(joined) = calls.join_next().await {
        joined.expect("a call ran");
    }
    assert!(ended_before > 0, "no call ended before the outage");
    assert!(ended_during > 0, "no call ended during the outage");

    // Every call, once, with what its call.ended carried.
    let store = Store::open(&StoreTarget::Postgres(url))
        .await
        .expect("opens");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut counts = store.counts().await.expect("counts");
    while counts.0 < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = store.counts().await.expect("counts");
    }
    let ended = seen.lock().expect("not poisoned").clone();
    assert_eq!(ended.len(), 20, "every call sent call.ended");
    let (lines, tools) = ended.iter().fold((0, 0), |(l, t), e| {
        (
            l + e["transcript"].as_array().map_or(0, Vec::len) as i64,
            t + e["tool_calls"].as_array().map_or(0, Vec::len) as i64,
        )
    });
    assert_eq!(
        counts,
        (20, lines, tools),
        "calls, transcript items, tool calls"
    );
    for e in &ended {
        let id = e["call"]["id"].as_str().expect("an id");
        let detail = store.get(id).await.expect("reads").expect("stored");
        let said: Vec<&str> = detail.transcript.iter().map(|l| l.text.as_str()).collect();
        let sent: Vec<&str> = e["transcript"]
            .as_array()
            .expect("transcript")
            .iter()
            .filter_map(|l| l["text"].as_str())
            .collect();
        assert_eq!(said, sent, "{id}");
        assert_eq!(
            detail.tool_calls.len(),
            e["tool_calls"].as_array().map_or(0, Vec::len)
        );
    }
    // And the history API lists all 20.
    let (status, listed) = get_json(&server.addr, "/api/v1/calls?state=ended&limit=100").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["calls"].as_array().map(Vec::len),
        Some(20),
        "{listed}"
    );
    store.close().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_call_is_listed_with_its_transcript_after_a_restart() {
    warmline::tls::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("warmline-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.to_string_lossy().into_owned();
    let env = [
        ("OPENAI_API_KEY", None),
        ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ("WARMLINE_STORE__DATA_DIR", Some(data_dir.as_str())),
    ];
    let mut server = support::server::start(env!("CARGO_BIN_EXE_warmline"), &env, false);
    demo_call(server.addr.clone(), "CA_restart".into(), 0).await;
    // Stored off the call, shortly after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = get_json(&server.addr, "/api/v1/calls?state=ended").await;
        if listed["calls"].as_array().is_some_and(|c| !c.is_empty()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not stored: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A graceful stop (SIGTERM), then a new process on the same data.
    let pid = server.child.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let exit = server.child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
    drop(server);
    assert!(dir.join("warmline.db").exists());

    let server = support::server::start(env!("CARGO_BIN_EXE_warmline"), &env, false);
    let (status, listed) = get_json(&server.addr, "/api/v1/calls?state=ended").await;
    assert_eq!(status, 200, "{listed}");
    let calls = listed["calls"].as_array().expect("a list");
    assert_eq!(calls.len(), 1, "{listed}");
    assert_eq!(calls[0]["provider_id"], "CA_restart");
    assert_eq!(calls[0]["state"], "ended");
    // escalate_to_human ran and no rep took the call (none configured):
    // the agent asked for a person, so the call is escalated, not
    // contained, and its record says why nobody answered.
    assert_eq!(calls[0]["outcome"], "escalated");
    let id = calls[0]["id"].as_str().expect("an id");
    let (status, detail) = get_json(&server.addr, &format!("/api/v1/calls/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    let agent: Vec<&str> = detail["transcript"]
        .as_array()
        .expect("a transcript")
        .iter()
        .filter(|l| l["speaker"] == "agent")
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_eq!(agent.first(), Some(&"Hello world."), "{detail:#}");
    assert!(agent.contains(&"Goodbye."), "{agent:?}");
    let tools: Vec<&str> = detail["tool_calls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tools, ["escalate_to_human", "end_call"]);
    assert_eq!(
        detail["escalations"][0]["outcome"], "no_reps_configured",
        "{detail:#}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
