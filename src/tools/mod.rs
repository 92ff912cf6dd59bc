//! The tool sidecar: runs every call's tools on the main multi-threaded
//! runtime, beside the audio path and never on a media worker.
//!
//! It owns the tools built from `[[tools]]` and the built-ins, the specs
//! sent to the model, and one [`CallTools`] per call with a concurrency
//! cap; a call's tasks live in a `JoinSet` that aborts them all when the
//! call's handle is dropped (the caller hung up). The call side of the
//! seam is [`crate::call::tools`]; it knows nothing of HTTP.

pub mod approval;
pub mod callback;
pub mod dispatch;
pub mod events;
pub mod mcp;
pub mod reload;
pub mod signing;
mod specs;
pub mod transfer;
pub mod webhook;

pub use specs::specs;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::call::tools::{
    ApprovalRecord, CallIdentity, CallTools, ToolCall, ToolOutput, ToolResults, ToolSidecar,
};
use crate::config::tools::TOOLS_SECRET_VAR;
use crate::config::{ToolConfig, ToolKind};
use crate::model::ToolSpec;
use webhook::Webhook;

/// Tool calls of one call that may run at once.
pub const PER_CALL_CONCURRENCY: usize = 4;

/// Errors building the sidecar from a configuration that `check` passed
/// (the environment changed between the two, for example).
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// A named environment variable is unset or empty.
    #[error(
        "tool {tool:?}: environment variable {variable} is not set; set it or remove the tool"
    )]
    MissingEnv {
        /// The tool.
        tool: String,
        /// The variable.
        variable: String,
    },
    /// A value is unusable: run `warmline check` for the details.
    #[error("tool {tool:?}: {message}; run `warmline check`")]
    Invalid {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the tools' HTTP client: {0}")]
    Client(String),
}

/// The process's tool runner.
#[derive(Clone)]
pub struct Sidecar {
    runtime: Handle,
    client: reqwest::Client,
    webhooks: Arc<HashMap<String, Webhook>>,
    per_call: usize,
    /// Tools with `approval = "required"`, and the pending approvals.
    gates: Arc<HashMap<String, approval::Gate>>,
    approvals: approval::Approvals,
    /// The built-ins and webhooks, each with its `[[tools]]` entry name.
    fixed: Arc<Vec<(String, ToolSpec)>>,
    /// The MCP servers, connected in the background.
    mcp: Arc<McpServers>,
    /// Where `escalate_to_human` goes (`crate::handoff`, decision 0028);
    /// none: it answers that no reps are configured.
    escalator: Option<Arc<dyn crate::handoff::Escalator>>,
    /// `transfer_call`'s targets (decision 0033); none: not offered.
    transfers: Option<Arc<transfer::Transfers>>,
    /// Where calls' handles are found (`transfer_call` reaches the
    /// caller's leg through it); a reload keeps it.
    registry: Option<crate::call::registry::SharedRegistry>,
}

/// The MCP entries and their connection tasks, aborted when the last
/// sidecar handle is dropped.
#[derive(Debug, Default)]
struct McpServers {
    servers: Vec<Arc<mcp::McpServer>>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for McpServers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar")
            .field("webhooks", &self.webhooks.values().collect::<Vec<_>>())
            .field("mcp", &self.mcp.servers)
            .field("per_call", &self.per_call)
            .finish()
    }
}

