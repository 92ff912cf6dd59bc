//! A browser-like WebRTC peer (str0m, tests/support/webrtc_peer.rs) joins
//! a live simulated Twilio call on the real `warmline` binary as a
//! monitor, over `/webrtc/ws`'s `join` message (docs/WEBRTC.md, decision
//! 0024), and hears the call; the calls API lists it while it is there;
//! a join without the admin token is refused. A supervisor's session token
//! (decision 0038) joins too, and the join is audited under the name;
//! wrong tokens in joins spend the admin API's failure budget.

mod support {
    pub mod server;
    pub mod twilio_sim;
    pub mod webrtc_peer;
}

use std::time::Duration;

use serde_json::Value;
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};

const ADMIN: &str = "webrtc-join-admin-token";

fn tone_mulaw(ms: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|i| {
            let s = 6_000.0 * (2.0 * std::f64::consts::PI * 400.0 * i as f64 / 8_000.0).sin();
            warmline::media::g711::ulaw_encode(s as i16)
        })
        .collect()
}

async fn calls(addr: &str) -> Vec<Value> {
    warmline::tls::install_crypto_provider();
    let body: Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/calls"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON");
    body["calls"].as_array().cloned().expect("a calls array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_monitor_joins_a_live_call_and_hears_its_audio() {
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ],
        false,
    );
    let addr = server.addr.clone();
    let answer = signed_webhook(&addr, AUTH, "CA_join_1");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_join_1", &call_token).await;
    call.stream(&vec![0xFF; 8 * 300]).await;
    let listed = calls(&addr).await;
    let id = listed[0]["id"].as_str().expect("an id").to_owned();

    // Without the admin token: refused, saying what is missing.
    let (a, i) = (addr.clone(), id.clone());
    let refused = tokio::task::spawn_blocking(move || {
        support::webrtc_peer::first_answer(
            &a,
            serde_json::json!({"type":"join","call_id":i,"role":"monitor","token":"wrong","sdp":"v=0"}),
        )
    })
    .await
    .expect("joins");
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("admin token"),
        "{refused}"
    );

    // The monitor joins and listens for 4 s while the caller talks (a
    // 400 Hz tone stands in for speech).
    let (a, i) = (addr.clone(), id.clone());
    let peer = tokio::task::spawn_blocking(move || {
        support::webrtc_peer::join(&a, &i, "monitor", ADMIN, &[0i16; 960], 4.0)
    });
    call.stream(&tone_mulaw(2_000)).await;
    let legs: Vec<String> = calls(&addr).await[0]["legs"]
        .as_array()
        .expect("legs")
        .iter()
        .map(|l| {
            format!(
                "{}/{}",
                l["role"].as_str().unwrap_or(""),
                l["transport"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(legs, ["caller/twilio", "agent/model", "monitor/webrtc"]);
    call.stream(&tone_mulaw(2_500)).await;
    let report = peer.await.expect("the peer ran");
    let connected = report.connected_after.expect("the monitor never connected");
    assert!(connected < Duration::from_secs(2), "{connected:?}");
    let loud = report.frame_rms.iter().filter(|&&rms| rms > 300.0).count();
    assert!(
        loud >= 50,
        "{loud} loud frames of {} received",
        report.frame_rms.len()
    );
    println!(
        "monitor connected after {connected:?}; {loud} loud frames of {}",
        report.frame_rms.len()
    );

    // The monitor hung up: the room lets it go.
    call.stream(&vec![0xFF; 8 * 500]).await;
    assert_eq!(
        calls(&addr).await[0]["legs"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_token_joins_under_its_name_and_wrong_join_tokens_spend_the_admin_budget() {
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ],
        false,
    );
    let addr = server.addr.clone();
    let answer = signed_webhook(&addr, AUTH, "CA_join_2");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_join_2", &call_token).await;
    call.stream(&vec![0xFF; 8 * 300]).await;
    let id = calls(&addr).await[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("http://{addr}/api/v1/sessions"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": "Grace Hopper"}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let session = login["token"].as_str().expect("a token").to_owned();

    let (a, i) = (addr.clone(), id.clone());
    let peer = tokio::task::spawn_blocking(move || {
        support::webrtc_peer::join(&a, &i, "monitor", &session, &[0i16; 960], 1.5)
    });
    call.stream(&tone_mulaw(2_000)).await;
    let report = peer.await.expect("the peer ran");
    assert!(
        report.connected_after.is_some(),
        "the session's join failed"
    );
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let listened = loop {
        let audit: Value = http
            .get(format!("http://{addr}/api/v1/audit?call_id={id}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let entry = audit["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["action"] == "listen").cloned());
        if let Some(entry) = entry {
            break entry;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no listen entry: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listened["who"], "Grace Hopper", "{listened}");
    assert_eq!(listened["detail"]["session"], login["session_id"]);

    // Wrong tokens: refused, then limited, on the socket and the API alike.
    let join = |token: &str| {
        let (a, i, t) = (addr.clone(), id.clone(), token.to_owned());
        tokio::task::spawn_blocking(move || {
            support::webrtc_peer::first_answer(
                &a,
                serde_json::json!({"type":"join","call_id":i,"role":"monitor","token":t,"sdp":"v=0"}),
            )
        })
    };
    let mut messages = Vec::new();
    for _ in 0..warmline::http::rate_limit::BURST + 1 {
        let refused = join("guess").await.expect("answered");
        messages.push(refused["message"].as_str().unwrap_or("").to_owned());
    }
    let burst = warmline::http::rate_limit::BURST as usize;
    assert!(
        messages[..burst].iter().all(|m| m.contains("admin token")),
        "{messages:?}"
    );
    assert!(messages[burst].contains("too many refused"), "{messages:?}");
    let api = http
        .get(format!("http://{addr}/api/v1/calls"))
        .bearer_auth("guess")
        .send()
        .await
        .expect("answers");
    assert_eq!(api.status().as_u16(), 429, "the API shares the budget");
    assert_eq!(calls(&addr).await.len(), 1, "the right token still passes");
}
