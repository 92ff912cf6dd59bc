//! The approval gate end to end: a fake model calls a tool that needs
//! approval, the call waits on its sidecar task, and a supervisor decides
//! through `GET /api/v1/approvals` and `POST /api/v1/approvals/{id}` over
//! real HTTP. An approval with edited arguments reaches a local webhook
//! with the edit; a reject and a timeout reach the model as words; the
//! routes refuse a missing or wrong admin token with 401.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::tools::CallIdentity;
use warmline::config::{Config, Secrets};
use warmline::http::admin::AdminToken;
use warmline::model::link::{Backend, CustomModel, ModelLink, ModelSession};
use warmline::model::{ModelCommand, ModelEvent};
use warmline::tools::Sidecar;

const SECRET: &str = "whsec_local_test";
const ADMIN: &str = "admin-token-for-tests";

/// The bodies the local refund endpoint received.
#[derive(Clone, Default)]
struct Refunds(Arc<Mutex<Vec<Value>>>);

impl Refunds {
    fn seen(&self) -> Vec<Value> {
        self.0.lock().expect("not poisoned").clone()
    }
}

async fn refund(State(refunds): State<Refunds>, body: String) -> axum::Json<Value> {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let amount = body["arguments"]["amount"].clone();
    refunds.0.lock().expect("not poisoned").push(body);
    axum::Json(json!({"refunded": amount}))
}

