//! Chaos, as bounded runs on loopback (issue 19). The kernel here has no
//! netem, so every impairment is in-process: a model endpoint that
//! refuses, answers its upgrade with 503 or stalls its handshake, a tool
//! webhook that never answers, and a rep whose softphone vanishes in the
//! middle of a bridge. (RTP loss and jitter are in tests/chaos_rtp.rs.)
//!
//! Whatever breaks, every call must end with a clear outcome: the server
//! closes or keeps the call as the case needs, and the call's `call ended`
//! log line names the reason. No call is lost silently.

mod support {
    pub mod fake_realtime;
    pub mod fake_tool_model;
    pub mod rep_phone;
    pub mod server;
    pub mod twilio_sim;
}

use std::time::Duration;

use serde_json::json;
use support::fake_realtime::FakeConfig;
use support::rep_phone::{Finish, RepPhone};
use support::server::{ServerProcess, AUTH};
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
/// μ-law digital silence: a caller who says nothing.
const QUIET: u8 = 0xFF;

/// A server whose model is the OpenAI backend at `model_url`, with
/// `config` (TOML) and `env` added.
fn server(name: &str, model_url: &str, config: &str, env: &[(&str, &str)]) -> ServerProcess {
    let dir = std::env::temp_dir().join(format!("warmline-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join(name);
    std::fs::write(&path, config).expect("config");
    let mut all = vec![
        ("WARMLINE_CONFIG", path.to_str()),
        ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
        ("WARMLINE_MODEL__BACKEND", Some("openai")),
        ("OPENAI_API_KEY", Some("sk-test-fake")),
        ("RUST_LOG", Some("info")),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, Some(*v))));
    support::server::start(BIN, &all, false)
}

async fn start_call(addr: &str, sid: &str) -> SimCall {
    let answer = signed_webhook(addr, AUTH, sid);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    SimCall::start(ws, sid, &call_token).await
}

/// Streams silence until the server closes the call or `max` passes;
/// returns whether it closed.
async fn until_closed(call: &mut SimCall, max: Duration) -> bool {
    let deadline = Instant::now() + max;
    while !call.observed.closed_by_server && Instant::now() < deadline {
        call.stream(&[QUIET; 160]).await;
    }
    call.observed.closed_by_server
}

/// The caller hangs up (Twilio's `stop`).
async fn hang_up(call: &mut SimCall, sid: &str) {
    use futures_util::SinkExt;
    let stop = json!({"event": "stop", "sequenceNumber": "999999", "streamSid": call.stream_sid,
                      "stop": {"accountSid": "AC_chaos", "callSid": sid}});
    let _ = call
        .ws
        .send(tokio_tungstenite::tungstenite::Message::text(
            stop.to_string(),
        ))
        .await;
}

/// The `call ended` log line of the call `sid`, waiting up to 5 s for it.
async fn end_line(server: &ServerProcess, sid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = server
            .logs()
            .into_iter()
            .find(|l| l.contains("call ended") && l.contains(&format!("provider_id={sid}")));
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no `call ended` line for {sid}; the log ends:\n{}",
            server
                .logs()
                .iter()
                .rev()
                .take(15)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port that accepts connections and hands each to `serve`.
async fn listener<F, Fut>(serve: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp));
        }
    });
    port
}

