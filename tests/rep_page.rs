//! Headless Chromium on the reps' softphone, `/rep` (issue 14): it logs
//! in with the rep's token, goes available from the keyboard, receives a
//! ring pushed by an escalation this test starts, shows the card (caller,
//! transcript, the AI summary and next action, a tool's record), accepts
//! with the keyboard, and the escalation's tool result says `connected`.
//!
//! The browser side is `tests/oracles/rep_page.py` (Selenium, Debian's
//! `chromium` and `chromium-driver` from `scripts/install-deps`). The
//! server is the real `/rep` routes over the real handoff service; the
//! call is a scripted room (the room of legs is wired by the lead, see
//! decision 0028). Screenshots of /rep ringing and in a call are saved
//! under the test's target directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use warmline::call::tools::CallIdentity;
use warmline::config::{AgentAfterBridge, HandoffConfig, RepConfig};
use warmline::handoff::card::{CardLine, CardRecord};
use warmline::handoff::room::{CallSnapshot, RoomControl, RoomError, Rooms};
use warmline::handoff::{
    CallSummary, EscalationConfig, Escalator, Handoff, InProcessDirectory, Presence, RepHub, RepId,
};

const TOKEN: &str = "rep-token-ana-5f1c";

/// A call that has been talking for a while and does what it is told.
struct ScriptedRoom;

fn ok() -> BoxFuture<'static, Result<(), RoomError>> {
    Box::pin(async { Ok(()) })
}

