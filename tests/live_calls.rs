//! The live-call registry and API (issue 13, docs/API.md) against the real
//! `warmline` binary: a simulated Twilio call and a SIPp call are listed
//! while they are up and vanish when they end, the event streams carry
//! their transcript lines, a hang-up through the API ends the call, and
//! without the admin token every route answers 401.

mod support {
    pub mod oracle;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::server::{ServerProcess, AUTH};
use support::twilio_sim::{connect_stream, http_get, metric, signed_webhook, stream_of, SimCall};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
const ADMIN: &str = "live-calls-admin-token";

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

/// A plain-HTTP client (reqwest wants a crypto provider even so).
fn client() -> reqwest::Client {
    warmline::tls::install_crypto_provider();
    reqwest::Client::new()
}

fn api(server_addr: &str, path: &str) -> String {
    format!("http://{server_addr}{path}")
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let answer = http
        .get(url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn live_calls(http: &reqwest::Client, addr: &str) -> Vec<Value> {
    let (status, body) = get_json(http, &api(addr, "/api/v1/calls")).await;
    assert_eq!(status, 200, "{body}");
    body["calls"].as_array().cloned().expect("a calls array")
}

/// Reads a server-sent event stream in the background: every `data:`
/// line's JSON, until the stream ends or the test ends.
fn follow(http: &reqwest::Client, url: String) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    let http = http.clone();
    tokio::spawn(async move {
        let mut answer = http
            .get(url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(answer.status().as_u16(), 200);
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = answer.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        out.lock().expect("lock").push(v);
                    }
                }
            }
        }
    });
    seen
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has(events: &Mutex<Vec<Value>>, pred: impl Fn(&Value) -> bool) -> bool {
    events.lock().expect("lock").iter().any(pred)
}

