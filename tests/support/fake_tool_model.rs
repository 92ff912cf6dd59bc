//! A fake OpenAI Realtime (GA) server whose first response is a function
//! call (`response.function_call_arguments.done`), as a model makes when
//! it uses a tool; later responses end at once. Every response can first
//! say some audio (μ-law, the session's default format), as a model says
//! "pressing 2" before it presses. It records every
//! `function_call_output` the call sends back.

#![allow(dead_code)]
// tungstenite's handshake returns its large error type.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(call_id, output)` of every function_call_output, in order.
    pub outputs: Vec<(String, String)>,
    /// When the function call was sent.
    pub called_at: Option<Instant>,
    /// The instructions of every `session.update`, in order.
    pub instructions: Vec<String>,
    /// Every `conversation.item.create` item, in order, over all sessions.
    pub items: Vec<Value>,
    /// Responses created (out-of-band ones aside), over all sessions.
    pub responses: u32,
    /// WebSocket sessions opened.
    pub sessions: u32,
}

/// How the fake behaves.
#[derive(Clone, Copy, Debug, Default)]
struct Mode {
    /// Call the tool once per fake (not once per session: a reopened
    /// session replays the conversation and must not call it again).
    once: bool,
    /// Answer out-of-band responses (`conversation: "none"`) with a JSON
    /// summary as text.
    summaries: bool,
}

/// [`start_with_audio`] whose sessions (one per call) each call the tool
/// on their first response, and whose summaries are answered: many
/// escalations, one per call.
pub async fn start_per_call_with_summaries(
    name: &str,
    arguments: Value,
    audio: Vec<u8>,
) -> (String, Arc<Mutex<Seen>>) {
    let mode = Mode {
        once: false,
        summaries: true,
    };
    start_mode(name, arguments, audio, mode).await
}

/// [`start_with_audio`] for warm transfers: the tool is called on the
/// first response of the first session only, and summaries are answered.
pub async fn start_once_with_audio(
    name: &str,
    arguments: Value,
    audio: Vec<u8>,
) -> (String, Arc<Mutex<Seen>>) {
    let mode = Mode {
        once: true,
        summaries: true,
    };
    start_mode(name, arguments, audio, mode).await
}

/// Starts the fake on 127.0.0.1: its first response calls `name` with
/// `arguments`. Returns the ws:// URL for `model.openai_url`.
pub async fn start(name: &str, arguments: Value) -> (String, Arc<Mutex<Seen>>) {
    start_with_audio(name, arguments, Vec::new()).await
}

/// [`start`], with every response saying `audio` (μ-law) first.
pub async fn start_with_audio(
    name: &str,
    arguments: Value,
    audio: Vec<u8>,
) -> (String, Arc<Mutex<Seen>>) {
    start_mode(name, arguments, audio, Mode::default()).await
}

async fn start_mode(
    name: &str,
    arguments: Value,
    audio: Vec<u8>,
    mode: Mode,
) -> (String, Arc<Mutex<Seen>>) {
    let audio = Arc::new(audio);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (name, arguments) = (name.to_owned(), arguments.to_string());
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (name, arguments, record) = (name.clone(), arguments.clone(), record.clone());
            let audio = audio.clone();
            tokio::spawn(async move { serve(tcp, &name, &arguments, &audio, record, mode).await });
        }
    });
    (format!("ws://{addr}/v1/realtime"), seen)
}

async fn serve(
    tcp: tokio::net::TcpStream,
    name: &str,
    arguments: &str,
    audio: &[u8],
    seen: Arc<Mutex<Seen>>,
    mode: Mode,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    if let Ok(mut seen) = seen.lock() {
        seen.sessions += 1;
    }
    let text = |v: Value| Message::text(v.to_string());
    if ws
        .send(text(json!({"type": "session.created", "session": {}})))
        .await
        .is_err()
    {
        return;
    }
    let mut responses = 0u32;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(body) = message else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(body.as_str()) else {
            continue;
        };
        match event["type"].as_str() {
            Some("session.update") => {
                if let (Ok(mut seen), Some(instructions)) =
                    (seen.lock(), event["session"]["instructions"].as_str())
                {
                    seen.instructions.push(instructions.to_owned());
                }
                let _ = ws
                    .send(text(
                        json!({"type": "session.updated", "session": event["session"]}),
                    ))
                    .await;
            }
            Some("conversation.item.create") if event["item"]["type"] == "function_call_output" => {
                if let Ok(mut seen) = seen.lock() {
                    seen.items.push(event["item"].clone());
                    seen.outputs.push((
                        event["item"]["call_id"].as_str().unwrap_or("").to_owned(),
                        event["item"]["output"].as_str().unwrap_or("").to_owned(),
                    ));
                }
            }
            Some("conversation.item.create") => {
                if let Ok(mut seen) = seen.lock() {
                    seen.items.push(event["item"].clone());
                }
            }
            Some("response.create")
                if mode.summaries && event["response"]["conversation"] == "none" =>
            {
                let summary = json!({"summary": "The caller asked for a person.",
                    "next_action": "Greet the caller."});
                let _ = ws
                    .send(text(json!({"type": "response.done", "response": {
                        "id": format!("resp_oob_{responses}"), "status": "completed",
                        "metadata": event["response"]["metadata"],
                        "output": [{"type": "message", "content": [
                            {"type": "output_text", "text": summary.to_string()}]}]}})))
                    .await;
            }
            Some("response.create") => {
                responses += 1;
                let first = match seen.lock() {
                    Ok(mut seen) => {
                        seen.responses += 1;
                        if mode.once {
                            seen.called_at.is_none()
                        } else {
                            responses == 1
                        }
                    }
                    Err(_) => responses == 1,
                };
                let id = format!("resp_{responses}");
                let _ = ws
                    .send(text(json!({"type": "response.created",
                        "response": {"id": id, "status": "in_progress"}})))
                    .await;
                if !audio.is_empty() {
                    let item = format!("item_audio_{responses}");
                    for chunk in audio.chunks(1_600) {
                        let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
                        let _ = ws
                            .send(text(json!({"type": "response.output_audio.delta",
                                "response_id": id, "item_id": item, "output_index": 0,
                                "content_index": 0, "delta": delta})))
                            .await;
                    }
                    let _ = ws
                        .send(text(json!({"type": "response.output_audio.done",
                            "response_id": id, "item_id": item, "output_index": 0,
                            "content_index": 0})))
                        .await;
                }
                if first {
                    let _ = ws
                        .send(text(
                            json!({"type": "response.function_call_arguments.done",
                            "response_id": id, "item_id": "item_fc", "output_index": 0,
                            "call_id": "call_dtmf_1", "name": name, "arguments": arguments}),
                        ))
                        .await;
                    if let Ok(mut seen) = seen.lock() {
                        seen.called_at = Some(Instant::now());
                    }
                }
                let _ = ws
                    .send(text(json!({"type": "response.done",
                        "response": {"id": id, "status": "completed", "output": []}})))
                    .await;
            }
            _ => {}
        }
    }
}

/// Waits up to `wait` for the first function output.
pub fn first_output(seen: &Mutex<Seen>, wait: Duration) -> Option<(String, String)> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(first) = seen.lock().ok().and_then(|s| s.outputs.first().cloned()) {
            return Some(first);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
