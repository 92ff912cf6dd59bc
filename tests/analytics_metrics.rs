//! `/metrics` agrees with the store (issue 17, decision 0036): the real
//! binary, three agents routed by called number (two offline demo agents,
//! one OpenAI agent whose model is a port nothing listens on), and nine
//! simulated Twilio calls that end each way a call can end without a rep:
//! the agent ends them (`9`), the caller asks for a person nobody takes
//! (`0` then `9`), the caller hangs up at once, the model never answers.
//! Once every call is stored, each `warmline_store_calls_total{outcome}`,
//! `warmline_store_agent_calls_total{agent}` and
//! `warmline_calls_started_total{ingress="twilio"}` equals what
//! `GET /api/v1/analytics` reads from the database (by agent, trunk,
//! number and version), and the outcomes are the ones the calls were
//! scripted to have.

mod support {
    pub mod server;
    pub mod twilio_sim;
}

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::Value;
use support::server::AUTH;
use support::twilio_sim::{connect_stream, metric, signed_webhook_to, stream_of, SimCall};

const ADMIN: &str = "analytics-metrics-admin";
const FRONT: &str = "+15559870000";
const BACK: &str = "+15550100200";
const BROKEN: &str = "+15550100300";

/// How a scripted call goes.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Waits out the greeting, presses 9: the agent says goodbye and
    /// ends the call.
    AgentEnds,
    /// Presses 0 (escalate_to_human, no reps), then 9.
    AsksForAPerson,
    /// Hangs up before the agent is heard.
    HangsUpAtOnce,
    /// Waits until the server ends the call (the model is unreachable).
    WaitsForTheEnd,
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0xFF; ms * 8]
}

async fn hang_up(call: &mut SimCall, sid: &str) {
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

async fn run_call(addr: String, sid: String, to: &'static str, plan: Plan) {
    let answer = signed_webhook_to(&addr, AUTH, &sid, to);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, &sid, &token).await;
    match plan {
        Plan::HangsUpAtOnce => {
            hang_up(&mut call, &sid).await;
            return;
        }
        Plan::WaitsForTheEnd => {
            let until = tokio::time::Instant::now() + Duration::from_secs(40);
            while !call.observed.closed_by_server && tokio::time::Instant::now() < until {
                call.stream(&silence(200)).await;
            }
            assert!(call.observed.closed_by_server, "{sid} never ended");
            return;
        }
        Plan::AgentEnds | Plan::AsksForAPerson => {}
    }
    call.stream(&silence(2_000)).await;
    if matches!(plan, Plan::AsksForAPerson) {
        call.dtmf('0').await;
        call.stream(&silence(2_500)).await;
    }
    call.dtmf('9').await;
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    while !call.observed.closed_by_server && tokio::time::Instant::now() < until {
        call.stream(&silence(200)).await;
    }
    assert!(
        call.observed.closed_by_server,
        "{sid}: the agent never ended the call"
    );
}

async fn get_json(addr: &str, path: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(answer.status().as_u16(), 200, "{path}");
    answer.json().await.expect("JSON")
}

