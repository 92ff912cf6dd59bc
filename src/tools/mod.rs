//! The tool sidecar: runs every call's tools on the main multi-threaded
//! runtime, beside the audio path and never on a media worker.
//!
//! It owns the tools built from `[[tools]]` and the built-ins, the specs
//! sent to the model, and one [`CallTools`] per call with a concurrency
//! cap; a call's tasks live in a `JoinSet` that aborts them all when the
//! call's handle is dropped (the caller hung up). The call side of the
//! seam is [`crate::call::tools`]; it knows nothing of HTTP.

pub mod dispatch;
pub mod events;
pub mod signing;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::call::tools::{CallIdentity, CallTools, ToolCall, ToolResults, ToolSidecar};
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

/// The specs offered to the model: the built-ins, then `[[tools]]`
/// (a `kind = "builtin"` table replaces its built-in's description and,
/// when given, schema).
pub fn specs(tools: &[ToolConfig]) -> Vec<ToolSpec> {
    let mut specs = vec![
        ToolSpec {
            name: "end_call".into(),
            description: "End the call. Say goodbye first; the call ends when you finish speaking."
                .into(),
            parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
        },
        ToolSpec {
            name: "escalate_to_human".into(),
            description: "Hand the caller to a human rep. Tell the caller first.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why the caller needs a person."},
                    "summary": {"type": "string", "description": "What the rep should know."},
                    "urgency": {"type": "string", "enum": ["low", "normal", "high"]}
                },
                "required": ["reason"]
            }),
        },
    ];
    for tool in tools {
        let parameters = tool
            .parameters
            .clone()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if tool.kind == ToolKind::Builtin {
            if let Some(spec) = specs.iter_mut().find(|s| s.name == tool.name) {
                if !tool.description.is_empty() {
                    spec.description = tool.description.clone();
                }
                if tool.parameters.is_some() {
                    spec.parameters = parameters;
                }
            }
            continue;
        }
        specs.push(ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters,
        });
    }
    specs
}

/// The process's tool runner.
#[derive(Clone)]
pub struct Sidecar {
    runtime: Handle,
    client: reqwest::Client,
    webhooks: Arc<HashMap<String, Webhook>>,
    per_call: usize,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar")
            .field("webhooks", &self.webhooks.values().collect::<Vec<_>>())
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
        Ok(Sidecar {
            runtime,
            client,
            webhooks: Arc::new(webhooks),
            per_call: PER_CALL_CONCURRENCY,
        })
    }

    /// Sets how many tool calls of one call may run at once.
    pub fn with_per_call_cap(mut self, cap: usize) -> Sidecar {
        self.per_call = cap.max(1);
        self
    }
}

impl ToolSidecar for Sidecar {
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
                let _ = results.send((tool_call.call_id, output.to_string())).await;
            });
            return;
        };
        let sidecar = self.sidecar.clone();
        let call = self.call.clone();
        let span = tracing::Span::current();
        let task = async move {
            let _permit = permit;
            let started = tokio::time::Instant::now();
            let output = sidecar.execute(&call, &tool_call).await;
            record(sidecar.label(&tool_call.name), &output, started.elapsed());
            let _ = results.send((tool_call.call_id, output.to_string())).await;
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
        if self.webhooks.contains_key(name) || crate::config::tools::BUILTINS.contains(&name) {
            name
        } else {
            "unknown"
        }
    }

    async fn execute(&self, call: &CallIdentity, tool_call: &ToolCall) -> Value {
        if let Some(hook) = self.webhooks.get(&tool_call.name) {
            return hook
                .call(&self.client, call, &tool_call.call_id, &tool_call.arguments)
                .await;
        }
        match tool_call.name.as_str() {
            "escalate_to_human" => escalate_to_human(&tool_call.arguments),
            name => webhook::error(
                "unknown_tool",
                format!("There is no tool called {name}; nothing was done."),
            ),
        }
    }
}

/// Logs a finished tool call in the call's span and counts it.
fn record(tool: &str, output: &Value, took: Duration) {
    // `ok`, or the error kind: a small fixed set, as is `tool` (the config's).
    let outcome = output
        .get("error")
        .map(|e| e.get("kind").and_then(Value::as_str).unwrap_or("error"))
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

/// `escalate_to_human` until reps can be configured: a clear answer,
/// through the same seam the reps will use.
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
mod tests {
    use super::*;

    fn tool(text: &str) -> ToolConfig {
        toml::from_str(text).expect("a tool table")
    }

    #[test]
    fn the_model_gets_the_built_ins_then_the_configured_tools() {
        let lookup = tool(
            "name = \"lookup_order\"\ndescription = \"Look up an order.\"\nkind = \"webhook\"\n\
             url = \"https://x.example/o\"\n\
             parameters = { type = \"object\", properties = { order = { type = \"string\" } } }\n",
        );
        let end =
            tool("name = \"end_call\"\ndescription = \"Hang up politely.\"\nkind = \"builtin\"\n");
        let specs = specs(&[lookup, end]);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["end_call", "escalate_to_human", "lookup_order"]);
        assert_eq!(specs[0].description, "Hang up politely.");
        assert_eq!(
            specs[1].parameters["properties"]["urgency"]["enum"],
            json!(["low", "normal", "high"])
        );
        assert_eq!(specs[1].parameters["required"], json!(["reason"]));
        assert_eq!(specs[2].parameters["properties"]["order"]["type"], "string");
    }

    #[test]
    fn escalate_to_human_keeps_a_known_urgency_and_defaults_to_normal() {
        let high = escalate_to_human(r#"{"reason":"angry","urgency":"high"}"#);
        assert_eq!(high["urgency"], "high");
        assert_eq!(high["reason"], "no_reps_configured");
        let odd = escalate_to_human(r#"{"reason":"x","urgency":"now!!"}"#);
        assert_eq!(odd["urgency"], "normal");
        assert_eq!(escalate_to_human("not json")["urgency"], "normal");
    }
}
