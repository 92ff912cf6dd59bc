//! Agents per number (decision 0020), end to end with the real binary:
//! two agents with different instructions, voices and tools, routed by
//! called number. A simulated Twilio call to A's number opens a model
//! session (the fake Realtime server) whose first `session.update` carries
//! A's instructions (the caller's number and the local time in A's zone
//! filled in), voice and tools, and A's start-up lookup (a signed webhook)
//! reaches the model before the greeting is asked for. A SIPp call to B's
//! number (in the Request-URI) gets B's. An unrouted number is refused: a
//! spoken apology on Twilio, 404 on SIP. `warmline check` lists the routes
//! and names the entry of each mistake.

mod support {
    pub mod fake_realtime;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::fake_realtime::{start, FakeConfig, Record};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, stream_of, SimCall};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
const NUMBER_A: &str = "+15559870000";
const NUMBER_B: &str = "+15550100200";
const CALLER: &str = "+15551230000";
const ZONE_A: &str = "Asia/Tokyo";

fn config_text(hooks: &str) -> String {
    format!(
        r#"
[[tools]]
name = "lookup_order"
description = "Look up an order by its number."
kind = "webhook"
url = "{hooks}/orders"

[[tools]]
name = "crm"
description = "Who is calling."
kind = "webhook"
url = "{hooks}/crm"

[[agents]]
id = "billing"
instructions = "You are the billing agent. The caller is {{caller}}; it is {{local_time}} for them."
voice = "cedar"
timezone = "{ZONE_A}"
tools = ["lookup_order"]
lookup = "crm"

[[agents]]
id = "support"
instructions = "You are the support agent of line {{called}}."
voice = "sage"
tools = ["escalate_to_human"]

[[routes]]
agent = "billing"
number = "{NUMBER_A}"

[[routes]]
agent = "support"
number = "{NUMBER_B}"
"#
    )
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warmline-agents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write config");
    file
}

/// A webhook endpoint answering every POST with a CRM record; keeps the
/// request heads and bodies it saw.
async fn crm_hooks() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tcp.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            kept.lock().expect("seen").push(text.clone());
                            break;
                        }
                    }
                }
                let answer = r#"{"name":"Ada Lovelace","tier":"gold"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

async fn fake_model() -> (String, Arc<Mutex<Record>>) {
    start(FakeConfig {
        audio: vec![0xFF; 1_600],
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(20),
        record_events: true,
        server_vad: false,
    })
    .await
}

fn session_update(record: &Arc<Mutex<Record>>) -> Value {
    let connections = record.lock().expect("record").connections.clone();
    let first = connections.first().expect("a model session opened");
    let update = first.first().expect("an event").clone();
    assert_eq!(update["type"], "session.update", "{update}");
    update
}

