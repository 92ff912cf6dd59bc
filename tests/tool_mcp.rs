//! MCP tools through the sidecar against a real MCP server: the official
//! Python SDK's MCPServer (FastMCP in 1.x) over streamable HTTP,
//! tests/oracles/mcp_server.py, on an ephemeral port. The fake model calls
//! the server's tools and gets their answers as `function_call_output`;
//! the tool list follows `notifications/tools/list_changed`; a tool error
//! reaches the model as an error object; a server that is down when
//! warmline starts is picked up when it comes up.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use warmline::call::driver::{CallDriver, CallSetup};
use warmline::call::leg::{CallerLeg, LegError, LegEvent, Sent};
use warmline::call::tools::{CallIdentity, SharedSidecar, ToolCall, ToolSidecar};
use warmline::config::Config;
use warmline::model::link::{Backend, CustomModel, ModelLink, ModelSession};
use warmline::model::{ModelCommand, ModelEvent, SessionConfig};
use warmline::tools::Sidecar;

const TOKEN: &str = "tok-mcp-local";

/// The Python MCP server, killed when dropped.
struct PyServer {
    child: Child,
    port: u16,
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tests/oracles/mcp_server.py (port 0: any free one) and waits
/// until it listens.
async fn start_server(port: u16) -> PyServer {
    tokio::task::spawn_blocking(move || {
        let script = format!("{}/tests/oracles/mcp_server.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--token", TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (scripts/install-deps installs `mcp`)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port from the MCP server: {line:?}"));
        PyServer { child, port }
    })
    .await
    .expect("started")
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn sidecar(port: u16) -> Sidecar {
    let text = format!(
        r#"
[[tools]]
name = "shop"
kind = "mcp"
url = "http://127.0.0.1:{port}/mcp"
headers_env = {{ "Authorization" = "SHOP_AUTH" }}
timeout_ms = 5000
"#
    );
    let auth = format!("Bearer {TOKEN}");
    let env = [("SHOP_AUTH".to_owned(), auth.clone())];
    let config = Config::from_toml_and_env(
        &text,
        std::path::Path::new("tools.toml"),
        env.iter().cloned(),
    )
    .expect("an mcp entry passes check without a signing key");
    let lookup = move |name: &str| (name == "SHOP_AUTH").then(|| auth.clone());
    Sidecar::new(&config.tools, &lookup, tokio::runtime::Handle::current()).expect("sidecar")
}

fn names(specs: &[warmline::model::ToolSpec]) -> Vec<String> {
    specs.iter().map(|s| s.name.clone()).collect()
}

/// Waits until the sidecar offers `name` (the server lists it).
async fn offered(sidecar: &Sidecar, name: &str, within: Duration) {
    let started = Instant::now();
    while !names(&sidecar.specs()).iter().any(|n| n == name) {
        assert!(
            started.elapsed() < within,
            "{name} not offered after {within:?}: {:?}",
            names(&sidecar.specs())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn identity() -> CallIdentity {
    CallIdentity::mint("twilio", "CA0123", "+15550001", "+15550002")
}

/// Runs a tool call straight through the sidecar.
async fn run(sidecar: &Sidecar, name: &str, arguments: Value) -> Value {
    let (tx, mut rx) = mpsc::channel(4);
    let mut tools = sidecar.open(identity(), tx);
    tools.run(ToolCall {
        call_id: "fc_direct".into(),
        name: name.into(),
        arguments: arguments.to_string(),
    });
    let answer = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the tool answers in time")
        .expect("an output");
    serde_json::from_str(&answer.output).expect("the output is JSON")
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

/// What the fake model saw of one call: the tools its session was opened
/// with, and the output of the one function call it made.
struct ModelSaw {
    tools: Vec<String>,
    output: Value,
}

/// Runs a call on a media worker of its own, as in the server, with a
/// fake model that calls `name` once; the tool runs on this test's
/// multi-threaded runtime.
async fn model_calls(
    sidecar: &Sidecar,
    call: &CallIdentity,
    name: &str,
    arguments: Value,
) -> ModelSaw {
    let shared: SharedSidecar = Arc::new(sidecar.clone());
    let (open_tx, mut open_rx) = mpsc::unbounded_channel();
    let backend = Backend::Custom(CustomModel(Arc::new(move |config: SessionConfig| {
        let (commands, cmd_rx) = mpsc::channel(64);
        let (ev_tx, events) = mpsc::channel(64);
        let _ = open_tx.send((config, cmd_rx, ev_tx));
        ModelSession { commands, events }
    })));
    let setup = CallSetup {
        tool_entries: None,
        events: None,
        registry: None,
        backend,
        session: warmline::app::session_config(&Config::default()),
        call: warmline::call::CallConfig::default(),
        ingress: "twilio",
        drain: warmline::drain::Drain::default(),
        identity: call.clone(),
        tools: Some(shared),
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
            driver.run(&mut leg).await
        })
    });
    let (config, mut commands, events): (
        SessionConfig,
        mpsc::Receiver<ModelCommand>,
        mpsc::Sender<ModelLink>,
    ) = open_rx.recv().await.expect("the session opens");
    events
        .send(ModelLink::Event(ModelEvent::Ready))
        .await
        .expect("call listens");
    leg_tx.send(LegEvent::Started).await.expect("call listens");
    events
        .send(ModelLink::Event(ModelEvent::FunctionCall {
            call_id: "fc_mcp".into(),
            name: name.into(),
            arguments: arguments.to_string(),
        }))
        .await
        .expect("call listens");
    let output = loop {
        match tokio::time::timeout(Duration::from_secs(10), commands.recv()).await {
            Ok(Some(ModelCommand::FunctionOutput { call_id, output })) => {
                assert_eq!(call_id, "fc_mcp");
                break output;
            }
            Ok(Some(_)) => continue,
            other => panic!("no function output: {other:?}"),
        }
    };
    drop(leg_tx);
    tokio::task::spawn_blocking(move || worker.join().expect("the call ends"))
        .await
        .expect("joined");
    ModelSaw {
        tools: names(&config.tools),
        output: serde_json::from_str(&output).expect("JSON output"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_calls_an_mcp_tool_and_the_servers_answer_reaches_it_as_function_output() {
    let server = start_server(0).await;
    let sidecar = sidecar(server.port);
    offered(&sidecar, "shop__lookup_order", Duration::from_secs(20)).await;
    let call = identity();
    let saw = model_calls(
        &sidecar,
        &call,
        "shop__lookup_order",
        json!({"order": "A17"}),
    )
    .await;
    // The session offered the server's tools beside the built-ins.
    for name in [
        "end_call",
        "escalate_to_human",
        "shop__lookup_order",
        "shop__refund",
    ] {
        assert!(
            saw.tools.iter().any(|n| n == name),
            "{name}: {:?}",
            saw.tools
        );
    }
    // The server's structured answer, as is; it saw the call's id in _meta
    // (and the token in headers_env, or it would have refused with 401).
    assert_eq!(
        saw.output,
        json!({"order": "A17", "status": "shipped", "call_id": call.id})
    );
    let spec = sidecar
        .specs()
        .into_iter()
        .find(|s| s.name == "shop__lookup_order")
        .expect("listed");
    assert_eq!(spec.parameters["properties"]["order"]["type"], "string");
    assert!(
        spec.description.contains("Look up an order"),
        "{}",
        spec.description
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_tool_error_reaches_the_model_as_an_error_object_and_is_counted() {
    // The only test of this binary that installs the recorder.
    let metrics = warmline::metrics::install().expect("the recorder");
    let server = start_server(0).await;
    let sidecar = sidecar(server.port);
    offered(&sidecar, "shop__refund", Duration::from_secs(20)).await;
    let saw = model_calls(
        &sidecar,
        &identity(),
        "shop__refund",
        json!({"order": "A17"}),
    )
    .await;
    assert_eq!(saw.output["error"]["kind"], "tool_error", "{}", saw.output);
    let message = saw.output["error"]["message"].as_str().expect("words");
    assert!(message.contains("shop__refund"), "{message}");
    assert!(message.contains("need a manager's approval"), "{message}");
    // Arguments the server's schema refuses are words too.
    let bad = run(&sidecar, "shop__lookup_order", json!({"order": 17})).await;
    assert!(bad.get("error").is_some(), "{bad}");
    let rendered = metrics.render();
    for series in [
        r#"warmline_tool_calls_total{tool="shop__refund",outcome="tool_error"}"#,
        r#"warmline_tool_duration_seconds_count{tool="shop__refund",outcome="tool_error"}"#,
    ] {
        assert!(rendered.contains(series), "{series} missing:\n{rendered}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_list_refreshes_when_the_server_says_it_changed() {
    let server = start_server(0).await;
    let sidecar = sidecar(server.port);
    offered(&sidecar, "shop__open_returns", Duration::from_secs(20)).await;
    assert!(!names(&sidecar.specs()).contains(&"shop__book_return".to_owned()));
    // A tool call that adds a tool; the server then sends
    // notifications/tools/list_changed.
    let opened = run(&sidecar, "shop__open_returns", json!({})).await;
    assert_eq!(opened, json!({"result": "The returns desk is open."}));
    offered(&sidecar, "shop__book_return", Duration::from_secs(5)).await;
    // The next call's session offers it, and the model can use it.
    let saw = model_calls(
        &sidecar,
        &identity(),
        "shop__book_return",
        json!({"order": "A17"}),
    )
    .await;
    assert!(
        saw.tools.contains(&"shop__book_return".to_owned()),
        "{:?}",
        saw.tools
    );
    assert_eq!(saw.output, json!({"order": "A17", "return": "booked"}));
    // Selecting by entry: the mcp entry selects all of its server's tools.
    let shop = names(&sidecar.specs_of(&["shop"]));
    assert!(shop.iter().all(|n| n.starts_with("shop__")), "{shop:?}");
    assert!(shop.contains(&"shop__book_return".to_owned()), "{shop:?}");
    assert_eq!(names(&sidecar.specs_of(&["end_call"])), ["end_call"]);
    let through_the_seam = sidecar.current_specs_of(&["shop"]).expect("current specs");
    assert_eq!(names(&through_the_seam), shop);
    assert_eq!(
        sidecar.entry_of("shop__book_return").as_deref(),
        Some("shop")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_at_start_up_is_picked_up_when_it_comes_up() {
    let port = free_port();
    let sidecar = sidecar(port);
    // Nothing listens: the sidecar starts anyway, offering only the rest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        names(&sidecar.specs()),
        [
            "end_call",
            "escalate_to_human",
            "send_dtmf",
            "take_callback"
        ]
    );
    let early = run(&sidecar, "shop__lookup_order", json!({"order": "A17"})).await;
    assert_eq!(early["error"]["kind"], "unknown_tool", "{early}");
    let server = start_server(port).await;
    assert_eq!(server.port, port);
    offered(&sidecar, "shop__lookup_order", Duration::from_secs(40)).await;
    let answer = run(&sidecar, "shop__lookup_order", json!({"order": "B2"})).await;
    assert_eq!(answer["status"], "shipped", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_restarts_is_called_again_once_it_is_back() {
    let server = start_server(0).await;
    let port = server.port;
    let sidecar = sidecar(port);
    offered(&sidecar, "shop__lookup_order", Duration::from_secs(20)).await;
    drop(server);
    // While it is away its tools stay offered, and a call says so in words.
    let away = run(&sidecar, "shop__lookup_order", json!({"order": "A17"})).await;
    assert_eq!(away["error"]["kind"], "unreachable", "{away}");
    assert!(names(&sidecar.specs()).contains(&"shop__lookup_order".to_owned()));
    let _server = start_server(port).await;
    let started = Instant::now();
    loop {
        let answer = run(&sidecar, "shop__lookup_order", json!({"order": "A17"})).await;
        if answer["status"] == "shipped" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "still failing: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
