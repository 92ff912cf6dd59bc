//! `transfer_call` end to end (issue 15, decision 0033): the real
//! `warmline` binary, a scripted Realtime model whose first response calls
//! `transfer_call`, and the caller's side:
//! - Twilio: the simulated Media Streams caller, and a fake Twilio REST
//!   server that records the call update; the request is checked against
//!   what the `twilio` package's own client sends for the same update
//!   (tests/oracles/twilio_call_update.py);
//! - SIP: a SIPp trunk that receives the REFER, and either reports the
//!   transferee's 200 in a NOTIFY (warmline then hangs up with BYE) or
//!   refuses REFER with 405 (the call stays with the agent).

mod support {
    pub mod fake_tool_model;
    pub mod oracle;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_tool_model::{self, first_output};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const CALL_SID: &str = "CA89abcdef0123456789abcdef01234567";
const ADMIN: &str = "transfer-test-admin";

/// `[[transfer_targets]]` for every test: no `[[agents]]`, so the `[model]`
/// agent may use both.
const TARGETS: &str = "[[transfer_targets]]\nname = \"billing\"\nnumber = \"+14155550100\"\n\n\
                       [[transfer_targets]]\nname = \"desk\"\nuri = \"sip:desk@pbx.example.com\"\n";

fn config_file(tag: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "warmline-transfer-{tag}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, TARGETS).expect("config");
    path.to_string_lossy().into_owned()
}

/// One HTTP request as the fake Twilio received it.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded form fields.
    fn form(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("http://form.invalid/?{}", self.body))
            .expect("a form body");
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// A fake Twilio REST API: answers every request 200 with a call resource
/// and keeps it.
async fn fake_twilio() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut socket).await else {
                    return;
                };
                let body =
                    json!({"sid": CALL_SID, "account_sid": ACCOUNT_SID, "status": "in-progress"})
                        .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
                if let Ok(mut seen) = kept.lock() {
                    seen.push(request);
                }
            });
        }
    });
    (base, seen)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn model_env(url: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("WARMLINE_MODEL__OPENAI_URL", Some(url.to_owned())),
        ("WARMLINE_MODEL__BACKEND", Some("openai".into())),
        ("OPENAI_API_KEY", Some("sk-test-fake".into())),
    ]
}

