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
use crate::model::ToolSpec;

/// Separates the `[[tools]]` entry's name from the server's tool name in
/// the names the model sees.
pub const SEPARATOR: &str = "__";
/// Longest function name the model accepts (`^[a-zA-Z0-9_-]{1,64}$`).
const MAX_NAME: usize = 64;
/// Most tools taken from one server: the list goes into every session.
const MAX_TOOLS: usize = 128;
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
/// Largest function output given to the model (as for webhooks).
const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Longest error text from a server passed on to the model.
const MAX_ERROR_CHARS: usize = 500;
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

/// One tool a server lists, as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// The name the model calls: `<entry>__<tool>`.
    pub exposed: String,
    /// The server's own name for it.
    pub remote: String,
    /// Description and schema, from the server.
    pub spec: ToolSpec,
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

/// The name the model sees for a server's tool: `<entry>__<tool>`, with
/// any character a function name cannot hold replaced by `_`, and a name
/// longer than 64 shortened, ending in a hash of the tool's own name so
/// that two long names stay apart.
pub fn exposed_name(entry: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{entry}{SEPARATOR}{clean}");
    if name.len() <= MAX_NAME {
        return name;
    }
    // FNV-1a: stable across builds and processes, unlike the std hasher.
    let hash = tool.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head: String = name.chars().take(MAX_NAME - 9).collect();
    format!("{head}_{:08x}", hash as u32)
}

/// The model's view of a server's `tools/list` (each tool as JSON): in
/// the server's order, at most [`MAX_TOOLS`], without names that clash
/// with `reserved` (built-ins and other entries) or with each other.
pub fn catalog(entry: &str, tools: &[Value], reserved: &HashSet<String>) -> Vec<Listed> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for tool in tools {
        let Some(remote) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let exposed = exposed_name(entry, remote);
        if reserved.contains(&exposed) || !seen.insert(exposed.clone()) {
            tracing::warn!(tool = %entry, remote, exposed, "MCP tool skipped: its name clashes with another tool");
            continue;
        }
        if out.len() == MAX_TOOLS {
            tracing::warn!(tool = %entry, "MCP server lists more than {MAX_TOOLS} tools; the rest are not offered");
            break;
        }
        let text = |key: &str| {
            tool.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        let description = text("description")
            .or_else(|| text("title"))
            .unwrap_or_else(|| format!("{remote} (from {entry})"));
        let parameters = match tool.get("inputSchema") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => json!({"type": "object", "properties": {}}),
        };
        out.push(Listed {
            exposed: exposed.clone(),
            remote: remote.to_owned(),
            spec: ToolSpec {
                name: exposed,
                description,
                parameters,
            },
        });
    }
    out
}

/// The function output for a `tools/call` result (as JSON): its
/// `structuredContent` when there is one, else its one text item when
/// that is a JSON object or array, else its text as `{"result": "..."}`;
/// an `isError` result becomes an error object carrying the server's words.
pub fn output(exposed: &str, result: &Value) -> Value {
    let mut texts = Vec::new();
    let mut omitted = 0;
    for item in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = item
            .get("text")
            .or_else(|| item.get("resource").and_then(|r| r.get("text")))
            .and_then(Value::as_str);
        match text {
            Some(t) => texts.push(t),
            // Images, audio and links cannot be spoken.
            None => omitted += 1,
        }
    }
    let text = texts.join("\n");
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let said = if text.trim().is_empty() {
            "it gave no reason".to_owned()
        } else {
            clip(&text)
        };
        return error("tool_error", format!("The {exposed} tool failed: {said}"));
    }
    // Many servers answer JSON as text: the model gets it as JSON, not as
    // a string holding JSON.
    let parsed = match texts.as_slice() {
        [one] if omitted == 0 => serde_json::from_str::<Value>(one)
            .ok()
            .filter(|v| v.is_object() || v.is_array()),
        _ => None,
    };
    let out = match result.get("structuredContent") {
        Some(v) if !v.is_null() => v.clone(),
        _ if parsed.is_some() => parsed.unwrap_or_default(),
        _ if omitted > 0 => {
            json!({"result": text, "omitted": format!("{omitted} item(s) that are not text")})
        }
        _ => json!({ "result": text }),
    };
    if out.to_string().len() > MAX_OUTPUT_BYTES {
        return error(
            "bad_answer",
            format!("The {exposed} tool answered with too much to use; its result is unknown."),
        );
    }
    out
}