/// `(key, calls)` of each group.
fn groups(answer: &Value) -> Vec<(String, i64)> {
    answer["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or("(none)").to_owned(),
                g["calls"].as_i64().expect("calls"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_agree_with_the_stores_analytics_after_real_calls() {
    warmline::tls::install_crypto_provider();
    let dir =
        std::env::temp_dir().join(format!("warmline-analytics-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("warmline.toml");
    std::fs::write(
        &config,
        format!(
            r#"[call]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[agents]]
id = "front"
instructions = "You answer the front desk."
backend = "demo"
tools = ["escalate_to_human"]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[agents]]
id = "back"
instructions = "You answer the back office."
backend = "demo"
tools = ["escalate_to_human"]
silence_reprompt_secs = 0
silence_hangup_secs = 0

[[agents]]
id = "broken"
instructions = "You never get to answer."
backend = "openai"

[[routes]]
agent = "front"
number = "{FRONT}"

[[routes]]
agent = "back"
number = "{BACK}"

[[routes]]
agent = "broken"
number = "{BROKEN}"
"#
        ),
    )
    .expect("config");
    // A model URL nothing listens on.
    let dead = format!(
        "ws://127.0.0.1:{}/v1/realtime",
        support::server::free_port()
    );
    let data_dir = dir.join("data").to_string_lossy().into_owned();
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
            ("WARMLINE_MODEL__OPENAI_URL", Some(&dead)),
            ("WARMLINE_STORE__DATA_DIR", Some(&data_dir)),
        ],
        std::env::var_os("WT_ECHO").is_some(),
    );
    let addr = server.addr.clone();

    let script = [
        (FRONT, Plan::AgentEnds, "contained"),
        (FRONT, Plan::AgentEnds, "contained"),
        (FRONT, Plan::AsksForAPerson, "escalated"),
        (FRONT, Plan::HangsUpAtOnce, "abandoned"),
        (BACK, Plan::AgentEnds, "contained"),
        (BACK, Plan::AsksForAPerson, "escalated"),
        (BACK, Plan::AsksForAPerson, "escalated"),
        (BACK, Plan::HangsUpAtOnce, "abandoned"),
        (BROKEN, Plan::WaitsForTheEnd, "failed"),
    ];
    let mut calls = tokio::task::JoinSet::new();
    for (i, (to, plan, _)) in script.iter().enumerate() {
        calls.spawn(run_call(addr.clone(), format!("CA_metrics_{i}"), to, *plan));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    while let Some(done) = calls.join_next().await {
        done.expect("a call ran");
    }

    // Every call stored (the writer is off the call path).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let by_agent = loop {
        let answer = get_json(&addr, "/api/v1/analytics?by=agent").await;
        if answer["total"]["calls"] == script.len() {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all stored: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let metrics = support::twilio_sim::http_get(&addr, "/metrics").body;
    let counter = |series: &str| metric(&metrics, series).unwrap_or(-1.0) as i64;

    // By outcome: the counters, the store, and the script agree.
    let total = &by_agent["total"];
    for outcome in [
        "contained",
        "escalated",
        "transferred",
        "abandoned",
        "failed",
    ] {
        let stored = total["outcomes"][outcome].as_i64().expect("a count");
        let counted = counter(&format!(
            "warmline_store_calls_total{{outcome=\"{outcome}\"}}"
        ));
        let scripted = script.iter().filter(|(.., o)| *o == outcome).count() as i64;
        assert_eq!(
            (counted, stored),
            (scripted, scripted),
            "{outcome}: /metrics {counted}, store {stored}, script {scripted}"
        );
    }
    // By agent.
    for (agent, calls) in groups(&by_agent) {
        let counted = counter(&format!(
            "warmline_store_agent_calls_total{{agent=\"{agent}\"}}"
        ));
        assert_eq!(counted, calls, "{agent}");
    }
    let agents: Vec<String> = groups(&by_agent).into_iter().map(|(k, _)| k).collect();
    // Four calls each (ties go by key), then one.
    assert_eq!(agents, ["back", "front", "broken"]);
    // Calls started on the Twilio ingress: all of them, on the trunk
    // `twilio`, to the numbers called.
    let started = counter("warmline_calls_started_total{ingress=\"twilio\"}");
    assert_eq!(started, script.len() as i64);
    let by_trunk = get_json(&addr, "/api/v1/analytics?by=trunk").await;
    assert_eq!(groups(&by_trunk), [("twilio".to_owned(), started)]);
    let by_number = get_json(&addr, "/api/v1/analytics?by=number").await;
    assert_eq!(
        groups(&by_number),
        [
            (BACK.to_owned(), 4),
            (FRONT.to_owned(), 4),
            (BROKEN.to_owned(), 1)
        ]
    );
    assert_eq!(counter("warmline_calls_active{ingress=\"twilio\"}"), 0);
    // Each agent's calls ran one version, recorded with the call.
    let by_version = get_json(&addr, "/api/v1/analytics?by=version").await;
    let versions: Vec<(String, String)> = by_version["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["agent"].as_str().unwrap_or_default().to_owned(),
                g["key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(versions.len(), 3, "{by_version}");
    for (agent, hash) in &versions {
        assert!(hash.starts_with("sha256:"), "{agent}: {hash}");
    }
    // The demo agents' tool calls were measured.
    assert!(
        total["tool_latency_ms"]["count"].as_i64().unwrap_or(0) >= 8,
        "{total}"
    );
    println!(
        "metrics agree with the store over {} calls: {}; tool latency {}",
        script.len(),
        total["outcomes"],
        total["tool_latency_ms"]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
