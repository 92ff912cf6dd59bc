//! MCP tool servers (`kind = "mcp"`): one background connection per
//! `[[tools]]` entry, the tools its server lists right now, and
//! `tools/call`.
//!
//! Each entry's connection is a task on the main runtime. It connects over
//! Streamable HTTP with the official SDK (`rmcp`), lists the tools, lists
//! them again whenever the server sends `notifications/tools/list_changed`,
//! and reconnects with backoff when the server goes away. A server that is
//! down never stops warmline from starting: its tools are missing until it
//! first answers, and the last list is kept while it is away, so a call can
//! still tell the caller the service is unreachable.
//!
//! The model sees a server's tool `lookup` of entry `shop` as
//! `shop__lookup` (decision 0015). Results and failures become the same
//! JSON the webhooks give: the server's answer, or
//! `{"error": {"kind", "message"}}` the model can relay in words.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ErrorCode, Implementation, InitializeRequestParams,
    MetaObject, ProtocolVersion, RequestMetaObject,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, Peer, ServiceError, ServiceExt};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::webhook::error;
use crate::call::tools::CallIdentity;
use crate::config::ToolConfig;

mod shape;
use shape::clip;
pub use shape::{catalog, exposed_name, output, Listed};

/// Separates the `[[tools]]` entry's name from the server's tool name in
/// the names the model sees.
pub const SEPARATOR: &str = "__";
/// The handshake must finish within this, or the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A `tools/list` (all pages) must finish within this.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// First pause before reconnecting; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a connected server's session is checked for a closed transport.
const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// Largest JSON-RPC message read from a server.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// `_meta` keys every `tools/call` carries: who the call is, and the key
/// that is the same for a repeat of one tool call (as webhooks'
/// `Idempotency-Key`).
pub const META_CALL: &str = "io.warmline/call";
/// See [`META_CALL`].
pub const META_IDEMPOTENCY_KEY: &str = "io.warmline/idempotency_key";

/// Why a server's session could not be (kept) up; logged, then retried.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The connection or the `initialize` handshake failed.
    #[error("cannot connect: {0}; check url and headers_env, and that the server runs")]
    Connect(String),
    /// The handshake did not finish in time.
    #[error("no answer to initialize within {0:?}; check that url is the server's Streamable HTTP endpoint")]
    ConnectTimeout(Duration),
    /// `tools/list` failed.
    #[error("tools/list failed: {0}")]
    List(String),
    /// `tools/list` did not finish in time.
    #[error("no answer to tools/list within {0:?}")]
    ListTimeout(Duration),
}

/// What is known of a server now.
#[derive(Default)]
struct Catalog {
    /// The live session, while connected.
    peer: Option<Peer<RoleClient>>,
    /// The last list (kept while the server is away).
    tools: Arc<Vec<Listed>>,
}

/// One `kind = "mcp"` entry: its settings and what its server lists now.
pub struct McpServer {
    entry: String,
    url: String,
    headers: HashMap<reqwest::header::HeaderName, reqwest::header::HeaderValue>,
    timeout: Duration,
    catalog: RwLock<Catalog>,
    /// Woken by `list_changed` and by calls that lost the transport.
    refresh: Arc<Notify>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print header values (they may be secrets).
        f.debug_struct("McpServer")
            .field("entry", &self.entry)
            .field("url", &self.url)
            .finish()
    }
}

impl McpServer {
    /// An entry checked by `warmline check`, with its headers resolved.
    pub fn new(tool: &ToolConfig, url: String, headers: reqwest::header::HeaderMap) -> McpServer {
        McpServer {
            entry: tool.name.clone(),
            url,
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: Duration::from_millis(tool.timeout_ms),
            catalog: RwLock::new(Catalog::default()),
            refresh: Arc::new(Notify::new()),
        }
    }

    /// The `[[tools]]` entry's name.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The tools the server lists now (empty until it first answers).
    pub fn tools(&self) -> Arc<Vec<Listed>> {
        self.read().tools.clone()
    }

    /// Whether the server is connected now.
    pub fn connected(&self) -> bool {
        self.read().peer.is_some()
    }

