//! The async side of a model session: a task that owns the backend's
//! connection and talks to the call over bounded channels.
//!
//! [`RealtimeModel::open`] starts a session and returns a [`ModelSession`]:
//! commands go in, [`ModelLink`] messages come out. The OpenAI backend runs
//! a tokio task around [`OpenAiSession`] and a WebSocket; the demo backend
//! runs [`DemoAgent`] on the caller's worker thread (it holds a VAD that is
//! not `Send`, so it must be opened from inside a `LocalSet`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::demo::DemoAgent;
use super::openai::session::OpenAiSession;
use super::{ModelCommand, ModelEvent, SessionConfig};

/// Commands queued towards a session before the call must drop audio.
const COMMAND_QUEUE: usize = 512;
/// Events queued towards the call.
const EVENT_QUEUE: usize = 1_024;
/// Connecting to the provider must not take longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest server frame accepted (an audio delta is a few tens of KiB).
const MAX_SERVER_FRAME: usize = 4 * 1024 * 1024;

/// What a session tells the call.
#[derive(Debug, PartialEq)]
pub enum ModelLink {
    /// A model event.
    Event(ModelEvent),
    /// The connection dropped mid-call; open a new session.
    Lost(String),
    /// The provider could not be reached at all.
    Unreachable(String),
}

/// An open (or opening) session.
#[derive(Debug)]
pub struct ModelSession {
    /// Commands for the model.
    pub commands: mpsc::Sender<ModelCommand>,
    /// What the model says.
    pub events: mpsc::Receiver<ModelLink>,
}

/// A realtime model backend: opens sessions.
pub trait RealtimeModel {
    /// Starts opening a session; events (first [`ModelEvent::Ready`]) arrive
    /// on the returned channel.
    fn open(&self, config: SessionConfig) -> ModelSession;
}

/// OpenAI Realtime (GA) over WebSocket.
#[derive(Clone, Debug)]
pub struct OpenAiRealtime {
    /// `wss://api.openai.com/v1/realtime` or a compatible server.
    pub url: String,
    /// `OPENAI_API_KEY`.
    pub api_key: String,
}

impl RealtimeModel for OpenAiRealtime {
    fn open(&self, config: SessionConfig) -> ModelSession {
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let this = self.clone();
        tokio::spawn(async move {
            let result = this.run(config, cmd_rx, &ev_tx).await;
            if let Err((reachable, reason)) = result {
                let link = if reachable {
                    ModelLink::Lost(reason)
                } else {
                    ModelLink::Unreachable(reason)
                };
                let _ = ev_tx.send(link).await;
            }
        });
        ModelSession {
            commands: cmd_tx,
            events: ev_rx,
        }
    }
}

impl OpenAiRealtime {
    /// Runs one session until the call drops it (Ok) or the connection
    /// fails (Err with whether it had been established).
    async fn run(
        &self,
        config: SessionConfig,
        mut commands: mpsc::Receiver<ModelCommand>,
        events: &mpsc::Sender<ModelLink>,
    ) -> Result<(), (bool, String)> {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let url = format!("{}{separator}model={}", self.url, config.model);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| (false, format!("bad model URL {url}: {e}")))?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.api_key)).map_err(|_| {
            (
                false,
                "OPENAI_API_KEY has characters a header cannot carry".to_owned(),
            )
        })?;
        request.headers_mut().insert("Authorization", auth);
        let connector = tokio_tungstenite::Connector::Rustls(crate::tls::client_config());
        // Small buffers: a call's memory is mostly socket buffers otherwise
        // (128 KiB each way by default).
        let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_SERVER_FRAME))
            .max_frame_size(Some(MAX_SERVER_FRAME))
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_config),
            false,
            Some(connector),
        );
        let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| (false, format!("connecting to {url} timed out")))?
            .map_err(|e| (false, format!("connecting to {url}: {e}")))?;
        let (mut sink, mut stream) = ws.split();
        let mut session = OpenAiSession::new(config);
        for event in session.on_open() {
            sink.send(Message::text(event.to_string()))
                .await
                .map_err(|e| (true, e.to_string()))?;
        }
        // Nothing here drops a command: a stalled socket blocks the write
        // below, the channel fills, and the call's outbox drops caller audio
        // and holds control until this loop reads again.
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else {
                        // The call is gone: close politely.
                        let _ = sink.close().await;
                        return Ok(());
                    };
                    for event in session.command(command) {
                        sink.send(Message::text(event.to_string())).await.map_err(|e| (true, e.to_string()))?;
                    }
                }
                frame = stream.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(reason))) => return Err((true, format!("server closed: {reason:?}"))),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err((true, e.to_string())),
                        None => return Err((true, "connection ended".to_owned())),
                    };
                    let step = session.on_server_text(text.as_str());
                    for event in step.send {
                        sink.send(Message::text(event.to_string())).await.map_err(|e| (true, e.to_string()))?;
                    }
                    for event in step.events {
                        if let ModelEvent::Error { code, message } = &event {
                            tracing::warn!(?code, %message, "model error");
                        }
                        if events.send(ModelLink::Event(event)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// The offline demo agent as a backend. Open it only from a media worker
/// (it spawns a local task).
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoRealtime;

impl RealtimeModel for DemoRealtime {
    fn open(&self, _config: SessionConfig) -> ModelSession {
        let (cmd_tx, mut cmd_rx) = mpsc::channel::<ModelCommand>(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        tokio::task::spawn_local(async move {
            let mut agent = match DemoAgent::new() {
                Ok(agent) => agent,
                Err(e) => {
                    let _ = ev_tx.send(ModelLink::Unreachable(e.to_string())).await;
                    return;
                }
            };
            agent.connect();
            loop {
                while let Some(event) = agent.poll_event() {
                    if ev_tx.send(ModelLink::Event(event)).await.is_err() {
                        return;
                    }
                }
                match cmd_rx.recv().await {
                    Some(command) => agent.command(command),
                    None => return,
                }
            }
        });
        ModelSession {
            commands: cmd_tx,
            events: ev_rx,
        }
    }
}

/// Opens a session of a backend given as a function.
pub type OpenFn = dyn Fn(SessionConfig) -> ModelSession + Send + Sync;

/// A backend given as a function: in-process models and tests that play
/// the model's side of the channels themselves.
#[derive(Clone)]
pub struct CustomModel(pub std::sync::Arc<OpenFn>);

impl std::fmt::Debug for CustomModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomModel")
    }
}

/// The backend every call of this server uses.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The offline demo agent.
    Demo(DemoRealtime),
    /// OpenAI Realtime.
    OpenAi(OpenAiRealtime),
    /// A backend given as a function.
    Custom(CustomModel),
}

impl RealtimeModel for Backend {
    fn open(&self, config: SessionConfig) -> ModelSession {
        match self {
            Backend::Demo(demo) => demo.open(config),
            Backend::OpenAi(openai) => openai.open(config),
            Backend::Custom(custom) => (custom.0)(config),
        }
    }
}