fn start_twilio_server() -> ServerProcess {
    support::server::start(
        BINARY,
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ],
        false,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_call_is_listed_while_live_streams_its_transcript_and_vanishes_when_it_ends() {
    let server = start_twilio_server();
    let http = client();
    let addr = server.addr.clone();
    assert!(live_calls(&http, &addr).await.is_empty());
    let all = follow(&http, api(&addr, "/api/v1/events"));

    let answer = signed_webhook(&addr, AUTH, "CA_live_1");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_live_1", &call_token).await;
    call.stream(&silence(2_000)).await;

    let calls = live_calls(&http, &addr).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let listed = &calls[0];
    assert_eq!(listed["provider_id"], "CA_live_1");
    assert_eq!(listed["ingress"], "twilio");
    assert_eq!(listed["state"], "live", "the greeting is playing");
    assert_eq!(listed["legs"][0]["role"], "caller");
    assert_eq!(listed["legs"][1]["role"], "agent");
    let id = listed["id"].as_str().expect("an id").to_owned();
    let (status, one) = get_json(&http, &api(&addr, &format!("/api/v1/calls/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(&one, listed);
    let per_call = follow(&http, api(&addr, &format!("/api/v1/calls/{id}/events")));

    // A caller turn, then DTMF 9: the demo agent says goodbye and ends it.
    call.stream(&support::wav::fixture_mulaw("caller_03.wav"))
        .await;
    call.stream(&silence(1_500)).await;
    call.dtmf('9').await;
    call.stream(&silence(5_000)).await;
    assert!(call.observed.closed_by_server, "the call did not end");

    wait_for("the call leaves the list", || {
        has(&all, |e| {
            e["call_id"] == id.as_str() && e["state"] == "ended"
        })
    })
    .await;
    assert!(live_calls(&http, &addr).await.is_empty());
    // The ended call is no longer live: its id now answers from the call
    // records (issue 16) once the store has written it, as ended.
    let url = api(&addr, &format!("/api/v1/calls/{id}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_json(&http, &url).await;
        match status {
            200 => {
                assert_eq!(body["state"], "ended", "{body}");
                break;
            }
            404 if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("the ended call answered {status}: {body}"),
        }
    }

    let is_line = |speaker: &'static str| {
        let id = id.clone();
        move |e: &Value| {
            e["call_id"] == id.as_str() && e["type"] == "transcript" && e["speaker"] == speaker
        }
    };
    // The greeting's scripted line and the caller's turn, on both streams.
    for events in [&all, &per_call] {
        assert!(has(events, is_line("agent")), "{:?}", events.lock());
        assert!(has(events, is_line("caller")), "{:?}", events.lock());
        assert!(has(events, |e| e["type"] == "state" && e["state"] == "ended"));
    }
    assert!(has(&all, |e| e["type"] == "state" && e["state"] == "live"));
    let greeting = all
        .lock()
        .expect("lock")
        .iter()
        .find(|e| is_line("agent")(e))
        .cloned()
        .expect("an agent line");
    assert!(greeting["item_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(greeting["text"].as_str().is_some_and(|s| !s.is_empty()));
    let metrics = http_get(&addr, "/metrics").body;
    assert_eq!(metric(&metrics, "warmline_registry_calls"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_admin_token_every_live_call_route_answers_401() {
    let server = start_twilio_server();
    // Listed at zero from start-up.
    let metrics = http_get(&server.addr, "/metrics").body;
    assert_eq!(
        metric(&metrics, "warmline_registry_calls"),
        Some(0.0),
        "{metrics}"
    );
    let http = client();
    let id = "0192f1a0-0000-7000-8000-000000000000";
    let routes = [
        ("GET", "/api/v1/calls".to_owned()),
        ("GET", "/api/v1/calls?state=live".to_owned()),
        ("GET", format!("/api/v1/calls/{id}")),
        ("GET", format!("/api/v1/calls/{id}/events")),
        ("GET", "/api/v1/events".to_owned()),
        ("POST", format!("/api/v1/calls/{id}/hangup")),
        ("POST", format!("/api/v1/calls/{id}/say")),
    ];
    for (method, path) in &routes {
        for auth in [None, Some("wrong-token")] {
            let mut request = match *method {
                "GET" => http.get(api(&server.addr, path)),
                _ => http
                    .post(api(&server.addr, path))
                    .header("content-type", "application/json")
                    .body(r#"{"text":"hello"}"#),
            };
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            let answer = request.send().await.expect("answers");
            assert_eq!(
                answer.status().as_u16(),
                401,
                "{method} {path} with {auth:?}"
            );
        }
    }
    // With it: an unknown call is 404 and an unknown filter is 400
    // naming the ones served.
    let (status, _) = get_json(&http, &api(&server.addr, &format!("/api/v1/calls/{id}"))).await;
    assert_eq!(status, 404);
    let (status, body) = get_json(&http, &api(&server.addr, "/api/v1/calls?state=bogus")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("state=live")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_is_listed_takes_a_text_item_and_ends_when_hung_up_through_the_api() {
    let server = support::sipp::start(BINARY, &[("WARMLINE_ADMIN_TOKEN", Some(ADMIN))]);
    let addr = server.server.addr.clone();
    let http = client();
    let target = server.sip.clone();
    // The scenario never hangs up: it passes only when warmline's BYE comes.
    let sipp = tokio::task::spawn_blocking(move || {
        support::sipp::run("wait_for_bye", &target, &["-m", "1", "-timeout", "30"])
    });

    let mut calls = Vec::new();
    wait_for("the SIP call is listed", || {
        calls = futures_block(live_calls(&http, &addr));
        !calls.is_empty()
    })
    .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["ingress"], "sip");
    let id = calls[0]["id"].as_str().expect("an id").to_owned();
    let events = follow(&http, api(&addr, &format!("/api/v1/calls/{id}/events")));
    wait_for("the greeting's line", || {
        has(&events, |e| {
            e["type"] == "transcript" && e["speaker"] == "agent"
        })
    })
    .await;

    let say = http
        .post(api(&addr, &format!("/api/v1/calls/{id}/say")))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"text": "The caller is a premium customer."}))
        .send()
        .await
        .expect("answers");
    assert_eq!(say.status().as_u16(), 200);
    wait_for("the text item's event", || {
        has(&events, |e| e["type"] == "text_added")
    })
    .await;

    let hangup = http
        .post(api(&addr, &format!("/api/v1/calls/{id}/hangup")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("answers");
    assert_eq!(hangup.status().as_u16(), 200);
    let outcome = sipp.await.expect("sipp ran");
    assert!(outcome.passed(), "warmline did not send BYE: {outcome:?}");
    wait_for("the call leaves the list", || {
        futures_block(live_calls(&http, &addr)).is_empty()
    })
    .await;
    assert!(has(&events, |e| e["state"] == "ending"));
    assert!(has(&events, |e| e["state"] == "ended"));
    let again = http
        .post(api(&addr, &format!("/api/v1/calls/{id}/hangup")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("answers");
    assert_eq!(again.status().as_u16(), 404);
}

/// Runs a future to completion from inside a `wait_for` check (the test
/// runtime is multi-threaded, so blocking one worker briefly is fine).
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
