//! Tool-sidecar load: N simulated Twilio calls (100 by default) against
//! the release `warmline` binary, each making a webhook tool call every
//! 5 s against a local HTTP tool server, the function calls issued by a
//! loopback fake Realtime model.
//!
//! Run: `cargo build --release && cargo run --release --example tool_load -- [--calls N] [--secs S] [--no-tools]`
//!
//! Reports:
//! - the sidecar's own overhead, from the model's function call arriving
//!   in the call's driver to the webhook request leaving (the server's
//!   `warmline_tool_dispatch_seconds`, timed in-process; p50/p99 as
//!   bucket bounds; the target is p99 ≤ 5 ms);
//! - the frame lateness at the simulated Twilio side (p50/p99) and the
//!   server's own p99, with the hypervisor's steal, as `examples/load.rs`;
//! - with `--no-tools`, the same run with the same server and model but no
//!   function calls: the baseline for the lateness.
//!
//! As in `examples/load.rs`, this process (the generator, the fake model
//! and the tool server) lowers itself to nice 19; the server runs at
//! normal priority.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// How often each call's model asks for the tool.
const TOOL_EVERY: Duration = Duration::from_secs(5);
/// The server's dispatch histogram.
const DISPATCH: &str = "warmline_tool_dispatch_seconds";

fn main() {
    // Before the runtime exists, so every generator thread inherits it.
    let generator = load::become_background(load::Background::Nice19);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(generator));
}

struct Args {
    calls: usize,
    secs: u64,
    tools: bool,
}

fn args() -> Args {
    let mut args = Args {
        calls: 100,
        secs: 40,
        tools: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--calls" => args.calls = it.next().and_then(|v| v.parse().ok()).unwrap_or(100),
            "--secs" => args.secs = it.next().and_then(|v| v.parse().ok()).unwrap_or(40),
            "--no-tools" => args.tools = false,
            other => eprintln!("ignored argument {other:?}"),
        }
    }
    args
}