/// At most [`MAX_ERROR_CHARS`] of a server's text.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_are_prefixed_valid_function_names_of_at_most_64() {
        assert_eq!(exposed_name("shop", "lookup_order"), "shop__lookup_order");
        assert_eq!(
            exposed_name("crm", "contacts.search/v2"),
            "crm__contacts_search_v2"
        );
        let long = "a".repeat(80);
        let a = exposed_name("shop", &format!("{long}1"));
        let b = exposed_name("shop", &format!("{long}2"));
        for name in [&a, &b] {
            assert_eq!(name.len(), 64, "{name}");
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            assert!(name.starts_with("shop__aaa"));
        }
        assert_ne!(a, b, "long names stay apart");
        assert_eq!(a, exposed_name("shop", &format!("{long}1")), "stable");
    }

    #[test]
    fn the_catalog_keeps_the_servers_schema_and_skips_clashing_names() {
        let tools = [
            json!({"name": "lookup", "description": "Find an order.",
                   "inputSchema": {"type": "object", "properties": {"order": {"type": "string"}}}}),
            json!({"name": "lookup", "description": "Twice."}),
            json!({"name": "a.b", "title": "Dotted"}),
            json!({"name": "a_b"}),
            json!({"name": "taken"}),
            json!({"description": "no name"}),
        ];
        let reserved: HashSet<String> = ["shop__taken".to_owned()].into();
        let listed = catalog("shop", &tools, &reserved);
        let names: Vec<&str> = listed.iter().map(|t| t.exposed.as_str()).collect();
        assert_eq!(names, ["shop__lookup", "shop__a_b"]);
        assert_eq!(listed[0].remote, "lookup");
        assert_eq!(listed[0].spec.description, "Find an order.");
        assert_eq!(
            listed[0].spec.parameters["properties"]["order"]["type"],
            "string"
        );
        assert_eq!(listed[1].remote, "a.b");
        assert_eq!(listed[1].spec.description, "Dotted");
        assert_eq!(listed[1].spec.parameters["type"], "object");
    }

    #[test]
    fn a_structured_result_is_the_output_and_text_is_wrapped() {
        let structured = json!({"content": [{"type": "text", "text": "{\"a\":1}"}],
                                "structuredContent": {"a": 1}});
        assert_eq!(output("shop__x", &structured), json!({"a": 1}));
        let json_text = json!({"content": [{"type": "text", "text": "{\n \"a\": [1, 2]\n}"}]});
        assert_eq!(output("shop__x", &json_text), json!({"a": [1, 2]}));
        let plain = json!({"content": [{"type": "text", "text": "42"}]});
        assert_eq!(output("shop__x", &plain), json!({"result": "42"}));
        let text = json!({"content": [{"type": "text", "text": "It is sunny."},
                                      {"type": "image", "data": "AAAA", "mimeType": "image/png"}]});
        assert_eq!(
            output("shop__x", &text),
            json!({"result": "It is sunny.", "omitted": "1 item(s) that are not text"})
        );
    }

    #[test]
    fn an_is_error_result_becomes_an_error_object_with_the_servers_words() {
        let failed = json!({"content": [{"type": "text", "text": "Order A17 is locked."}],
                            "isError": true});
        let out = output("shop__refund", &failed);
        assert_eq!(out["error"]["kind"], "tool_error");
        let message = out["error"]["message"].as_str().expect("words");
        assert!(message.contains("shop__refund"), "{message}");
        assert!(message.contains("Order A17 is locked."), "{message}");
        let silent = output("shop__refund", &json!({"content": [], "isError": true}));
        assert!(silent["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no reason")));
    }

    #[test]
    fn an_oversized_result_is_refused() {
        let big = json!({"content": [{"type": "text", "text": "x".repeat(MAX_OUTPUT_BYTES)}]});
        assert_eq!(output("shop__x", &big)["error"]["kind"], "bad_answer");
    }
}
