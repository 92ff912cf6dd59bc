//! No secret in any log line: the real binary runs with every secret set
//! to a distinctive value — `TWILIO_AUTH_TOKEN`, `OPENAI_API_KEY`,
//! `WARMLINE_ADMIN_TOKEN`, `WARMLINE_TOOLS_SECRET`, a tool's `headers_env`
//! value and a SIP trunk's digest password — at `RUST_LOG=trace` (every
//! crate, every level), takes a simulated Twilio call and a SIPp call that
//! authenticates with digest, each running the agent's start-up lookup (a
//! signed webhook with the secret header) against the fake Realtime
//! server, and answers admin API requests, including a supervisor's login,
//! a request with the session token and its log-out (decision 0038). Then
//! every byte of its stdout and stderr is searched for each secret, the
//! session token included (and their base64, as HTTP Basic or a token
//! echoed in JSON would carry it); the audit lines name the supervisor.

mod support {
    pub mod fake_realtime;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::fake_realtime::{start, FakeConfig};
use support::twilio_sim::{connect_stream, post_form, stream_of, webhook_params, SimCall};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TWILIO_TOKEN: &str = "twilio-secret-5f1d2c7a9e";
const OPENAI_KEY: &str = "sk-secret-openai-8b3e61d04c";
const ADMIN_TOKEN: &str = "admin-secret-77c0e9a1b2";
const TOOLS_SECRET: &str = "whsec_secret_tools_4a9d0f";
const CRM_TOKEN: &str = "crm-header-secret-c3d2e1";
const SIP_PASSWORD: &str = "sip-digest-secret-91ab";

/// A webhook endpoint answering every request with a CRM record; keeps
/// what it saw.
async fn hooks() -> (String, Arc<Mutex<Vec<String>>>) {
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
                let answer = r#"{"name":"Ada Lovelace"}"#;
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

fn config_text(hooks: &str) -> String {
    format!(
        r#"
[[sip.trunks]]
name = "carrier"
allow = ["127.0.0.0/8"]
digest_username = "carrier"
digest_password_env = "LOG_SECRETS_SIP_PASSWORD"
digest_algorithms = ["MD5"]

[[tools]]
name = "crm"
description = "Who is calling."
kind = "webhook"
url = "{hooks}/crm"
headers_env = {{ Authorization = "LOG_SECRETS_CRM_TOKEN" }}

[[agents]]
id = "front"
instructions = "You answer the phone."
lookup = "crm"

[[routes]]
agent = "front"
"#
    )
}

/// The secrets and the forms they could leak in.
fn forms() -> Vec<(&'static str, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = Vec::new();
    for (name, value) in [
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("OPENAI_API_KEY", OPENAI_KEY),
        ("WARMLINE_ADMIN_TOKEN", ADMIN_TOKEN),
        ("WARMLINE_TOOLS_SECRET", TOOLS_SECRET),
        ("headers_env value", CRM_TOKEN),
        ("SIP digest password", SIP_PASSWORD),
    ] {
        out.push((name, value.to_owned()));
        out.push((name, b64(value)));
        out.push((name, b64(&format!("carrier:{value}"))));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_level_run_with_every_secret_set_logs_none_of_them() {
    let (hooks_url, seen) = hooks().await;
    let (model_url, record) = start(FakeConfig {
        audio: vec![0xFF; 1_600],
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(20),
        record_events: true,
        server_vad: false,
    })
    .await;
    let dir = std::env::temp_dir().join(format!("warmline-log-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("warmline.toml");
    std::fs::write(&config, config_text(&hooks_url)).expect("config");
    let (out_path, err_path) = (dir.join("stdout.log"), dir.join("stderr.log"));

    let http = format!("127.0.0.1:{}", support::server::free_port());
    let sip = format!("127.0.0.1:{}", support::server::free_port());
    let rtp_min = 30_000 + (std::process::id() % 500) as u16 * 20;
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmline"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WARMLINE_CONFIG", &config)
        .env("RUST_LOG", "trace")
        .env("WARMLINE_SERVER__HTTP_LISTEN", &http)
        .env("WARMLINE_TWILIO__PUBLIC_BASE_URL", format!("http://{http}"))
        .env("WARMLINE_SIP__ENABLED", "true")
        .env("WARMLINE_SIP__LISTEN", &sip)
        .env("WARMLINE_SIP__RTP_PORT_MIN", rtp_min.to_string())
        .env("WARMLINE_SIP__RTP_PORT_MAX", (rtp_min + 18).to_string())
        .env("WARMLINE_SIP__RTP_SEND_REALTIME", "false")
        .env("WARMLINE_MODEL__BACKEND", "openai")
        .env("WARMLINE_MODEL__OPENAI_URL", &model_url)
        .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("WARMLINE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("WARMLINE_TOOLS_SECRET", TOOLS_SECRET)
        .env("LOG_SECRETS_CRM_TOKEN", CRM_TOKEN)
        .env("LOG_SECRETS_SIP_PASSWORD", SIP_PASSWORD)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn warmline");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&http).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A Twilio call: signed webhook, signed stream, a second of audio.
    let params = webhook_params("CA_log_secrets");
    let signature = warmline::ingress::twilio::signature::compute(
        TWILIO_TOKEN,
        &format!("http://{http}/twilio/voice"),
        &params,
    );
    let answer = post_form(&http, "/twilio/voice", &params, Some(&signature));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, TWILIO_TOKEN, None)
        .await
        .expect("upgrade");
    let mut call = SimCall::start(ws, "CA_log_secrets", &token).await;
    call.stream(&[0xFF; 160 * 50]).await;
    drop(call);

    // A SIP call that authenticates with the trunk's digest password.
    let target = sip.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        support::sipp::run(
            "digest_auth_args",
            &target,
            &[
                "-m",
                "1",
                "-timeout",
                "20",
                "-au",
                "carrier",
                "-ap",
                SIP_PASSWORD,
            ],
        )
    })
    .await
    .expect("sipp");
    assert!(outcome.passed(), "{outcome:?}");

    // The admin API, with the right token and a wrong one.
    warmline::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("http://{http}/api/v1/calls"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("api");
    assert_eq!(ok.status(), 200);
    let refused = client
        .get(format!("http://{http}/api/v1/calls"))
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .send()
        .await
        .expect("api");
    assert_eq!(refused.status(), 401);
    // A supervisor's session: made, used, ended; audited by name.
    let login: serde_json::Value = client
        .post(format!("http://{http}/api/v1/sessions"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "Log Checker"}))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("JSON");
    let session = login["token"].as_str().expect("a session token").to_owned();
    let used = client
        .get(format!("http://{http}/api/v1/calls"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("api");
    assert_eq!(used.status(), 200);
    let ended = client
        .delete(format!("http://{http}/api/v1/sessions/current"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("api");
    assert_eq!(ended.status(), 200);

    // The lookups ran, with the secret header, and the model was used.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lookups = seen.lock().expect("seen").clone();
    assert!(
        lookups.len() >= 2 && lookups.iter().all(|l| l.contains(CRM_TOKEN)),
        "both calls' lookups carried the headers_env value: {lookups:?}"
    );
    assert!(record.lock().expect("record").connections.len() >= 2);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > stopped {
            let _ = child.kill();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut logs = String::new();
    for path in [&out_path, &err_path] {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .expect("log")
            .read_to_end(&mut bytes)
            .expect("read");
        logs.push_str(&String::from_utf8_lossy(&bytes));
    }
    let lines = logs.lines().count();
    assert!(
        lines > 500 && logs.contains("TRACE"),
        "a trace-level run logs a lot: {lines} lines"
    );
    println!("{lines} log lines searched");
    let audited = logs
        .lines()
        .filter(|l| l.contains("supervisor action") && l.contains("Log Checker"))
        .count();
    assert_eq!(audited, 2, "the login and the log-out are logged by name");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let session_forms = [
        ("a session token", session.clone()),
        ("a session token", session[4..].to_owned()),
        ("a session token", b64(&session)),
    ];
    for (name, form) in forms().into_iter().chain(session_forms) {
        if let Some(at) = logs.find(&form) {
            let line = logs[..at].rsplit('\n').next().unwrap_or_default();
            let end = logs[at..].find('\n').map_or(logs.len(), |e| at + e);
            panic!("{name} leaked into the log: {line}{}", &logs[at..end]);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