async fn run(generator: &str) {
    let args = args();
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let (tool_url, tool_hits) = tool_server().await;
    let model = fake_model(args.tools).await;
    let dir = std::env::temp_dir().join(format!("warmline-tool-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("warmline.toml");
    std::fs::write(
        &config,
        format!(
            "[[tools]]\nname = \"lookup_order\"\ndescription = \"Look up an order.\"\n\
             kind = \"webhook\"\nurl = \"{tool_url}\"\n\
             parameters = {{ type = \"object\", properties = {{ order = {{ type = \"string\" }} }} }}\n"
        ),
    )
    .expect("write config");
    let launcher = load::server_launcher();
    let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
    let config_path = config.display().to_string();
    let server = server::start_with(
        &launcher,
        binary,
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(&model)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-load")),
            ("WARMLINE_CONFIG", Some(&config_path)),
            ("WARMLINE_TOOLS_SECRET", Some("whsec_load")),
        ],
        false,
    );
    println!(
        "generator, fake model and tool server: {generator}; server nice {}; {} calls for {} s, tool traffic {}; load average before: {}",
        load::nice_of(server.child.id()),
        args.calls,
        args.secs,
        if args.tools { "on (one call per 5 s per call)" } else { "off" },
        load_average(),
    );
    let before = twilio_sim::http_get(&server.addr, "/metrics").body;
    let report = load::run(&server, args.calls, Duration::from_secs(args.secs)).await;
    let after = twilio_sim::http_get(&server.addr, "/metrics").body;
    let dispatch = load::LatenessWindow::between(
        &load::parse_buckets(&before, DISPATCH),
        &load::parse_buckets(&after, DISPATCH),
    );
    let tool_calls = twilio_sim::metric(
        &after,
        "warmline_tool_calls_total{tool=\"lookup_order\",outcome=\"ok\"}",
    )
    .unwrap_or(0.0);
    // Every outcome (a timeout or an error shows here, not in `ok`).
    let outcomes: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("warmline_tool_calls_total{"))
        .collect();
    println!("| calls | failed | tool calls answered ok (tool server hits) | dispatch p50 / p99 (ms, bucket bound) | lateness at the client p50 / p99 (ms) | server p99 lateness (ms, bucket bound) | CPU per call (% of a core) | hypervisor steal |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} ({}) | {} / {} | {:.1} / {:.1} | ≤ {} | {:.3} | {:.1} % |",
        report.calls,
        report.failed,
        tool_calls,
        tool_hits.load(Ordering::Relaxed),
        bound_ms(&dispatch, 0.50),
        bound_ms(&dispatch, 0.99),
        report.p50_lateness_ms,
        report.p99_lateness_ms,
        report
            .server_p99_lateness_ms
            .map_or("?".to_owned(), |v| format!("{v}")),
        report.cpu_percent_per_call,
        100.0 * report.steal,
    );
    println!(
        "load average after: {}; tool calls by outcome: {outcomes:?}",
        load_average()
    );
    if dispatch.frames() > 0 {
        eprintln!(
            "dispatch: {} samples, {}",
            dispatch.frames(),
            dispatch.shares()
        );
    }
    if !report.errors.is_empty() {
        eprintln!("  errors: {:?}", report.errors);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The upper bound (ms) of the bucket holding quantile `q`, or "-" with no
/// samples.
fn bound_ms(window: &load::LatenessWindow, q: f64) -> String {
    let total = window.frames();
    if total == 0 {
        return "-".into();
    }
    let want = (total as f64 * q).ceil() as u64;
    window
        .buckets
        .iter()
        .find(|(_, n)| *n >= want)
        .map_or("?".into(), |(le, _)| {
            if le.is_finite() {
                format!("≤ {}", le * 1000.0)
            } else {
                "> largest bucket".into()
            }
        })
}

/// The 1, 5 and 15 minute load averages, for the record (other work on
/// the box shows here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tool server that answers every request at once; counts them.
async fn tool_server() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/orders",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                axum::Json(json!({"status": "shipped"}))
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/orders", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

/// A fake Realtime model: answers the greeting with 60 s of audio (as
/// `load::fake_model`), then, with `tools`, asks for `lookup_order` every
/// 5 s (phases spread over the 5 s), and answers each response request
/// after a tool output with an empty response.
async fn fake_model(tools: bool) -> String {
    let audio: Arc<Vec<u8>> = Arc::new(
        (0..60 * 8_000)
            .map(|i| warmline::media::g711::ulaw_encode(((i as f32 * 0.07).sin() * 3_000.0) as i16))
            .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/v1/realtime", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut index = 0u64;
        while let Ok((tcp, _)) = listener.accept().await {
            index += 1;
            tokio::spawn(serve_model(tcp, index, tools, audio.clone()));
        }
    });
    url
}

async fn serve_model(tcp: tokio::net::TcpStream, conn: u64, tools: bool, audio: Arc<Vec<u8>>) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let send = |v: Value| Message::text(v.to_string());
    if tx
        .send(send(json!({"type":"session.created","session":{}})))
        .await
        .is_err()
    {
        return;
    }
    // Spread the calls' tool requests over the 5 s period.
    let phase = Duration::from_millis((conn * 137) % 5_000);
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + TOOL_EVERY + phase, TOOL_EVERY);
    let mut responses = 0u64;
    let mut tool_calls = 0u64;
    // The greeting being streamed: (response id, item id, next chunk).
    let mut streaming: Option<(String, String, usize)> = None;
    let mut deltas = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            msg = rx.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    _ => return,
                };
                let text = text.as_str();
                // Caller audio: by far the most messages; not parsed.
                if text.contains("input_audio_buffer.append") {
                    continue;
                }
                let event: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                match event["type"].as_str() {
                    Some("session.update") => {
                        let _ = tx.send(send(json!({"type":"session.updated","session":event["session"]}))).await;
                    }
                    Some("response.create") => {
                        responses += 1;
                        let rid = format!("resp_c{conn}_{responses}");
                        let iid = format!("item_c{conn}_{responses}");
                        let _ = tx.send(send(json!({"type":"response.created","response":{"id":rid,"status":"in_progress"}}))).await;
                        if responses == 1 {
                            // The greeting: a long answer, streamed faster
                            // than real time, as load::fake_model.
                            streaming = Some((rid, iid, 0));
                        } else {
                            let _ = tx.send(send(json!({"type":"response.done","response":{"id":rid,"status":"completed","output":[]}}))).await;
                        }
                    }
                    _ => {}
                }
            }
            _ = deltas.tick(), if streaming.is_some() => {
                let Some((rid, iid, next)) = streaming.take() else { continue };
                match audio.chunks(1_600).nth(next) {
                    Some(chunk) => {
                        let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
                        if tx.send(send(json!({"type":"response.output_audio.delta","response_id":rid,"item_id":iid,"output_index":0,"content_index":0,"delta":delta}))).await.is_err() {
                            return;
                        }
                        streaming = Some((rid, iid, next + 1));
                    }
                    None => {
                        let _ = tx.send(send(json!({"type":"response.output_audio.done","response_id":rid,"item_id":iid,"output_index":0,"content_index":0}))).await;
                        let _ = tx.send(send(json!({"type":"response.done","response":{"id":rid,"status":"completed","output":[]}}))).await;
                    }
                }
            }
            _ = ticker.tick(), if tools => {
                tool_calls += 1;
                let call = json!({"type":"response.function_call_arguments.done",
                    "response_id": format!("resp_c{conn}_tool"), "item_id": format!("fc_item_c{conn}_{tool_calls}"),
                    "output_index": 0, "call_id": format!("call_c{conn}_{tool_calls}"),
                    "name": "lookup_order", "arguments": format!("{{\"order\":\"A{tool_calls}\"}}")});
                if tx.send(send(call)).await.is_err() {
                    return;
                }
            }
        }
    }
}