impl Sidecar {
    /// Builds the tools of `config`, reading named variables through
    /// `env`; tool I/O will run on `runtime`.
    pub fn new(
        config: &[ToolConfig],
        env: &dyn Fn(&str) -> Option<String>,
        runtime: Handle,
    ) -> Result<Sidecar, ToolsError> {
        let get = |tool: &str, variable: &str| {
            env(variable)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ToolsError::MissingEnv {
                    tool: tool.to_owned(),
                    variable: variable.to_owned(),
                })
        };
        let mut gates = HashMap::new();
        let offered = specs(config);
        for tool in config {
            let schema = offered
                .iter()
                .find(|s| s.name == tool.name)
                .map(|s| &s.parameters);
            let empty = json!({"type": "object", "properties": {}});
            let gate = approval::Gate::of(tool, schema.unwrap_or(&empty)).map_err(|message| {
                ToolsError::Invalid {
                    tool: tool.name.clone(),
                    message,
                }
            })?;
            gates.extend(gate.map(|g| (tool.name.clone(), g)));
        }
        let mut webhooks = HashMap::new();
        for tool in config.iter().filter(|t| t.kind == ToolKind::Webhook) {
            let invalid = |message: String| ToolsError::Invalid {
                tool: tool.name.clone(),
                message,
            };
            let url = tool
                .url
                .as_deref()
                .ok_or_else(|| invalid("no url".into()))
                .and_then(|u| reqwest::Url::parse(u).map_err(|e| invalid(e.to_string())))?;
            let method = reqwest::Method::from_bytes(tool.method.as_bytes())
                .map_err(|e| invalid(e.to_string()))?;
            let headers = resolve_headers(tool, &get)?;
            let secret = get(
                &tool.name,
                tool.secret_env.as_deref().unwrap_or(TOOLS_SECRET_VAR),
            )?;
            webhooks.insert(
                tool.name.clone(),
                Webhook {
                    name: tool.name.clone(),
                    url,
                    method,
                    headers,
                    timeout: Duration::from_millis(tool.timeout_ms),
                    retries: if tool.idempotent { tool.retries } else { 0 },
                    secret: secret.into_bytes(),
                },
            );
        }
        let client = reqwest::Client::builder()
            // The process's one crypto provider (decision 0001).
            .use_preconfigured_tls((*crate::tls::client_config()).clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ToolsError::Client(e.to_string()))?;
        let fixed: Vec<(String, ToolSpec)> = specs(config)
            .into_iter()
            .map(|spec| (spec.name.clone(), spec))
            .collect();
        let mcp = start_mcp(config, &get, &client, &runtime, &fixed)?;
        Ok(Sidecar {
            runtime,
            client,
            webhooks: Arc::new(webhooks),
            per_call: PER_CALL_CONCURRENCY,
            gates: Arc::new(gates),
            approvals: approval::Approvals::default(),
            fixed: Arc::new(fixed),
            mcp: Arc::new(mcp),
            escalator: None,
            transfers: None,
            registry: None,
        })
    }

    /// Finds calls' handles in `registry` (for `transfer_call`).
    pub fn with_registry(
        mut self,
        registry: Option<crate::call::registry::SharedRegistry>,
    ) -> Sidecar {
        self.registry = registry;
        self
    }

    /// Where calls' handles are found, if anywhere: a reload keeps it.
    pub fn registry(&self) -> Option<crate::call::registry::SharedRegistry> {
        self.registry.clone()
    }

    /// Offers `transfer_call` with `transfers`' targets.
    pub fn with_transfers(mut self, transfers: Option<transfer::Transfers>) -> Sidecar {
        self.transfers = transfers.map(Arc::new);
        self
    }

    /// Sends `escalate_to_human` to `escalator` (reps, queues and warm
    /// transfer) instead of answering that no reps are configured.
    pub fn with_escalator(mut self, escalator: Arc<dyn crate::handoff::Escalator>) -> Sidecar {
        self.escalator = Some(escalator);
        self
    }

    /// Where `escalate_to_human` goes, if anywhere: a reload keeps it.
    pub fn escalator(&self) -> Option<Arc<dyn crate::handoff::Escalator>> {
        self.escalator.clone()
    }

    /// The pending approvals of this sidecar's calls, for the API.
    pub fn approvals(&self) -> &approval::Approvals {
        &self.approvals
    }

    /// This sidecar with `approvals` as its registry of pending approvals
    /// (a reload keeps the one the API serves).
    pub fn with_approvals(mut self, approvals: approval::Approvals) -> Sidecar {
        self.approvals = approvals;
        self
    }

    /// The specs to offer a call starting now: the built-ins, the
    /// webhooks, and whatever each MCP server lists at this moment.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.collect(|_| true)
    }

    /// The specs of the named `[[tools]]` entries only (built-ins by their
    /// own names; an MCP entry's name selects every tool its server lists
    /// now), in configuration order. Unknown names select nothing.
    pub fn specs_of(&self, entries: &[&str]) -> Vec<ToolSpec> {
        self.collect(|entry| entries.contains(&entry))
    }

    fn collect(&self, keep: impl Fn(&str) -> bool) -> Vec<ToolSpec> {
        let mut out: Vec<ToolSpec> = self
            .fixed
            .iter()
            .filter(|(entry, _)| keep(entry))
            .map(|(_, spec)| spec.clone())
            .collect();
        for server in self.mcp.servers.iter().filter(|s| keep(s.entry())) {
            out.extend(server.tools().iter().map(|t| t.spec.clone()));
        }
        out
    }

    /// The `[[tools]]` entry a function name the model calls belongs to
    /// (itself for built-ins and webhooks, the MCP entry for a server's
    /// tool), for settings kept per entry; `None` for unknown names.
    pub fn entry_of(&self, name: &str) -> Option<String> {
        if self.fixed.iter().any(|(entry, _)| entry == name) {
            return Some(name.to_owned());
        }
        self.mcp
            .servers
            .iter()
            .find(|s| s.offers(name))
            .map(|s| s.entry().to_owned())
    }

    /// Sets how many tool calls of one call may run at once.
    pub fn with_per_call_cap(mut self, cap: usize) -> Sidecar {
        self.per_call = cap.max(1);
        self
    }
}

