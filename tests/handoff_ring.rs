//! From `escalate_to_human` to the ring on the rep's softphone socket
//! (issue 14's ≤ 300 ms target), over 20 escalations: the real handoff
//! service and `/rep/ws` on loopback, a WebSocket client logged in as the
//! rep, a scripted call (the room of legs is wired by the lead). Each
//! escalation is declined at once, so the same rep rings for the next.
//! Prints the median, p95 and the hypervisor's steal during the run
//! (docs/PERFORMANCE.md, "Escalation to ring").

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use warmline::call::tools::CallIdentity;
use warmline::config::{AgentAfterBridge, HandoffConfig, RepConfig};
use warmline::handoff::room::{CallSnapshot, RoomControl, RoomError, Rooms};
use warmline::handoff::{
    CallSummary, EscalationConfig, Escalator, Handoff, InProcessDirectory, RepHub, RepId,
};

const TOKEN: &str = "rep-token-bo-90ad";
const ESCALATIONS: usize = 20;

struct QuietRoom;

fn ok() -> BoxFuture<'static, Result<(), RoomError>> {
    Box::pin(async { Ok(()) })
}

impl RoomControl for QuietRoom {
    fn snapshot(&self) -> BoxFuture<'static, Result<CallSnapshot, RoomError>> {
        Box::pin(async { Ok(CallSnapshot::default()) })
    }
    fn summarize(&self) -> BoxFuture<'static, Result<CallSummary, RoomError>> {
        Box::pin(std::future::pending())
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
        ok()
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

struct AnyRoom;

impl Rooms for AnyRoom {
    fn room(&self, _: &str) -> Option<Arc<dyn RoomControl>> {
        Some(Arc::new(QuietRoom))
    }
}

/// (steal, total) clock ticks from /proc/stat's `cpu` line.
fn cpu_steal() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    (
        fields.get(7).copied().unwrap_or(0),
        fields.iter().take(8).sum(),
    )
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_to_ring_on_the_rep_socket_is_within_300_ms_at_p95() {
    let reps = [RepConfig {
        id: "bo".into(),
        name: "Bo".into(),
        skills: vec![],
        token_env: "WARMLINE_REP_BO_TOKEN".into(),
        sip_password_env: None,
        sip_uri: None,
        outbound: None,
    }];
    let directory =
        InProcessDirectory::new(&reps, Duration::from_secs(10), &|_| Some(TOKEN.into()));
    let handoff = Handoff::new(
        Arc::new(directory),
        Arc::new(RepHub::default()),
        Arc::new(AnyRoom),
        EscalationConfig::from(&HandoffConfig::default()),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = warmline::ingress::webrtc::rep::routes(handoff.clone());
    // The server's own HTTP loop (TCP_NODELAY, hyper with upgrades).
    tokio::spawn(warmline::http::serve(listener, app, std::future::pending()));

    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/rep/ws"), tcp)
        .await
        .expect("upgrade");
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(json!({"type":"login","token":TOKEN})))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["type"], "welcome");
    ws.send(send(json!({"type":"presence","presence":"available"})))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["status"]["presence"], "available");

    let steal_before = cpu_steal();
    let mut latencies = Vec::new();
    for i in 0..ESCALATIONS {
        let call = CallIdentity::mint("twilio", &format!("CA{i}"), "+14155550100", "+1");
        let started = Instant::now();
        let tool = tokio::spawn(handoff.escalate(&call, r#"{"reason":"measure"}"#));
        let ring = loop {
            let m = next_json(&mut ws).await;
            if m["type"] == "ring" {
                break m;
            }
        };
        latencies.push(started.elapsed());
        assert_eq!(ring["card"]["call_id"], call.id.as_str());
        ws.send(send(json!({"type":"decline","call_id":call.id})))
            .await
            .expect("send");
        let result = tool.await.expect("tool");
        assert_eq!(result["reason"], "nobody_answered");
    }
    let steal_after = cpu_steal();
    let steal =
        (steal_after.0 - steal_before.0) as f64 / (steal_after.1 - steal_before.1).max(1) as f64;
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "escalate_to_human → ring on /rep/ws over {ESCALATIONS}: median {:.2} ms, p95 {:.2} ms, max {:.2} ms, steal {:.1}%",
        p(0.5).as_secs_f64() * 1e3,
        p(0.95).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        steal * 100.0
    );
    assert!(p(0.95) <= Duration::from_millis(300), "{latencies:?}");
}