/// Serves `router` on a loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// A response's JSON body (`Null` when it is not JSON).
async fn json_of(answer: reqwest::Response) -> Value {
    let text = answer.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The sidecar with two gated tools against a local endpoint, and the
/// approval API on its registry.
struct Bench {
    sidecar: Sidecar,
    refunds: Refunds,
    api: String,
    http: reqwest::Client,
}

async fn bench() -> Bench {
    let refunds = Refunds::default();
    let tool_base = serve(
        Router::new()
            .route("/refund", post(refund))
            .with_state(refunds.clone()),
    )
    .await;
    let toml = format!(
        r#"
[[tools]]
name = "refund"
description = "Refund an order."
kind = "webhook"
url = "{tool_base}/refund"
approval = "required"
parameters = {{ type = "object", properties = {{ order = {{ type = "string" }}, amount = {{ type = "integer", maximum = 100 }} }}, required = ["order", "amount"] }}

[[tools]]
name = "order_status"
description = "Look up an order; no approval needed."
kind = "webhook"
url = "{tool_base}/refund"

[[tools]]
name = "refund_fast"
description = "Refund, if someone approves quickly."
kind = "webhook"
url = "{tool_base}/refund"
approval = "required"
approval_timeout_ms = 300
"#
    );
    let env = [("WARMLINE_TOOLS_SECRET", SECRET)];
    let config = Config::from_toml_and_env(
        &toml,
        std::path::Path::new("tools.toml"),
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .expect("approval = \"required\" passes check");
    let lookup = |name: &str| (name == "WARMLINE_TOOLS_SECRET").then(|| SECRET.to_owned());
    let sidecar =
        Sidecar::new(&config.tools, &lookup, tokio::runtime::Handle::current()).expect("sidecar");
    let api = serve(warmline::tools::approval::api::routes(
        sidecar.approvals().clone(),
        AdminToken::new(Some(ADMIN)),
    ))
    .await;
    Bench {
        sidecar,
        refunds,
        api,
        http: reqwest::Client::new(),
    }
}

impl Bench {
    async fn pending(&self) -> Vec<Value> {
        let answer = self
            .http
            .get(format!("{}/api/v1/approvals", self.api))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("GET");
        assert_eq!(answer.status(), 200);
        match json_of(answer).await {
            Value::Array(list) => list,
            other => panic!("not a JSON list: {other}"),
        }
    }

    /// Waits (real time: the call runs on its own thread) for one pending.
    async fn first_pending(&self) -> Value {
        for _ in 0..500 {
            if let Some(first) = self.pending().await.into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no approval became pending");
    }

    async fn decide(&self, id: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}/api/v1/approvals/{id}", self.api))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        let status = answer.status().as_u16();
        (status, json_of(answer).await)
    }
}

/// A caller leg that only starts and then waits.
struct QuietLeg {
    events: mpsc::Receiver<LegEvent>,
}

impl CallerLeg for QuietLeg {
    async fn next_event(&mut self) -> LegEvent {
        self.events
            .recv()
            .await
            .unwrap_or_else(|| LegEvent::Ended("test over".into()))
    }
    async fn send_frame(
        &mut self,
        _due: tokio::time::Instant,
        _mulaw: &[u8],
        _mark: Option<&str>,
    ) -> Result<Sent, LegError> {
        Ok(Sent::Now)
    }
    async fn send_idle(&mut self, _due: tokio::time::Instant) -> Result<Sent, LegError> {
        Ok(Sent::Nothing)
    }
    async fn clear(&mut self) -> Result<(), LegError> {
        Ok(())
    }
    async fn hang_up(&mut self) {}
}

/// One call on a media worker thread of its own, as in the server, with a
/// fake model the test speaks for.
struct Call {
    identity: CallIdentity,
    commands: mpsc::Receiver<ModelCommand>,
    events: mpsc::Sender<ModelLink>,
    leg: Option<mpsc::Sender<LegEvent>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Call {
    async fn start(sidecar: &Sidecar) -> Call {
        let (open_tx, mut open_rx) = mpsc::unbounded_channel();
        let backend = Backend::Custom(CustomModel(Arc::new(move |_config| {
            let (commands, cmd_rx) = mpsc::channel(64);
            let (ev_tx, events) = mpsc::channel(64);
            let _ = open_tx.send((cmd_rx, ev_tx));
            ModelSession { commands, events }
        })));
        let identity = CallIdentity::mint("twilio", "CA0123", "+15550001", "+15550002");
        let setup = CallSetup {
            tool_entries: None,
            events: None,
            registry: None,
            backend,
            session: warmline::app::session_config(&Config::default()),
            call: warmline::call::CallConfig::default(),
            ingress: "twilio",
            drain: warmline::drain::Drain::default(),
            identity: identity.clone(),
            tools: Some(Arc::new(sidecar.clone())),
        };
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
                driver.run(&mut leg).await;
            })
        });
        let (commands, events) = open_rx.recv().await.expect("the session opens");
        events
            .send(ModelLink::Event(ModelEvent::Ready))
            .await
            .expect("call listens");
        leg_tx.send(LegEvent::Started).await.expect("call listens");
        Call {
            identity,
            commands,
            events,
            leg: Some(leg_tx),
            worker: Some(worker),
        }
    }

    async fn function_call(&self, id: &str, name: &str, arguments: Value) {
        self.events
            .send(ModelLink::Event(ModelEvent::FunctionCall {
                call_id: id.into(),
                name: name.into(),
                arguments: arguments.to_string(),
            }))
            .await
            .expect("call listens");
    }

    /// The next function output the model gets, within `within`.
    async fn output(&mut self, id: &str, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.commands.recv()).await {
                Ok(Some(ModelCommand::FunctionOutput { call_id, output })) => {
                    assert_eq!(call_id, id);
                    return Some(serde_json::from_str(&output).expect("JSON output"));
                }
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the call ended"),
                Err(_) => return None,
            }
        }
    }

    async fn hang_up(mut self) {
        drop(self.leg.take());
        let worker = self.worker.take().expect("running");
        tokio::task::spawn_blocking(move || worker.join().expect("the call ends"))
            .await
            .expect("joined");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_tool_waits_for_approval_and_the_webhook_gets_the_edited_arguments() {
    let bench = bench().await;
    let mut call = Call::start(&bench.sidecar).await;
    call.function_call("fc_1", "refund", json!({"order": "A17", "amount": 90}))
        .await;

    let pending = bench.first_pending().await;
    assert_eq!(pending["call_id"], call.identity.id.as_str());
    assert_eq!(pending["tool"], "refund");
    assert_eq!(pending["arguments"], json!({"order": "A17", "amount": 90}));
    assert!(pending["waiting_since"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let id = pending["id"].as_str().expect("an id").to_owned();

    // Blocked: the model has no output and the endpoint saw nothing.
    assert_eq!(call.output("fc_1", Duration::from_millis(200)).await, None);
    assert!(bench.refunds.seen().is_empty());

    // An edit the schema refuses is 422 and changes nothing.
    let (status, body) = bench
        .decide(
            &id,
            json!({"decision": "approve", "arguments": {"order": "A17", "amount": 900}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("still pending")));
    // Bodies that are not a decision are 400.
    for bad in [
        json!({"decision": "maybe"}),
        json!({"verdict": "approve"}),
        json!({"decision": "reject", "arguments": {"order": "A17", "amount": 1}}),
    ] {
        assert_eq!(bench.decide(&id, bad.clone()).await.0, 400, "{bad}");
    }
    assert_eq!(bench.pending().await.len(), 1, "still pending");
    assert!(bench.refunds.seen().is_empty());

    let (status, body) = bench
        .decide(
            &id,
            json!({"decision": "approve", "arguments": {"order": "A17", "amount": 40}, "note": "partial refund"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let output = call
        .output("fc_1", Duration::from_secs(10))
        .await
        .expect("the tool's output");
    assert_eq!(output, json!({"refunded": 40}));
    let seen = bench.refunds.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["arguments"], json!({"order": "A17", "amount": 40}));
    assert_eq!(seen[0]["call"]["id"], call.identity.id.as_str());

    // Decided: gone from the list, and a second decision is 404.
    assert!(bench.pending().await.is_empty());
    assert_eq!(
        bench.decide(&id, json!({"decision": "reject"})).await.0,
        404
    );
    call.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_reaches_the_model_as_words_with_the_note() {
    let bench = bench().await;
    let mut call = Call::start(&bench.sidecar).await;
    call.function_call("fc_2", "refund", json!({"order": "B2", "amount": 30}))
        .await;
    let id = bench.first_pending().await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (status, _) = bench
        .decide(
            &id,
            json!({"decision": "reject", "note": "This order was already refunded"}),
        )
        .await;
    assert_eq!(status, 200);
    let output = call
        .output("fc_2", Duration::from_secs(10))
        .await
        .expect("an output");
    assert_eq!(output["status"], "rejected");
    let message = output["message"].as_str().expect("words");
    assert!(
        message.contains("A supervisor declined refund"),
        "{message}"
    );
    assert!(
        message.contains("This order was already refunded"),
        "{message}"
    );
    assert!(message.contains("Tell the caller"), "{message}");
    assert!(
        bench.refunds.seen().is_empty(),
        "a rejected tool never runs"
    );
    call.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_decision_in_time_reaches_the_model_as_words_and_the_tool_never_runs() {
    let bench = bench().await;
    let mut call = Call::start(&bench.sidecar).await;
    let asked = std::time::Instant::now();
    call.function_call("fc_3", "refund_fast", json!({"amount": 5}))
        .await;
    let output = call
        .output("fc_3", Duration::from_secs(10))
        .await
        .expect("an output at the timeout");
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(output["status"], "approval_timeout");
    let message = output["message"].as_str().expect("words");
    assert!(message.contains("nobody approved it"), "{message}");
    assert!(message.contains("Tell the caller"), "{message}");
    assert!(bench.pending().await.is_empty());
    assert!(bench.refunds.seen().is_empty());
    call.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_cancels_a_pending_approval() {
    let bench = bench().await;
    let call = Call::start(&bench.sidecar).await;
    call.function_call("fc_4", "refund", json!({"order": "C3", "amount": 1}))
        .await;
    let id = bench.first_pending().await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    call.hang_up().await;
    // The call's tasks are aborted as its driver ends; the abort lands on
    // the runtime's next turn of that task.
    let mut left = bench.pending().await;
    for _ in 0..200 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        left = bench.pending().await;
    }
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        bench.decide(&id, json!({"decision": "approve"})).await.0,
        404
    );
    assert!(bench.refunds.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_approval_routes_refuse_a_missing_or_wrong_admin_token_with_401() {
    let build = |admin: Option<&str>| {
        let secrets = Secrets {
            admin_token: admin.map(str::to_owned),
            ..Secrets::default()
        };
        warmline::app::build(
            &Config::default(),
            &secrets,
            warmline::http::AppState::new(),
        )
        .expect("builds")
        .router
    };
    let http = reqwest::Client::new();
    let with_token = serve(build(Some(ADMIN))).await;
    let without_token = serve(build(None)).await;
    let list = |base: &str| http.get(format!("{base}/api/v1/approvals"));
    let decide = |base: &str| {
        http.post(format!(
            "{base}/api/v1/approvals/0193e0f4-7c1a-7b2e-9c4d-3f5a6b7c8d9e"
        ))
        .header("content-type", "application/json")
        .body(json!({"decision": "approve"}).to_string())
    };
    for (name, request) in [
        ("GET, no token", list(&with_token)),
        (
            "GET, wrong token",
            list(&with_token).bearer_auth("admin-token-for-test"),
        ),
        (
            "GET, not bearer",
            list(&with_token).basic_auth("admin", Some(ADMIN)),
        ),
        ("POST, no token", decide(&with_token)),
        ("POST, wrong token", decide(&with_token).bearer_auth("nope")),
        ("GET, API off", list(&without_token).bearer_auth(ADMIN)),
        ("POST, API off", decide(&without_token).bearer_auth(ADMIN)),
    ] {
        let answer = request.send().await.expect("an answer");
        assert_eq!(answer.status(), 401, "{name}");
        assert!(answer.headers().contains_key("www-authenticate"), "{name}");
        let body = json_of(answer).await;
        assert!(body["error"].is_string(), "{name}: {body}");
    }
    let off = json_of(list(&without_token).send().await.expect("an answer")).await;
    assert!(
        off["error"]
            .as_str()
            .is_some_and(|e| e.contains("WARMLINE_ADMIN_TOKEN")),
        "{off}"
    );
    // The right token gets through: an empty list, and 404 for an
    // approval that does not exist.
    let listed = list(&with_token)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("GET");
    assert_eq!(listed.status(), 200);
    assert_eq!(json_of(listed).await, json!([]));
    let unknown = decide(&with_token)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("POST");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_counted_by_outcome() {
    // The only test of this binary that installs the recorder; the others
    // run beside it, so counts only grow.
    let metrics = warmline::metrics::install().expect("the recorder");
    let rendered = metrics.render();
    for outcome in warmline::tools::approval::OUTCOMES {
        let series = format!("warmline_approvals_total{{outcome=\"{outcome}\"}}");
        assert!(rendered.contains(&series), "{series} missing at start");
    }
    let bench = bench().await;
    let mut call = Call::start(&bench.sidecar).await;
    call.function_call("fc_5", "refund_fast", json!({"amount": 1}))
        .await;
    call.output("fc_5", Duration::from_secs(10))
        .await
        .expect("the timeout answer");
    call.hang_up().await;
    let timeouts = metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("warmline_approvals_total{outcome=\"timeout\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .expect("the timeout series");
    assert!(timeouts >= 1.0, "{timeouts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_approval_does_not_hold_back_other_tool_outputs() {
    let bench = bench().await;
    let mut call = Call::start(&bench.sidecar).await;
    call.function_call("fc_6", "refund", json!({"order": "D4", "amount": 10}))
        .await;
    let id = bench.first_pending().await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // A tool that needs no approval answers while the other waits.
    call.function_call("fc_7", "order_status", json!({"amount": 7}))
        .await;
    let output = call
        .output("fc_7", Duration::from_secs(10))
        .await
        .expect("the ungated tool answers");
    assert_eq!(output, json!({"refunded": 7}));
    assert_eq!(bench.pending().await.len(), 1, "the approval still waits");
    assert_eq!(
        bench.decide(&id, json!({"decision": "approve"})).await.0,
        200
    );
    let output = call
        .output("fc_6", Duration::from_secs(10))
        .await
        .expect("the approved tool answers");
    assert_eq!(output, json!({"refunded": 10}));
    call.hang_up().await;
}