impl RoomControl for ScriptedRoom {
    fn snapshot(&self) -> BoxFuture<'static, Result<CallSnapshot, RoomError>> {
        Box::pin(async {
            Ok(CallSnapshot {
                transcript: vec![
                    CardLine {
                        who: "agent".into(),
                        text: "Thanks for calling Acme, how can I help?".into(),
                    },
                    CardLine {
                        who: "caller".into(),
                        text: "I was charged twice for order 42.".into(),
                    },
                    CardLine {
                        who: "agent".into(),
                        text: "I see two charges. Let me get a person to refund one.".into(),
                    },
                ],
                records: vec![CardRecord {
                    tool: "lookup_order".into(),
                    result: json!({"order": "42", "status": "delivered", "total": "$59.00"}),
                }],
            })
        })
    }
    fn summarize(&self) -> BoxFuture<'static, Result<CallSummary, RoomError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(CallSummary {
                summary: "Dana was charged twice for order 42 ($59.00, delivered).".into(),
                next_action: "Refund the duplicate charge".into(),
            })
        })
    }
    fn hold_caller(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn announce_position(&self, _: usize) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn attach_rep(&self, _: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn brief(&self, _: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(())
        })
    }
    fn bridge(&self, _: &RepId, _: AgentAfterBridge) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn detach_rep(&self, _: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn resume_agent(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn hand_back(&self, _: &RepId, _: String) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn end_call(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        ok()
    }
    fn ended(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

struct OneRoom;

impl Rooms for OneRoom {
    fn room(&self, _: &str) -> Option<Arc<dyn RoomControl>> {
        Some(Arc::new(ScriptedRoom))
    }
}

fn handoff() -> Handoff {
    let reps = [RepConfig {
        id: "ana".into(),
        name: "Ana Ruiz".into(),
        skills: vec!["billing".into()],
        token_env: "WARMLINE_REP_ANA_TOKEN".into(),
        sip_password_env: None,
        sip_uri: None,
        outbound: None,
    }];
    let directory =
        InProcessDirectory::new(&reps, Duration::from_secs(10), &|_| Some(TOKEN.into()));
    Handoff::new(
        Arc::new(directory),
        Arc::new(RepHub::default()),
        Arc::new(OneRoom),
        EscalationConfig::from(&HandoffConfig::default()),
        [("billing-agent".to_owned(), "billing".to_owned())].into(),
    )
}

async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(60), lines.recv())
        .await
        .ok()
        .flatten()
        .expect("the browser run printed nothing (see its stderr)")
}

/// A plain HTTP/1.1 GET; returns the status, the headers and the body.
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_logs_in_goes_available_sees_the_ringing_card_and_accepts() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rep_page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let handoff = handoff();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = warmline::ingress::webrtc::rep::routes(handoff.clone());
    // The server's own HTTP loop (TCP_NODELAY, hyper with upgrades).
    tokio::spawn(warmline::http::serve(listener, app, std::future::pending()));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/rep_page.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(TOKEN)
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with selenium (scripts/install-deps)");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let ready: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON");
    assert_eq!(ready["ready"], true);

    // The page's presence reached the directory.
    let ana = RepId("ana".into());
    let now = tokio::time::Instant::now().into_std();
    let status = handoff.directory().status(&ana, now).expect("ana");
    assert_eq!(status.presence, Presence::Available);

    let mut call = CallIdentity::mint("twilio", "CA_rep_page", "+14155550142", "+14155550100");
    call.agent = Some("billing-agent".into());
    let tool = tokio::spawn(handoff.escalate(
        &call,
        r#"{"reason":"double charge on order 42","summary":"Charged twice for order 42","urgency":"high"}"#,
    ));
    let result = tokio::time::timeout(Duration::from_secs(40), tool)
        .await
        .expect("the rep answered within 40 s")
        .expect("tool task");
    assert_eq!(result["status"], "connected", "{result}");
    assert_eq!(result["rep"], "ana");

    let report: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON");
    let status = child.wait().expect("python exits");
    assert!(status.success());
    assert_eq!(report["title"], "Softphone · warmline");
    assert_eq!(report["token_label"], "Your rep token");
    assert_eq!(report["cookies"], json!([]), "no cookie is ever set");
    assert_eq!(report["stored_token"], true, "kept in sessionStorage");
    assert_eq!(report["presence"], "available");
    let ring_after = report["ring_after_s"].as_f64().expect("the page rang");
    assert!(ring_after < 30.0);
    let card = &report["card"];
    assert_eq!(card["caller"], "+14155550142");
    assert_eq!(card["reason"], "double charge on order 42");
    assert_eq!(
        card["summary"],
        "Dana was charged twice for order 42 ($59.00, delivered)."
    );
    assert_eq!(card["next_action"], "Refund the duplicate charge");
    let transcript = card["transcript"].as_array().expect("lines");
    assert_eq!(transcript.len(), 3);
    assert!(transcript[1]
        .as_str()
        .is_some_and(|l| l.contains("charged twice for order 42")));
    assert!(card["records"]
        .as_str()
        .is_some_and(|r| r.contains("lookup_order") && r.contains("$59.00")));
    assert_eq!(
        card["focused"], "accept",
        "Accept has the focus when it rings"
    );
    let after = report["after_accept"]["state"].as_str().unwrap_or("");
    assert!(after == "brief" || after == "bridged", "{report}");
    assert!(dir.join("rep-ringing.png").exists());
    assert!(dir.join("rep-in-call.png").exists());
}

#[tokio::test]
async fn rep_me_answers_401_without_the_bearer_token_and_the_status_with_it() {
    let handoff = handoff();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = warmline::ingress::webrtc::rep::routes(handoff);
    // The server's own HTTP loop (TCP_NODELAY, hyper with upgrades).
    tokio::spawn(warmline::http::serve(listener, app, std::future::pending()));
    let (status, _, _) = get(addr, "/rep/me", None).await;
    assert_eq!(status, 401);
    let (status, _, _) = get(addr, "/rep/me", Some("nope")).await;
    assert_eq!(status, 401);
    let (status, _, body) = get(addr, "/rep/me", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let me: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(me["id"], "ana");
    assert_eq!(me["presence"], "offline");
    let (status, head, body) = get(addr, "/rep", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Softphone"));
    assert!(!head.contains("set-cookie"));
}