    /// Whether `name` is one of this server's tools as the model sees it.
    pub fn offers(&self, name: &str) -> bool {
        self.read().tools.iter().any(|t| t.exposed == name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        // A panic while holding the lock cannot leave the catalog half
        // written (each write is one assignment): keep serving it.
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one tool call through `tools/call`; always answers.
    pub async fn call(
        &self,
        call: &CallIdentity,
        tool_call_id: &str,
        exposed: &str,
        arguments: &str,
    ) -> Value {
        let arguments = match serde_json::from_str(arguments) {
            Ok(Value::Object(map)) => map,
            _ => {
                return error(
                    "bad_arguments",
                    format!(
                        "The arguments for {exposed} were not a JSON object, so it did not run."
                    ),
                )
            }
        };
        let (peer, remote) = {
            let catalog = self.read();
            let remote = catalog
                .tools
                .iter()
                .find(|t| t.exposed == exposed)
                .map(|t| t.remote.clone());
            (catalog.peer.clone(), remote)
        };
        let Some(remote) = remote else {
            return error(
                "unknown_tool",
                format!(
                    "The {} server no longer offers {exposed}; nothing was done.",
                    self.entry
                ),
            );
        };
        let Some(peer) = peer else {
            return error(
                "unreachable",
                format!(
                    "The {} tool server is not connected right now, so {exposed} did not run.",
                    self.entry
                ),
            );
        };
        let mut meta = serde_json::Map::new();
        meta.insert(META_CALL.into(), json!(call));
        meta.insert(
            META_IDEMPOTENCY_KEY.into(),
            json!(format!("{}:{tool_call_id}", call.id)),
        );
        let mut params = CallToolRequestParams::new(remote).with_arguments(arguments);
        params.meta = Some(RequestMetaObject(MetaObject(meta)));
        match tokio::time::timeout(self.timeout, peer.call_tool(params)).await {
            Err(_) => error(
                "timeout",
                format!(
                    "The {exposed} tool did not answer in time; it may or may not have completed."
                ),
            ),
            Ok(Ok(result)) => output(exposed, &serde_json::to_value(&result).unwrap_or_default()),
            Ok(Err(ServiceError::McpError(e))) if e.code == ErrorCode::INVALID_PARAMS => error(
                "bad_arguments",
                format!(
                    "The {exposed} tool refused its arguments ({}), so it did not run.",
                    clip(&e.message)
                ),
            ),
            Ok(Err(ServiceError::McpError(e))) => error(
                "tool_error",
                format!("The {exposed} tool failed: {}", clip(&e.message)),
            ),
            Ok(Err(e)) => {
                tracing::warn!(tool = %self.entry, error = %e, "MCP tools/call failed");
                // Let the connection task find out whether the session is gone.
                self.refresh.notify_one();
                error(
                    "unreachable",
                    format!(
                        "The {} tool server could not be reached, so {exposed} may not have run.",
                        self.entry
                    ),
                )
            }
        }
    }

    /// Keeps the server connected and its list current, for as long as
    /// the task runs (the sidecar aborts it when dropped).
    pub async fn maintain(
        self: Arc<Self>,
        client: reqwest::Client,
        reserved: Arc<HashSet<String>>,
    ) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.connect(&client).await {
                Ok(running) => {
                    backoff = FIRST_BACKOFF;
                    self.serve(running, &reserved).await;
                }
                Err(e) => {
                    tracing::warn!(
                        tool = %self.entry,
                        url = %self.url,
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        "MCP server unavailable; its tools are offered once it answers"
                    );
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(
        &self,
        client: &reqwest::Client,
    ) -> Result<RunningService<RoleClient, Listener>, McpError> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .custom_headers(self.headers.clone())
            .max_json_response_size(MAX_MESSAGE_BYTES)
            .max_sse_event_size(MAX_MESSAGE_BYTES)
            .reinit_on_expired_session(true);
        let transport = StreamableHttpClientTransport::with_client(client.clone(), config);
        let listener = Listener {
            refresh: self.refresh.clone(),
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, listener.serve(transport)).await {
            Ok(Ok(running)) => Ok(running),
            Ok(Err(e)) => Err(McpError::Connect(e.to_string())),
            Err(_) => Err(McpError::ConnectTimeout(CONNECT_TIMEOUT)),
        }
    }

    /// Serves one connected session until it is lost.
    async fn serve(
        &self,
        running: RunningService<RoleClient, Listener>,
        reserved: &HashSet<String>,
    ) {
        let peer = running.peer().clone();
        if let Err(e) = self.list(&peer, reserved).await {
            tracing::warn!(tool = %self.entry, error = %e, "MCP tools/list failed; reconnecting");
            return;
        }
        self.write().peer = Some(peer.clone());
        tracing::info!(
            tool = %self.entry,
            url = %self.url,
            tools = self.tools().len(),
            "MCP server connected"
        );
        loop {
            tokio::select! {
                () = self.refresh.notified() => {
                    if let Err(e) = self.list(&peer, reserved).await {
                        tracing::warn!(tool = %self.entry, error = %e, "MCP tools/list failed; reconnecting");
                        break;
                    }
                }
                () = tokio::time::sleep(HEALTH_EVERY) => {
                    if peer.is_transport_closed() {
                        tracing::warn!(tool = %self.entry, "MCP session closed; reconnecting");
                        break;
                    }
                }
            }
        }
        self.write().peer = None;
    }

    /// Lists every page of tools and publishes them.
    async fn list(
        &self,
        peer: &Peer<RoleClient>,
        reserved: &HashSet<String>,
    ) -> Result<(), McpError> {
        let tools = tokio::time::timeout(LIST_TIMEOUT, peer.list_all_tools())
            .await
            .map_err(|_| McpError::ListTimeout(LIST_TIMEOUT))?
            .map_err(|e| McpError::List(e.to_string()))?;
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect();
        let listed = catalog(&self.entry, &tools, reserved);
        let names: Vec<&str> = listed.iter().map(|t| t.exposed.as_str()).collect();
        tracing::info!(tool = %self.entry, offered = ?names, "MCP tools listed");
        self.write().tools = Arc::new(listed);
        Ok(())
    }
}

/// Receives the server's notifications for one session.
pub struct Listener {
    refresh: Arc<Notify>,
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // The connection task lists again; a notification that arrives
        // while it lists is kept (Notify stores one permit).
        self.refresh.notify_one();
    }

    fn get_info(&self) -> InitializeRequestParams {
        // The initialize handshake every server speaks today (2025-11-25
        // and older); the 2026 discover lifecycle is not used yet.
        InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("warmline", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}