fn as_env<'a>(env: &'a [(&'static str, Option<String>)]) -> Vec<(&'static str, Option<&'a str>)> {
    env.iter().map(|(k, v)| (*k, v.as_deref())).collect()
}

fn output_json(output: Option<(String, String)>) -> Value {
    let (_, text) = output.expect("the tool answered the model");
    serde_json::from_str(&text).expect("the output is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_call_on_twilio_updates_the_call_with_dial_twiml() {
    let (base, received) = fake_twilio().await;
    let (url, seen) = fake_tool_model::start("transfer_call", json!({"target": "billing"})).await;
    let config = config_file("twilio");
    let mut env = model_env(&url);
    env.extend([
        ("WARMLINE_CONFIG", Some(config.clone())),
        ("TWILIO_ACCOUNT_SID", Some(ACCOUNT_SID.to_owned())),
        ("WARMLINE_TWILIO__API_BASE_URL", Some(base.clone())),
        ("WARMLINE_ADMIN_TOKEN", Some(ADMIN.to_owned())),
    ]);
    let server = support::server::start(BINARY, &as_env(&env), false);
    let answer = signed_webhook(&server.addr, AUTH, CALL_SID);
    let (stream, token) = stream_of(&answer.body);
    let ws = connect_stream(&stream, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, CALL_SID, &token).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().map(|s| s.outputs.is_empty()).unwrap_or(true) && Instant::now() < deadline {
        call.stream(&[0xFF; 160]).await;
    }
    let output = output_json(first_output(&seen, Duration::ZERO));
    assert_eq!(output["status"], "transferred", "{output}");
    assert_eq!(output["target"], "billing", "{output}");
    // Twilio runs the new TwiML and stops the stream: the call ended as
    // transferred, not as a caller hanging up.
    use futures_util::SinkExt as _;
    let stop = json!({"event": "stop", "sequenceNumber": "999", "streamSid": call.stream_sid,
                      "stop": {"accountSid": ACCOUNT_SID, "callSid": CALL_SID}});
    call.ws
        .send(tokio_tungstenite::tungstenite::Message::text(
            stop.to_string(),
        ))
        .await
        .expect("send stop");
    let record = ended_call(&server.addr).await;
    assert_eq!(record["outcome"], "transferred", "{record:#}");
    assert_eq!(record["tool_calls"][0]["result"], "ok", "{record:#}");

    let ours = received.lock().expect("lock").first().cloned();
    let ours = ours.expect("warmline called the Twilio REST API");
    assert_eq!(ours.method, "POST");
    assert_eq!(
        ours.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json")
    );
    let form = ours.form();
    let twiml = form
        .iter()
        .find(|(k, _)| k == "Twiml")
        .map(|(_, v)| v.clone())
        .expect("a Twiml field");
    assert!(
        twiml.contains("<Dial><Number>+14155550100</Number></Dial>"),
        "{twiml}"
    );

    // The same update from the twilio package's own client, to the same
    // fake: the same method, path, credentials, body type and fields.
    let base_for_oracle = base.clone();
    let want = tokio::task::spawn_blocking(move || {
        support::oracle::answer(
            "twilio_call_update.py",
            &json!({"base": base_for_oracle, "account_sid": ACCOUNT_SID, "auth_token": AUTH,
                    "call_sid": CALL_SID, "number": "+14155550100"}),
        )
    })
    .await
    .expect("oracle ran");
    let theirs = received.lock().expect("lock").get(1).cloned();
    let theirs = theirs.expect("the twilio package called the fake");
    assert_eq!(want["twiml"].as_str(), Some(twiml.as_str()), "the TwiML");
    assert_eq!(ours.method, theirs.method);
    assert_eq!(ours.path, theirs.path);
    assert_eq!(ours.form(), theirs.form(), "the form fields");
    assert_eq!(
        ours.header("authorization"),
        theirs.header("authorization"),
        "basic auth with the account SID and token"
    );
    assert!(theirs
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
    assert_eq!(
        ours.header("content-type"),
        theirs.header("content-type"),
        "a form body"
    );
    let _ = std::fs::remove_file(&config);
}

/// Runs `scenario` as the SIP trunk of a call whose model calls
/// `transfer_call` for `billing`; returns SIPp's outcome, what the model
/// saw, and the server (still running, for its history API).
async fn sip_transfer(
    scenario: &'static str,
    tag: &str,
) -> (
    support::sipp::SippOutcome,
    Arc<Mutex<fake_tool_model::Seen>>,
    support::sipp::SipServer,
) {
    let (url, seen) = fake_tool_model::start_once_with_audio(
        "transfer_call",
        json!({"target": "billing"}),
        Vec::new(),
    )
    .await;
    let config = config_file(tag);
    let mut env = model_env(&url);
    env.push(("WARMLINE_CONFIG", Some(config.clone())));
    env.push(("WARMLINE_ADMIN_TOKEN", Some(ADMIN.to_owned())));
    let server = support::sipp::start(BINARY, &as_env(&env));
    let sip = server.sip.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        support::sipp::run(scenario, &sip, &["-m", "1", "-timeout", "30"])
    })
    .await
    .expect("sipp ran");
    let _ = std::fs::remove_file(&config);
    (outcome, seen, server)
}

/// The one ended call's record through the history API, once written.
async fn ended_call(addr: &str) -> Value {
    warmline::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("http://{addr}{path}"))
            .bearer_auth(ADMIN);
        async move {
            let answer = request.send().await.expect("the API answers");
            answer.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = get("/api/v1/calls?state=ended".into()).await;
        if let Some(id) = listed["calls"][0]["id"].as_str() {
            return get(format!("/api/v1/calls/{id}")).await;
        }
        assert!(Instant::now() < deadline, "no ended call listed: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_call_on_sip_refers_the_caller_and_hangs_up_after_a_200_notify() {
    let (outcome, _seen, server) = sip_transfer("refer_notify_200", "sip-ok").await;
    // The scenario checked the REFER's Refer-To and Referred-By, answered
    // 202, sent the 200 sipfrag NOTIFY and got its 200, then got and
    // answered warmline's BYE.
    assert!(outcome.passed(), "{outcome:?}");
    let record = ended_call(&server.server.addr).await;
    assert_eq!(record["outcome"], "transferred", "{record:#}");
    let tool = &record["tool_calls"][0];
    assert_eq!(tool["name"], "transfer_call", "{record:#}");
    // The tool's answer (`status: transferred`) reached the record: its
    // outcome is ok, not an error kind such as transfer_failed.
    assert_eq!(tool["result"], "ok", "{record:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_that_refuses_refer_leaves_the_call_with_the_ai() {
    let (outcome, seen, server) = sip_transfer("refer_refused_405", "sip-405").await;
    // The scenario passes only if warmline sent no BYE and answered ours:
    // the call went on after the refusal.
    assert!(outcome.passed(), "{outcome:?}");
    let output = output_json(first_output(&seen, Duration::from_secs(5)));
    assert_eq!(output["error"]["kind"], "transfer_refused", "{output}");
    let message = output["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("405"), "{message}");
    assert!(message.contains("still with you"), "{message}");
    let record = ended_call(&server.server.addr).await;
    assert_ne!(record["outcome"], "transferred", "{record:#}");
}