impl ToolSidecar for Sidecar {
    fn current_specs(&self) -> Option<Vec<ToolSpec>> {
        Some(self.specs())
    }

    fn current_specs_of(&self, entries: &[&str]) -> Option<Vec<ToolSpec>> {
        Some(self.specs_of(entries))
    }

    fn agent_specs(&self, agent: Option<&str>) -> Vec<ToolSpec> {
        transfer::agent_spec(self.transfers.as_ref(), agent)
            .into_iter()
            .collect()
    }

    fn open(&self, call: CallIdentity, results: ToolResults) -> Box<dyn CallTools> {
        Box::new(CallHandle {
            sidecar: self.clone(),
            call: Arc::new(call),
            results,
            running: Arc::new(Semaphore::new(self.per_call)),
            tasks: JoinSet::new(),
        })
    }
}

/// One call's tools; dropping it aborts every task still running.
struct CallHandle {
    sidecar: Sidecar,
    call: Arc<CallIdentity>,
    results: ToolResults,
    running: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl CallTools for CallHandle {
    fn run(&mut self, tool_call: ToolCall) {
        self.run_arrived(tool_call, std::time::Instant::now());
    }

    fn run_arrived(&mut self, tool_call: ToolCall, arrived: std::time::Instant) {
        // Reap what finished, so the set stays as small as what runs.
        while self.tasks.try_join_next().is_some() {}
        let results = self.results.clone();
        let Ok(permit) = self.running.clone().try_acquire_owned() else {
            let output = webhook::error(
                "busy",
                format!(
                    "{} tool calls are already running for this call; {} did not run. Try again when one answers.",
                    self.sidecar.per_call, tool_call.name
                ),
            );
            record(self.sidecar.label(&tool_call.name), &output, Duration::ZERO);
            // Sent from the main runtime: the media worker never waits.
            self.sidecar.runtime.spawn(async move {
                let _ = results
                    .send(ToolOutput::plain(tool_call.call_id, output.to_string()))
                    .await;
            });
            return;
        };
        let sidecar = self.sidecar.clone();
        let call = self.call.clone();
        let span = tracing::Span::current();
        let task = async move {
            let _permit = permit;
            let started = tokio::time::Instant::now();
            let (output, approval) = sidecar.gated(&call, &tool_call).await;
            record(sidecar.label(&tool_call.name), &output, started.elapsed());
            let _ = results
                .send(ToolOutput {
                    call_id: tool_call.call_id,
                    output: output.to_string(),
                    approval,
                })
                .await;
        };
        let task = dispatch::with_arrival(arrived, task);
        self.tasks.spawn_on(
            tracing::Instrument::instrument(task, span),
            &self.sidecar.runtime,
        );
    }
}

impl Sidecar {
    /// The metric label for a tool name: the model may invent names, and
    /// labels must stay a small set.
    fn label<'a>(&self, name: &'a str) -> &'a str {
        if self.webhooks.contains_key(name)
            || crate::config::tools::BUILTINS.contains(&name)
            || name == transfer::TRANSFER_CALL
            || self.mcp.servers.iter().any(|s| s.offers(name))
        {
            name
        } else {
            "unknown"
        }
    }

    /// Runs a tool call, after its approval when the tool requires one;
    /// how the approval went, when there was one.
    async fn gated(
        &self,
        call: &CallIdentity,
        tool_call: &ToolCall,
    ) -> (Value, Option<ApprovalRecord>) {
        // An MCP server's tools share their `[[tools]]` entry's gate.
        let gate = self.gates.get(&tool_call.name).or_else(|| {
            self.entry_of(&tool_call.name)
                .and_then(|entry| self.gates.get(&entry))
        });
        let Some(gate) = gate else {
            return (self.execute(call, tool_call).await, None);
        };
        let (verdict, record) = self.approvals.wait_recorded(gate, call, tool_call).await;
        let output = match verdict {
            approval::Verdict::Run { arguments } => {
                let approved = ToolCall {
                    arguments,
                    ..tool_call.clone()
                };
                self.execute(call, &approved).await
            }
            approval::Verdict::Answer(output) => output,
        };
        (output, Some(record))
    }

    async fn execute(&self, call: &CallIdentity, tool_call: &ToolCall) -> Value {
        if let Some(hook) = self.webhooks.get(&tool_call.name) {
            return hook
                .call(&self.client, call, &tool_call.call_id, &tool_call.arguments)
                .await;
        }
        if let Some(server) = self.mcp.servers.iter().find(|s| s.offers(&tool_call.name)) {
            return server
                .call(
                    call,
                    &tool_call.call_id,
                    &tool_call.name,
                    &tool_call.arguments,
                )
                .await;
        }
        match tool_call.name.as_str() {
            "escalate_to_human" => match &self.escalator {
                Some(escalator) => escalator.escalate(call, &tool_call.arguments).await,
                None => escalate_to_human(&tool_call.arguments),
            },
            callback::TAKE_CALLBACK => callback::take(call, &tool_call.arguments),
            transfer::TRANSFER_CALL => match &self.transfers {
                Some(transfers) => {
                    transfers
                        .run(&self.client, self.registry.as_ref(), call, &tool_call.arguments)
                        .await
                }
                None => webhook::error(
                    "unknown_tool",
                    "No transfer targets are configured on this line, so the call cannot be transferred; nothing was dialled.".into(),
                ),
            },
            name => webhook::error(
                "unknown_tool",
                format!("There is no tool called {name}; nothing was done."),
            ),
        }
    }
}