fn tool_names(update: &Value) -> Vec<String> {
    update["session"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn local_times(zone: &str) -> [String; 2] {
    // Either side of a minute boundary the call may cross.
    let zone = jiff::tz::TimeZone::get(zone).expect("zone");
    let now = jiff::Timestamp::now();
    [now - jiff::SignedDuration::from_secs(60), now].map(|t| warmline::agents::local_time(t, &zone))
}

fn twilio_webhook(addr: &str, call_sid: &str, to: &str) -> support::twilio_sim::HttpResponse {
    support::twilio_sim::signed_webhook_to(addr, AUTH, call_sid, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_call_to_number_a_gets_agent_a_and_its_lookup_before_the_greeting() {
    let (hooks, seen) = crm_hooks().await;
    let (model_url, record) = fake_model().await;
    let file = write_config("twilio.toml", &config_text(&hooks));
    let server = support::server::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(file.to_str().expect("utf-8 path"))),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
            ("WARMLINE_TOOLS_SECRET", Some("whsec_agents")),
            ("RUST_LOG", Some("info")),
        ],
        false,
    );
    let addr = server.addr.clone();
    let before = local_times(ZONE_A);
    let answer = twilio_webhook(&addr, "CA_agent_a", NUMBER_A);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_agent_a", &token).await;
    call.stream(&[0xFF; 160 * 75]).await;

    let update = session_update(&record);
    let instructions = update["session"]["instructions"].as_str().expect("text");
    let after = local_times(ZONE_A);
    assert!(
        instructions.starts_with(&format!(
            "You are the billing agent. The caller is {CALLER}; it is "
        )),
        "{instructions}"
    );
    assert!(
        before
            .iter()
            .chain(&after)
            .any(|t| instructions.contains(t.as_str())),
        "{instructions} holds none of {before:?} {after:?} ({ZONE_A})"
    );
    assert_eq!(update["session"]["audio"]["output"]["voice"], "cedar");
    assert_eq!(tool_names(&update), ["end_call", "lookup_order"]);

    // The lookup: signed, for this agent's call, and in the conversation
    // before the greeting's response.create.
    let requests = seen.lock().expect("seen").clone();
    let lookup = requests
        .iter()
        .find(|r| r.starts_with("POST /crm "))
        .expect("the start-up lookup was called");
    assert!(
        lookup
            .to_ascii_lowercase()
            .contains("x-warmline-signature:"),
        "{lookup}"
    );
    assert!(lookup.contains(r#""agent":"billing""#), "{lookup}");
    let events = record.lock().expect("record").connections[0].clone();
    let context = events
        .iter()
        .position(|e| {
            e["type"] == "conversation.item.create"
                && e["item"]["role"] == "system"
                && e.to_string().contains("Ada Lovelace")
        })
        .expect("the lookup result reached the model");
    let greeting = events
        .iter()
        .position(|e| e["type"] == "response.create")
        .expect("the greeting was asked for");
    assert!(
        context < greeting,
        "context at {context}, greeting at {greeting}"
    );

    // The call's log lines carry the agent, and it is counted by agent.
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("agent=\"billing\"")),
        "no log line of the call names its agent"
    );
    let metrics = support::twilio_sim::http_get(&addr, "/metrics").body;
    assert_eq!(
        support::twilio_sim::metric(&metrics, "warmline_agent_calls_total{agent=\"billing\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        support::twilio_sim::metric(&metrics, "warmline_agent_calls_total{agent=\"support\"}"),
        Some(0.0),
        "{metrics}"
    );

    // An unrouted number (no default agent): a spoken apology, then hang up.
    let refused = twilio_webhook(&addr, "CA_unrouted", "+19990000000");
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("<Say>") && refused.body.contains("<Hangup />"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("<Stream"), "{}", refused.body);
    assert_eq!(
        record.lock().expect("record").connections.len(),
        1,
        "no model session for a refused call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_to_number_b_gets_agent_b_and_an_unrouted_number_gets_404() {
    let (hooks, _seen) = crm_hooks().await;
    let (model_url, record) = fake_model().await;
    let file = write_config("sip.toml", &config_text(&hooks));
    let server = support::sipp::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(file.to_str().expect("utf-8 path"))),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
            ("WARMLINE_TOOLS_SECRET", Some("whsec_agents")),
        ],
    );
    let sip = server.sip.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        support::sipp::run(
            "call_agent_b",
            &sip,
            &["-m", "1", "-d", "1500", "-timeout", "30"],
        )
    })
    .await
    .expect("sipp");
    assert!(outcome.passed(), "{outcome:?}");
    let update = session_update(&record);
    assert_eq!(
        update["session"]["instructions"],
        format!("You are the support agent of line {NUMBER_B}."),
        "the Request-URI user picks the agent (To names another number)"
    );
    assert_eq!(update["session"]["audio"]["output"]["voice"], "sage");
    assert_eq!(tool_names(&update), ["end_call", "escalate_to_human"]);

    let sip = server.sip.clone();
    let refused = tokio::task::spawn_blocking(move || {
        support::sipp::run("unrouted_404", &sip, &["-m", "1", "-timeout", "15"])
    })
    .await
    .expect("sipp");
    assert!(refused.passed(), "{refused:?}");
    assert_eq!(
        record.lock().expect("record").connections.len(),
        1,
        "no model session for a refused call"
    );
}