/// Reads an HTTP request head (the WebSocket upgrade) and drops the rest.
async fn read_head(tcp: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16_384 {
        match tcp.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

/// A model endpoint that never connects: the call must end, saying so,
/// after the caller heard why.
async fn the_call_ends_as_model_unreachable(model_url: &str, sid: &str) {
    let server = server(&format!("{sid}.toml"), model_url, "", &[]);
    let mut call = start_call(&server.addr, sid).await;
    // At the start of a call, no model means the unavailable prompt and
    // the end (mid-call, five reconnects with backoff come first).
    assert!(
        until_closed(&mut call, Duration::from_secs(30)).await,
        "the call never ended"
    );
    assert!(
        call.observed.media_frames > 0,
        "the caller heard nothing before the hang-up"
    );
    let line = end_line(&server, sid).await;
    assert!(line.contains("reason=\"model_unreachable\""), "{line}");
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("model unreachable") && l.contains(sid)),
        "no line says why the call ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_refuses_every_connection_ends_the_call_as_unreachable() {
    // A port nothing listens on.
    let port = support::server::free_port();
    the_call_ends_as_model_unreachable(
        &format!("ws://127.0.0.1:{port}/v1/realtime"),
        "CA_chaos_refuse",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_answers_its_upgrade_with_503_ends_the_call_as_unreachable() {
    let port = listener(|mut tcp| async move {
        read_head(&mut tcp).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    })
    .await;
    the_call_ends_as_model_unreachable(
        &format!("ws://127.0.0.1:{port}/v1/realtime"),
        "CA_chaos_503",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_stalls_its_handshake_for_5_s_still_answers_the_call() {
    let (model, _record) = support::fake_realtime::start(FakeConfig {
        audio: vec![0x10; 8_000],
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(100),
        record_events: false,
        server_vad: false,
    })
    .await;
    let upstream = model
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("host:port")
        .to_owned();
    // Every connection waits 5 s before its bytes reach the model.
    let port = listener(move |mut tcp| {
        let upstream = upstream.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Ok(mut model) = TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut model).await;
            }
        }
    })
    .await;
    let sid = "CA_chaos_stall";
    let server = server(
        "stall.toml",
        &format!("ws://127.0.0.1:{port}/v1/realtime"),
        "",
        &[],
    );
    let started = Instant::now();
    let mut call = start_call(&server.addr, sid).await;
    // The greeting (loud μ-law) arrives once the handshake does.
    let deadline = started + Duration::from_secs(20);
    let greeted = loop {
        call.stream(&[QUIET; 160]).await;
        let loud = call
            .observed
            .media_levels
            .iter()
            .find(|(_, rms)| *rms > 1_000.0);
        if let Some((at, _)) = loud {
            break *at;
        }
        assert!(
            !call.observed.closed_by_server,
            "the call ended during the stall"
        );
        assert!(
            Instant::now() < deadline,
            "no greeting 20 s after a 5 s stall"
        );
    };
    let waited = greeted.duration_since(started.into_std());
    assert!(
        waited >= Duration::from_millis(4_500),
        "greeted after {waited:?}: the stall was not in the path"
    );
    hang_up(&mut call, sid).await;
    let line = end_line(&server, sid).await;
    assert!(line.contains("reason=\"caller_hung_up\""), "{line}");
    println!("stalled handshake: greeted {waited:?} after the call started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_webhook_that_never_answers_times_out_and_the_call_goes_on() {
    // Takes every connection, reads nothing, answers nothing.
    let tool_port = listener(|tcp| async move {
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(tcp);
    })
    .await;
    let (model, seen) =
        support::fake_tool_model::start("lookup_order", json!({"order": "A-17"})).await;
    let config = format!(
        "[[tools]]\nname = \"lookup_order\"\ndescription = \"Looks an order up.\"\n\
         kind = \"webhook\"\nurl = \"http://127.0.0.1:{tool_port}/orders\"\ntimeout_ms = 1000\n\
         filler_after_ms = 300\n\
         [tools.parameters]\ntype = \"object\"\n\
         [tools.parameters.properties.order]\ntype = \"string\"\n"
    );
    let sid = "CA_chaos_tool";
    let server = server(
        "tool.toml",
        &model,
        &config,
        &[("WARMLINE_TOOLS_SECRET", "chaos-tools-secret")],
    );
    let mut call = start_call(&server.addr, sid).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let output = loop {
        call.stream(&[QUIET; 160]).await;
        let first = seen.lock().ok().and_then(|s| s.outputs.first().cloned());
        if let Some((_, output)) = first {
            break output;
        }
        assert!(!call.observed.closed_by_server, "the call ended");
        assert!(
            Instant::now() < deadline,
            "the model never got the tool's result"
        );
    };
    let called = seen
        .lock()
        .ok()
        .and_then(|s| s.called_at)
        .expect("the tool was called");
    let answered_after = called.elapsed();
    assert!(output.contains("timeout"), "{output}");
    assert!(
        answered_after < Duration::from_secs(3),
        "the timeout took {answered_after:?}"
    );
    // The call is still up, and ends cleanly when the caller hangs up.
    for _ in 0..25 {
        call.stream(&[QUIET; 160]).await;
    }
    assert!(!call.observed.closed_by_server, "the call ended on its own");
    hang_up(&mut call, sid).await;
    let line = end_line(&server, sid).await;
    assert!(line.contains("reason=\"caller_hung_up\""), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_whose_softphone_vanishes_mid_bridge_leaves_the_caller_with_the_ai() {
    const TOKEN_VAR: &str = "WARMLINE_CHAOS_REP_TOKEN";
    const TOKEN: &str = "rep-token-chaos-7c1e";
    let agent_voice: Vec<u8> = (0..8_000)
        .map(|i| if i % 2 == 0 { 0x10 } else { 0x90 })
        .collect();
    let (model, seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "chaos"}),
        agent_voice,
    )
    .await;
    let config = format!(
        "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
         [handoff]\nwrap_up_secs = 0\nbrief = false\n"
    );
    let sid = "CA_chaos_rep";
    let server = server("rep.toml", &model, &config, &[(TOKEN_VAR, TOKEN)]);
    let addr = server.addr.clone();
    let rep = tokio::task::spawn_blocking(move || {
        let mut rep = RepPhone::login(&addr, TOKEN);
        let ring = rep.wait_for("ring", Duration::from_secs(15));
        let call_id = ring["card"]["call_id"].as_str().expect("id").to_owned();
        let talk = rep.accept_and_talk(
            &call_id,
            &[0i16; 960],
            Finish::Vanish(Duration::from_millis(1_500)),
            Duration::from_secs(20),
        );
        // The phone is dropped here: its socket closes with no word.
        drop(rep);
        talk
    });
    let mut call = start_call(&server.addr, sid).await;
    while !rep.is_finished() {
        call.stream(&[QUIET; 160]).await;
        assert!(
            !call.observed.closed_by_server,
            "the call ended before the rep left"
        );
    }
    let talk = rep.await.expect("the rep ran");
    assert!(talk.bridged_at.is_some(), "the rep was never bridged");
    let vanished = Instant::now();
    // The AI is told and speaks to the caller again; the call stays up.
    let deadline = vanished + Duration::from_secs(10);
    loop {
        call.stream(&[QUIET; 160]).await;
        assert!(
            !call.observed.closed_by_server,
            "the caller was hung up on when the rep vanished"
        );
        let told = seen.lock().ok().is_some_and(|s| {
            s.items
                .iter()
                .any(|item| item.to_string().contains("dropped"))
        });
        let spoke_again = call
            .observed
            .media_levels
            .iter()
            .any(|(at, rms)| *at > vanished.into_std() && *rms > 1_000.0);
        if told && spoke_again {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after the rep vanished: the AI told {told}, spoke again {spoke_again}"
        );
    }
    hang_up(&mut call, sid).await;
    let line = end_line(&server, sid).await;
    assert!(line.contains("reason=\"caller_hung_up\""), "{line}");
    assert!(
        server.logs().iter().any(|l| l.contains("rep logged out")),
        "the vanished rep is still logged in"
    );
}
