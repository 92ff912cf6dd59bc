//! A fake OpenAI Realtime (GA) server for tests: answers `session.update`
//! with `session.updated`, answers `response.create` with a response that
//! streams its audio (μ-law, or whatever bytes the test's session format
//! needs) faster than real time, records every client event
//! per connection, and can be told to drop a connection mid-response. An
//! out-of-band `response.create` (`conversation: "none"`) gets a text
//! response with a fixed summary JSON at once.
//! With `server_vad` it runs [`server_vad::ServerVad`] instead: a naive
//! server VAD (anything above −40 dBFS is speech) honouring
//! `interrupt_response` and `create_response` from the `session.update`.

#![allow(dead_code)]
// tungstenite's handshake callback returns its large error type.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[path = "server_vad.rs"]
pub mod server_vad;

/// Shared view of what the fake saw.
#[derive(Default, Debug)]
pub struct Record {
    /// Client events, one list per connection, in arrival order.
    pub connections: Vec<Vec<Value>>,
    /// Authorization headers seen.
    pub auth: Vec<String>,
    /// With `server_vad`: what each connection's fake VAD did.
    pub vad: Vec<server_vad::VadCounts>,
}

/// Behaviour knobs.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The audio every response plays, in the session's output format
    /// (μ-law, or 24 kHz PCM for an `audio/pcm` session), sent as deltas
    /// of 1600 bytes.
    pub audio: Vec<u8>,
    /// Drop connection number N (0-based) after this many audio deltas.
    pub drop_connection_after_deltas: Option<(usize, usize)>,
    /// Delay between audio deltas (200 ms of audio each).
    pub delta_interval: Duration,
    /// Keep every client event (tests inspect them; load runs must not,
    /// or the fake's memory grows with every appended frame).
    pub record_events: bool,
    /// Run the fake server VAD (see the module docs); responses then
    /// stream one delta per `delta_interval` while client events keep
    /// being read.
    pub server_vad: bool,
}

/// Starts the fake on 127.0.0.1; returns its ws:// base URL and the record.
pub async fn start(config: FakeConfig) -> (String, Arc<Mutex<Record>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let record = Arc::new(Mutex::new(Record::default()));
    let rec = record.clone();
    tokio::spawn(async move {
        let mut index = 0usize;
        while let Ok((tcp, _)) = listener.accept().await {
            let rec = rec.clone();
            let config = config.clone();
            let conn = index;
            index += 1;
            tokio::spawn(async move { serve(tcp, conn, config, rec).await });
        }
    });
    (format!("ws://{addr}/v1/realtime"), record)
}

async fn serve(
    tcp: tokio::net::TcpStream,
    conn: usize,
    config: FakeConfig,
    record: Arc<Mutex<Record>>,
) {
    let rec_headers = record.clone();
    let callback =
        move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
              resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if let Ok(mut r) = rec_headers.lock() {
                r.auth.push(auth);
            }
            Ok(resp)
        };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    if let Ok(mut r) = record.lock() {
        while r.connections.len() <= conn {
            r.connections.push(Vec::new());
        }
    }
    let (mut tx, mut rx) = ws.split();
    let send = |v: Value| Message::text(v.to_string());
    if config.server_vad {
        serve_vad(&mut tx, &mut rx, conn, &config, &record).await;
        return;
    }
    if tx
        .send(send(json!({"type":"session.created","session":{}})))
        .await
        .is_err()
    {
        return;
    }
    let mut responses = 0usize;
    let mut deltas_sent = 0usize;
    while let Some(Ok(msg)) = rx.next().await {
        let Message::Text(text) = msg else { continue };
        let event: Value = serde_json::from_str(text.as_str()).expect("client sends JSON");
        if config.record_events {
            if let Ok(mut r) = record.lock() {
                r.connections[conn].push(event.clone());
            }
        }
        match event["type"].as_str() {
            Some("session.update") => {
                let _ = tx
                    .send(send(
                        json!({"type":"session.updated","session":event["session"]}),
                    ))
                    .await;
            }
            Some("response.create") if event["response"]["conversation"] == "none" => {
                // An out-of-band text response (a summary for a rep):
                // answered at once, beside any audio response.
                responses += 1;
                let rid = format!("resp_c{conn}_{responses}");
                let meta = event["response"]["metadata"].clone();
                let text = json!({
                    "summary": "The caller wants a refund for order 42.",
                    "next_action": "Approve the refund",
                })
                .to_string();
                let _ = tx.send(send(json!({"type":"response.created","response":{"id":rid,"status":"in_progress","conversation_id":null,"metadata":meta}}))).await;
                let _ = tx.send(send(json!({"type":"response.output_text.done","response_id":rid,"item_id":format!("item_oob_{responses}"),"output_index":0,"content_index":0,"text":text}))).await;
                let _ = tx.send(send(json!({"type":"response.done","response":{"id":rid,"status":"completed","conversation_id":null,"metadata":meta,
                    "output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":text}]}]}}))).await;
            }
            Some("response.create") => {
                responses += 1;
                let rid = format!("resp_c{conn}_{responses}");
                let iid = format!("item_c{conn}_{responses}");
                let _ = tx.send(send(json!({"type":"response.created","response":{"id":rid,"status":"in_progress"}}))).await;
                let _ = tx
                    .send(send(json!({"type":"response.output_audio_transcript.done","item_id":iid,"response_id":rid,"output_index":0,"content_index":0,"transcript":"Hello, thanks for calling."})))
                    .await;
                for chunk in config.audio.chunks(1_600) {
                    if let Some((drop_conn, after)) = config.drop_connection_after_deltas {
                        if drop_conn == conn && deltas_sent >= after {
                            // Vanish mid-response, as a broken network does.
                            return;
                        }
                    }
                    let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
                    let _ = tx
                        .send(send(json!({"type":"response.output_audio.delta","response_id":rid,"item_id":iid,"output_index":0,"content_index":0,"delta":delta})))
                        .await;
                    deltas_sent += 1;
                    tokio::time::sleep(config.delta_interval).await;
                }
                let _ = tx.send(send(json!({"type":"response.output_audio.done","response_id":rid,"item_id":iid,"output_index":0,"content_index":0}))).await;
                let _ = tx.send(send(json!({"type":"response.done","response":{"id":rid,"status":"completed","output":[]}}))).await;
            }
            _ => {}
        }
    }
}

type Tx = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    Message,
>;
type Rx =
    futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>;

async fn serve_vad(
    tx: &mut Tx,
    rx: &mut Rx,
    conn: usize,
    config: &FakeConfig,
    record: &Arc<Mutex<Record>>,
) {
    let mut vad = server_vad::ServerVad::new(config.audio.clone(), &format!("c{conn}"));
    if tx
        .send(Message::text(server_vad::ServerVad::hello().to_string()))
        .await
        .is_err()
    {
        return;
    }
    let mut tick = tokio::time::interval(config.delta_interval);
    loop {
        let out = tokio::select! {
            msg = rx.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(text) = msg else { continue };
                let event: Value = serde_json::from_str(text.as_str()).expect("client sends JSON");
                if config.record_events {
                    if let Ok(mut r) = record.lock() {
                        r.connections[conn].push(event.clone());
                    }
                }
                vad.on_client(&event)
            }
            _ = tick.tick() => vad.on_tick(),
        };
        for v in out {
            if tx.send(Message::text(v.to_string())).await.is_err() {
                return;
            }
        }
        if let Ok(mut r) = record.lock() {
            while r.vad.len() <= conn {
                r.vad.push(server_vad::VadCounts::default());
            }
            r.vad[conn] = vad.counts.clone();
        }
    }
}