fn check(file: &std::path::Path) -> std::process::Output {
    Command::new(BINARY)
        .args(["check", "--config"])
        .arg(file)
        .env("WARMLINE_TOOLS_SECRET", "whsec_agents")
        .env_remove("WARMLINE_CONFIG")
        .output()
        .expect("run check")
}

#[test]
fn check_lists_each_route_with_its_agent_and_rejects_three_mistakes_naming_the_entry() {
    let text = config_text("https://hooks.example.com");
    let ok = check(&write_config("check.toml", &text));
    assert!(ok.status.success(), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains(&format!("route number {NUMBER_A} -> agent billing")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("route number {NUMBER_B} -> agent support")),
        "{stdout}"
    );
    assert!(
        stdout.contains("route default -> none: unrouted calls are refused"),
        "{stdout}"
    );

    let mistakes = [
        (
            "unknown_agent.toml",
            text.replace("agent = \"support\"", "agent = \"suport\""),
            ["routes[1]", "\"suport\""],
        ),
        (
            "unknown_tool.toml",
            text.replace("tools = [\"lookup_order\"]", "tools = [\"lookup_ordr\"]"),
            ["agent \"billing\"", "\"lookup_ordr\""],
        ),
        (
            "same_number.toml",
            format!("{text}\n[[routes]]\nagent = \"support\"\nnumber = \"+1 555 987 0000\"\n"),
            ["routes[0] and routes[2]", NUMBER_A],
        ),
    ];
    for (name, text, needles) in mistakes {
        let out = check(&write_config(name, &text));
        assert!(!out.status.success(), "{name} passed check");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_unchanged_answers_every_number_with_the_model_section() {
    let (model_url, record) = fake_model().await;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/warmline.example.toml");
    let server = support::server::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(example)),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        false,
    );
    let addr = server.addr.clone();
    let answer = twilio_webhook(&addr, "CA_example", "+19990000000");
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_example", &token).await;
    call.stream(&[0xFF; 160 * 25]).await;
    let update = session_update(&record);
    assert_eq!(
        update["session"]["instructions"],
        "You are a helpful phone agent. Be brief."
    );
    assert_eq!(update["session"]["audio"]["output"]["voice"], "marin");
    assert_eq!(
        tool_names(&update),
        [
            "end_call",
            "escalate_to_human",
            "send_dtmf",
            "take_callback"
        ]
    );
    let metrics = support::twilio_sim::http_get(&addr, "/metrics").body;
    assert_eq!(
        support::twilio_sim::metric(&metrics, "warmline_agent_calls_total{agent=\"default\"}"),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_max_duration_the_agent_says_goodbye_and_the_call_ends() {
    let (model_url, record) = fake_model().await;
    let file = write_config(
        "limit.toml",
        "[[agents]]\nid = \"brief\"\ninstructions = \"Be brief.\"\ngreeting = \"\"\n\
         max_duration_secs = 2\ndefault = true\n",
    );
    let server = support::server::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(file.to_str().expect("utf-8 path"))),
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        false,
    );
    let answer = twilio_webhook(&server.addr, "CA_limit", NUMBER_A);
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let started = std::time::Instant::now();
    let mut call = SimCall::start(ws, "CA_limit", &token).await;
    while !call.observed.closed_by_server && started.elapsed() < Duration::from_secs(10) {
        call.stream(&[0xFF; 160 * 5]).await;
    }
    let ended = started.elapsed();
    assert!(call.observed.closed_by_server, "the call did not end");
    assert!(
        ended >= Duration::from_secs(2) && ended < Duration::from_secs(6),
        "ended after {ended:?}"
    );
    let events = record.lock().expect("record").connections[0].clone();
    let creates: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.create")
        .collect();
    assert_eq!(
        creates.len(),
        1,
        "greeting = \"\": only the goodbye: {creates:?}"
    );
    assert_eq!(
        creates[0]["response"]["instructions"],
        warmline::call::TIME_LIMIT_GOODBYE
    );
    assert!(call.observed.media_frames > 0, "the goodbye was heard");
}