/// A tool's headers, plain and from the environment (those marked
/// sensitive, so they never show in logs).
fn resolve_headers(
    tool: &ToolConfig,
    get: &dyn Fn(&str, &str) -> Result<String, ToolsError>,
) -> Result<reqwest::header::HeaderMap, ToolsError> {
    let invalid = |message: String| ToolsError::Invalid {
        tool: tool.name.clone(),
        message,
    };
    let mut headers = reqwest::header::HeaderMap::new();
    let plain = tool.headers.iter().map(|(k, v)| Ok((k, v.clone())));
    let named = tool
        .headers_env
        .iter()
        .map(|(k, var)| get(&tool.name, var).map(|v| (k, v)));
    for pair in plain.chain(named) {
        let (name, value) = pair?;
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let mut value = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| invalid(format!("header {name} has a value HTTP cannot carry")))?;
        value.set_sensitive(tool.headers_env.contains_key(name.as_str()));
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Builds the MCP entries and starts each one's connection task on
/// `runtime`; none waits for its server (a down server must not stop
/// start-up).
fn start_mcp(
    config: &[ToolConfig],
    get: &dyn Fn(&str, &str) -> Result<String, ToolsError>,
    client: &reqwest::Client,
    runtime: &Handle,
    fixed: &[(String, ToolSpec)],
) -> Result<McpServers, ToolsError> {
    // A server's tool may not take a name the model already has.
    let reserved: Arc<HashSet<String>> =
        Arc::new(fixed.iter().map(|(_, spec)| spec.name.clone()).collect());
    let mut set = McpServers::default();
    for tool in config.iter().filter(|t| t.kind == ToolKind::Mcp) {
        let url = tool
            .url
            .clone()
            .filter(|u| reqwest::Url::parse(u).is_ok())
            .ok_or_else(|| ToolsError::Invalid {
                tool: tool.name.clone(),
                message: "no usable url".into(),
            })?;
        let server = Arc::new(mcp::McpServer::new(tool, url, resolve_headers(tool, get)?));
        let task = runtime.spawn(server.clone().maintain(client.clone(), reserved.clone()));
        set.tasks.push(task.abort_handle());
        set.servers.push(server);
    }
    Ok(set)
}

/// Logs a finished tool call in the call's span and counts it.
fn record(tool: &str, output: &Value, took: Duration) {
    // `ok`, the error kind, or why approval did not come: a small fixed
    // set, as is `tool` (the config's).
    let not_approved = output.get("status").and_then(Value::as_str).filter(|s| {
        [
            approval::STATUS_REJECTED,
            approval::STATUS_TIMEOUT,
            approval::STATUS_BUSY,
        ]
        .contains(s)
    });
    let outcome = output
        .get("error")
        .map(|e| e.get("kind").and_then(Value::as_str).unwrap_or("error"))
        .or(not_approved)
        .unwrap_or("ok")
        .to_owned();
    tracing::info!(
        tool,
        outcome,
        latency_ms = took.as_millis() as u64,
        "tool call"
    );
    let labels = [("tool", tool.to_owned()), ("outcome", outcome)];
    metrics::histogram!(crate::metrics::TOOL_DURATION, &labels).record(took.as_secs_f64());
    metrics::counter!(crate::metrics::TOOL_CALLS, &labels).increment(1);
}

/// `escalate_to_human` without `[[reps]]`: a clear answer, at once.
fn escalate_to_human(arguments: &str) -> Value {
    let urgency = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v.get("urgency").and_then(Value::as_str).map(str::to_owned))
        .filter(|u| matches!(u.as_str(), "low" | "normal" | "high"))
        .unwrap_or_else(|| "normal".to_owned());
    json!({
        "status": "unavailable",
        "reason": "no_reps_configured",
        "urgency": urgency,
        "message": "No human reps are configured on this line, so the call cannot be handed to a person. Tell the caller, and offer to help or to take a message."
    })
}

#[cfg(test)]
mod tests;
