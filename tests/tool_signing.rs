//! Webhook tools through the sidecar, in-process, against a local HTTP
//! tool server: signatures checked by Python's `hmac` (the docs/TOOLS.md
//! snippet), the Idempotency-Key kept across a retry, no retry for a tool
//! that is not idempotent, and a call's tools cancelled when it hangs up.

mod support {
    pub mod oracle;
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use warmline::call::tools::{CallIdentity, ToolCall, ToolSidecar};
use warmline::config::Config;
use warmline::tools::Sidecar;

const SECRET: &str = "whsec_local_test";
const ORDERS_SECRET: &str = "whsec_orders_only";

/// One request the tool server saw.
#[derive(Clone, Debug)]
struct Seen {
    route: String,
    timestamp: String,
    signature: String,
    idempotency_key: String,
    body: String,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self, route: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|s| s.route == route)
            .cloned()
            .collect()
    }
}

async fn handle(
    State(server): State<Server>,
    Path(route): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let count = {
        let mut seen = server.seen.lock().expect("not poisoned");
        seen.push(Seen {
            route: route.clone(),
            timestamp: header("x-warmline-timestamp"),
            signature: header("x-warmline-signature"),
            idempotency_key: header("idempotency-key"),
            body,
        });
        seen.iter().filter(|s| s.route == route).count()
    };
    match route.as_str() {
        "orders" => axum::Json(json!({"status": "shipped", "order": "A17"})).into_response(),
        // Fails once, then answers: an idempotent tool retries through it.
        "flaky" if count == 1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "flaky" => axum::Json(json!({"booked": true})).into_response(),
        "charge" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        "text" => "all good".into_response(),
        _ => {
            // "hang": never answers within a test.
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn start_server() -> (Server, String) {
    let server = Server::default();
    let app = Router::new()
        .route("/{route}", post(handle))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (server, base)
}

fn tools_toml(base: &str) -> String {
    format!(
        r#"
[[tools]]
name = "lookup_order"
description = "Look up an order."
kind = "webhook"
url = "{base}/orders"
secret_env = "ORDERS_SECRET"
parameters = {{ type = "object", properties = {{ order = {{ type = "string" }} }} }}

[[tools]]
name = "book_slot"
description = "Book a slot."
kind = "webhook"
url = "{base}/flaky"
idempotent = true
retries = 2

[[tools]]
name = "status_page"
description = "Always down."
kind = "webhook"
url = "{base}/down"
idempotent = true
retries = 2

[[tools]]
name = "charge_card"
description = "Charge the card."
kind = "webhook"
url = "{base}/charge"

[[tools]]
name = "chatty"
description = "Answers in prose."
kind = "webhook"
url = "{base}/text"

[[tools]]
name = "hang"
description = "Never answers."
kind = "webhook"
url = "{base}/hang"
timeout_ms = 300
"#
    )
}

fn sidecar(base: &str) -> Sidecar {
    let env = [
        ("WARMLINE_TOOLS_SECRET", SECRET),
        ("ORDERS_SECRET", ORDERS_SECRET),
    ];
    let config = Config::from_toml_and_env(
        &tools_toml(base),
        std::path::Path::new("tools.toml"),
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .expect("the tools config passes check");
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    Sidecar::new(&config.tools, &lookup, tokio::runtime::Handle::current()).expect("sidecar")
}

fn identity() -> CallIdentity {
    CallIdentity::mint("twilio", "CA0123", "+15550001", "+15550002")
}

async fn run(sidecar: &Sidecar, call: &CallIdentity, name: &str, id: &str) -> Value {
    let (tx, mut rx) = mpsc::channel(4);
    let mut tools = sidecar.open(call.clone(), tx);
    tools.run(ToolCall {
        call_id: id.into(),
        name: name.into(),
        arguments: r#"{"order":"A17"}"#.into(),
    });
    let answer = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the tool answers in time")
        .expect("an output");
    assert_eq!(answer.call_id, id);
    serde_json::from_str(&answer.output).expect("the output is JSON")
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn oracle(secret: &str, seen: &[Seen], now: u64) -> Vec<String> {
    let requests: Vec<Value> = seen
        .iter()
        .map(|s| {
            json!({"timestamp": s.timestamp, "signature": s.signature, "body": s.body, "now": now})
        })
        .collect();
    let answer = support::oracle::answer(
        "tool_signature.py",
        &json!({"secret": secret, "requests": requests}),
    );
    serde_json::from_value(answer).expect("a list of verdicts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answer_reaches_the_model_and_python_hmac_accepts_the_signature() {
    let (server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let call = identity();
    let output = run(&sidecar, &call, "lookup_order", "fc_1").await;
    assert_eq!(output, json!({"status": "shipped", "order": "A17"}));

    let seen = server.seen("orders");
    assert_eq!(seen.len(), 1);
    let body: Value = serde_json::from_str(&seen[0].body).expect("JSON body");
    assert_eq!(body["tool"], "lookup_order");
    assert_eq!(body["arguments"], json!({"order": "A17"}));
    assert_eq!(body["call"]["id"], call.id.as_str());
    assert_eq!(body["call"]["provider_id"], "CA0123");
    assert_eq!(body["call"]["ingress"], "twilio");
    assert_eq!(body["call"]["from"], "+15550001");
    assert_eq!(body["call"]["to"], "+15550002");
    assert_eq!(body["call"]["started_at"], call.started_at.as_str());
    assert_eq!(seen[0].idempotency_key, format!("{}:fc_1", call.id));

    // The tool's own secret signs it; Python's hmac agrees, refuses the
    // shared secret, and refuses the same request six minutes later.
    let now = now_unix();
    assert_eq!(oracle(ORDERS_SECRET, &seen, now), ["ok"]);
    assert_eq!(oracle(SECRET, &seen, now), ["mismatch"]);
    assert_eq!(oracle(ORDERS_SECRET, &seen, now + 360), ["stale"]);
    // And our own verifier agrees with Python.
    assert_eq!(
        warmline::tools::signing::verify(
            ORDERS_SECRET.as_bytes(),
            &seen[0].timestamp,
            &seen[0].signature,
            seen[0].body.as_bytes(),
            now,
            warmline::tools::signing::DEFAULT_TOLERANCE,
        ),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_tool_retries_with_the_same_idempotency_key() {
    let (server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let call = identity();
    let output = run(&sidecar, &call, "book_slot", "fc_9").await;
    assert_eq!(output, json!({"booked": true}));
    let seen = server.seen("flaky");
    assert_eq!(seen.len(), 2, "one failure, one retry");
    let key = format!("{}:fc_9", call.id);
    assert!(seen.iter().all(|s| s.idempotency_key == key), "{seen:?}");
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(oracle(SECRET, &seen, now_unix()), ["ok", "ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_that_is_not_idempotent_is_never_retried_and_the_error_is_words() {
    let (server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let output = run(&sidecar, &identity(), "charge_card", "fc_2").await;
    assert_eq!(server.seen("charge").len(), 1, "no retry");
    assert_eq!(output["error"]["status"], 500);
    let message = output["error"]["message"].as_str().expect("words");
    assert!(message.contains("charge_card"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_json_answer_and_a_timeout_become_error_objects() {
    let (_server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let chatty = run(&sidecar, &identity(), "chatty", "fc_3").await;
    assert_eq!(chatty["error"]["kind"], "bad_answer");
    let started = std::time::Instant::now();
    let hang = run(&sidecar, &identity(), "hang", "fc_4").await;
    assert_eq!(hang["error"]["kind"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_to_human_says_no_reps_are_configured_through_the_sidecar() {
    let (_server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let output = run(&sidecar, &identity(), "escalate_to_human", "fc_5").await;
    assert_eq!(output["reason"], "no_reps_configured");
    assert!(output["message"]
        .as_str()
        .is_some_and(|m| m.contains("No human reps")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_cancels_the_calls_tools_and_the_cap_refuses_extra_calls() {
    let (server, base) = start_server().await;
    let sidecar = sidecar(&base).with_per_call_cap(1);
    let (tx, mut rx) = mpsc::channel(4);
    let mut tools = sidecar.open(identity(), tx);
    let hang = |id: &str| ToolCall {
        call_id: id.into(),
        name: "hang".into(),
        arguments: "{}".into(),
    };
    tools.run(hang("fc_a"));
    tools.run(hang("fc_b"));
    let answer = tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .expect("the refusal is immediate")
        .expect("an output");
    assert_eq!(answer.call_id, "fc_b");
    assert!(answer.output.contains("busy"), "{}", answer.output);
    // Wait for the first request to reach the server, then hang up.
    for _ in 0..100 {
        if !server.seen("hang").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.seen("hang").len(), 1);
    drop(tools);
    // Every sender the call's tasks held is gone: the channel closes well
    // before the tool's 300 ms timeout could answer.
    let closed = tokio::time::timeout(Duration::from_millis(200), rx.recv())
        .await
        .expect("closed at once");
    assert!(closed.is_none(), "no output after the hang-up: {closed:?}");
}

/// A caller leg that only starts and then waits.
struct QuietLeg {
    events: mpsc::Receiver<warmline::call::leg::LegEvent>,
}

impl warmline::call::leg::CallerLeg for QuietLeg {
    async fn next_event(&mut self) -> warmline::call::leg::LegEvent {
        self.events
            .recv()
            .await
            .unwrap_or_else(|| warmline::call::leg::LegEvent::Ended("test over".into()))
    }
    async fn send_frame(
        &mut self,
        _due: tokio::time::Instant,
        _mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<warmline::call::leg::Sent, warmline::call::leg::LegError> {
        Ok(warmline::call::leg::Sent::Now)
    }
    async fn send_idle(
        &mut self,
        _due: tokio::time::Instant,
    ) -> Result<warmline::call::leg::Sent, warmline::call::leg::LegError> {
        Ok(warmline::call::leg::Sent::Nothing)
    }
    async fn clear(&mut self) -> Result<(), warmline::call::leg::LegError> {
        Ok(())
    }
    async fn hang_up(&mut self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_call_from_the_model_runs_the_webhook_and_the_output_reaches_the_model() {
    use warmline::call::driver::{CallDriver, CallSetup};
    use warmline::model::link::{Backend, CustomModel, ModelLink, ModelSession};
    use warmline::model::{ModelCommand, ModelEvent};

    let (server, base) = start_server().await;
    let sidecar: warmline::call::tools::SharedSidecar = Arc::new(sidecar(&base));
    let (open_tx, mut open_rx) = mpsc::unbounded_channel();
    let backend = Backend::Custom(CustomModel(Arc::new(move |_config| {
        let (commands, cmd_rx) = mpsc::channel(64);
        let (ev_tx, events) = mpsc::channel(64);
        let _ = open_tx.send((cmd_rx, ev_tx));
        ModelSession { commands, events }
    })));
    let call = identity();
    let setup = CallSetup {
        tool_entries: None,
        backend,
        session: warmline::app::session_config(&Config::default()),
        call: warmline::call::CallConfig::default(),
        ingress: "twilio",
        drain: warmline::drain::Drain::default(),
        identity: call.clone(),
        tools: Some(sidecar),
        events: None,
        registry: None,
    };
    // The call runs on a media worker of its own, as in the server; the
    // tool runs on this test's multi-threaded runtime.
    let (leg_tx, leg_rx) = mpsc::channel(8);
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a media worker runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let driver = CallDriver::prewarm(setup);
            let mut leg = QuietLeg { events: leg_rx };
            driver.run(&mut leg).await
        })
    });
    let (mut commands, events): (mpsc::Receiver<ModelCommand>, mpsc::Sender<ModelLink>) =
        open_rx.recv().await.expect("the session opens");
    events
        .send(ModelLink::Event(ModelEvent::Ready))
        .await
        .expect("call listens");
    leg_tx
        .send(warmline::call::leg::LegEvent::Started)
        .await
        .expect("call listens");
    events
        .send(ModelLink::Event(ModelEvent::FunctionCall {
            call_id: "fc_e2e".into(),
            name: "lookup_order".into(),
            arguments: r#"{"order":"A17"}"#.into(),
        }))
        .await
        .expect("call listens");
    let output = loop {
        match tokio::time::timeout(Duration::from_secs(10), commands.recv()).await {
            Ok(Some(ModelCommand::FunctionOutput { call_id, output })) => {
                assert_eq!(call_id, "fc_e2e");
                break output;
            }
            Ok(Some(_)) => continue,
            other => panic!("no function output: {other:?}"),
        }
    };
    let output: Value = serde_json::from_str(&output).expect("JSON output");
    assert_eq!(output, json!({"status": "shipped", "order": "A17"}));
    let seen = server.seen("orders");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].idempotency_key, format!("{}:fc_e2e", call.id));
    assert_eq!(oracle(ORDERS_SECRET, &seen, now_unix()), ["ok"]);
    drop(leg_tx);
    tokio::task::spawn_blocking(move || worker.join().expect("the call ends"))
        .await
        .expect("joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_counted_and_timed_by_tool_and_outcome() {
    // The only test of this binary that installs the recorder.
    let metrics = warmline::metrics::install().expect("the recorder");
    let (_server, base) = start_server().await;
    let sidecar = sidecar(&base);
    run(&sidecar, &identity(), "lookup_order", "fc_m1").await;
    run(&sidecar, &identity(), "charge_card", "fc_m2").await;
    run(&sidecar, &identity(), "made_up_by_the_model", "fc_m3").await;
    let rendered = metrics.render();
    for series in [
        r#"warmline_tool_calls_total{tool="lookup_order",outcome="ok"}"#,
        r#"warmline_tool_calls_total{tool="charge_card",outcome="http_status"}"#,
        r#"warmline_tool_calls_total{tool="unknown",outcome="unknown_tool"}"#,
        r#"warmline_tool_duration_seconds_count{tool="lookup_order",outcome="ok"}"#,
    ] {
        assert!(rendered.contains(series), "{series} missing:\n{rendered}");
    }
    assert!(!rendered.contains("made_up_by_the_model"));
    // The sidecar's dispatch time: one per request sent (the unknown tool
    // sent none).
    assert!(
        rendered
            .lines()
            .any(|l| l == "warmline_tool_dispatch_seconds_count 2"),
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_tool_that_keeps_failing_stops_after_its_retries() {
    let (server, base) = start_server().await;
    let sidecar = sidecar(&base);
    let output = run(&sidecar, &identity(), "status_page", "fc_d").await;
    assert_eq!(output["error"]["status"], 503);
    let seen = server.seen("down");
    assert_eq!(seen.len(), 3, "one attempt and two retries");
    assert!(seen
        .iter()
        .all(|s| s.idempotency_key == seen[0].idempotency_key));
}
