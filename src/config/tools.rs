//! `[[tools]]`: the functions the agent may call during a call, checked by
//! `warmline check` before a call can reach them.
//!
//! A tool's schema, URL and named environment variables are all checked
//! here, so a typo fails at start-up and not in front of a caller. Secrets
//! are named, never written: `secret_env` and `headers_env` name variables
//! that the environment-override parser then leaves alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod mcp;
use mcp::validate_mcp;

/// The variable holding the default key that signs webhook requests.
pub const TOOLS_SECRET_VAR: &str = "WARMLINE_TOOLS_SECRET";
/// The variable holding the admin API token (read by the API, never a
/// config override).
pub const ADMIN_TOKEN_VAR: &str = "WARMLINE_ADMIN_TOKEN";
/// The built-in tools, always offered to the model.
pub const BUILTINS: [&str; 4] = [
    "end_call",
    "escalate_to_human",
    "send_dtmf",
    "take_callback",
];
/// The latest a filler may start (the silence bound of issue 11).
pub const MAX_FILLER_AFTER_MS: u64 = 1_400;
/// Most retries an idempotent tool may ask for.
pub const MAX_RETRIES: u32 = 5;

/// What runs a tool.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// An HTTPS endpoint, called with a signed request.
    Webhook,
    /// A Streamable HTTP MCP server: every tool it lists, offered to the
    /// model as `<name>__<tool>` (decision 0015).
    Mcp,
    /// One of warmline's own tools ([`BUILTINS`]), to change its description.
    Builtin,
}

/// Whether a person must approve each call of the tool.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// The tool runs at once.
    #[default]
    None,
    /// A person approves each call first, through `/api/v1/approvals`
    /// (`crate::tools::approval`).
    Required,
}

/// One `[[tools]]` table.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// The function name the model calls (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default)]
    pub description: String,
    /// The arguments' JSON Schema, inline (an object schema). After
    /// loading it also holds the schema read from `parameters_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// A JSON file holding the schema, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_file: Option<PathBuf>,
    /// `webhook`, `mcp` or `builtin`.
    pub kind: ToolKind,
    /// The endpoint (webhook: `http://` or `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `POST` (default), `PUT` or `PATCH`: the signed body needs one.
    #[serde(default = "default_method")]
    pub method: String,
    /// Plain headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header name → the environment variable holding its value.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// The whole call, retries included, must answer within this.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra attempts after a failure; only with `idempotent = true`.
    #[serde(default)]
    pub retries: u32,
    /// Whether repeating a call is harmless (allows `retries`).
    #[serde(default)]
    pub idempotent: bool,
    /// `none` or `required`.
    #[serde(default)]
    pub approval: Approval,
    /// With `approval = "required"`: how long a call waits for a decision
    /// before it is answered as not approved.
    #[serde(default = "default_approval_timeout_ms")]
    pub approval_timeout_ms: u64,
    /// How long the tool may run before the caller hears the filler
    /// (`[call]`, decision 0017), ms: at most 1400, so that it starts
    /// before 1.5 s of silence.
    #[serde(default = "default_filler_after_ms")]
    pub filler_after_ms: u64,
    /// The variable holding this tool's signing key, instead of
    /// `WARMLINE_TOOLS_SECRET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

fn default_method() -> String {
    "POST".to_owned()
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_filler_after_ms() -> u64 {
    700
}
fn default_approval_timeout_ms() -> u64 {
    60_000
}

/// The range `approval_timeout_ms` must fall in: long enough for a person
/// to read the request, short enough that a caller is not left holding.
pub const APPROVAL_TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=600_000;

impl ToolConfig {
    /// The environment variables this tool names.
    pub fn named_env(&self) -> impl Iterator<Item = &str> {
        self.secret_env
            .as_deref()
            .into_iter()
            .chain(self.headers_env.values().map(String::as_str))
    }
}

/// Reads each `parameters_file` (relative to the config file's directory)
/// into `parameters`.
pub fn load_parameter_files(tools: &mut [ToolConfig], origin: &Path) -> Result<(), String> {
    let base = origin.parent().unwrap_or(Path::new("."));
    for tool in tools {
        let Some(file) = &tool.parameters_file else {
            continue;
        };
        if tool.parameters.is_some() {
            return Err(format!(
                "tool {:?}: set parameters or parameters_file, not both",
                tool.name
            ));
        }
        let path = base.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "tool {:?}: cannot read parameters_file {}: {e}",
                tool.name,
                path.display()
            )
        })?;
        let schema = serde_json::from_str(&text).map_err(|e| {
            format!(
                "tool {:?}: parameters_file {} is not JSON: {e}",
                tool.name,
                path.display()
            )
        })?;
        tool.parameters = Some(schema);
    }
    Ok(())
}

/// Checks every tool; `env` answers whether a variable is set (non-empty).
pub fn validate(tools: &[ToolConfig], env: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for tool in tools {
        let name = &tool.name;
        let bad = |what: String| Err(format!("tool {name:?}: {what}"));
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad("name must be 1 to 64 letters, digits, '_' or '-'".into());
        }
        if !seen.insert(name.clone()) {
            return bad("defined twice".into());
        }
        if let Some(schema) = &tool.parameters {
            check_schema(schema).or_else(|e| bad(format!("invalid parameters schema: {e}")))?;
        }
        check_approval(tool).or_else(bad)?;
        if tool.filler_after_ms > MAX_FILLER_AFTER_MS {
            return bad(format!(
                "filler_after_ms ({}) must be at most {MAX_FILLER_AFTER_MS}: the caller never \
                 waits more than 1.5 s in silence for a tool",
                tool.filler_after_ms
            ));
        }
        if name == "transfer_call" {
            return bad(
                "transfer_call is warmline's own blind transfer: configure it with \
                 [[transfer_targets]] and the agents' transfer_targets (decision 0033)"
                    .into(),
            );
        }
        match tool.kind {
            ToolKind::Mcp => {
                validate_mcp(tool, env).or_else(bad)?;
                continue;
            }
            ToolKind::Builtin => {
                if !BUILTINS.contains(&name.as_str()) {
                    return bad(format!(
                        "no built-in tool of that name (built-ins: {BUILTINS:?})"
                    ));
                }
                continue;
            }
            ToolKind::Webhook => {}
        }
        if tool.description.trim().is_empty() {
            return bad("description is empty: the model needs it to know when to call".into());
        }
        let Some(url) = &tool.url else {
            return bad("a webhook needs url".into());
        };
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => {
                return bad(format!(
                    "url {url:?} must be http:// or https:// with a host"
                ))
            }
            Err(e) => return bad(format!("url {url:?} is not a URL: {e}")),
        }
        if !matches!(tool.method.as_str(), "POST" | "PUT" | "PATCH") {
            return bad(format!(
                "method {:?}: use POST, PUT or PATCH (the signed body needs one)",
                tool.method
            ));
        }
        if !(100..=120_000).contains(&tool.timeout_ms) {
            return bad(format!(
                "timeout_ms ({}) must be 100..=120000",
                tool.timeout_ms
            ));
        }
        if tool.retries > 0 && !tool.idempotent {
            return bad("retries apply only with idempotent = true: repeating a call that is not idempotent could do it twice".into());
        }
        if tool.retries > MAX_RETRIES {
            return bad(format!(
                "retries ({}) must be at most {MAX_RETRIES}",
                tool.retries
            ));
        }
        for header in tool.headers.keys().chain(tool.headers_env.keys()) {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return bad(format!("{header:?} is not a valid header name"));
            }
        }
        for var in tool.named_env() {
            if !env(var) {
                return bad(format!("environment variable {var} is named but not set"));
            }
        }
        if tool.secret_env.is_none() && !env(TOOLS_SECRET_VAR) {
            return bad(format!(
                "webhook requests are signed: set {TOOLS_SECRET_VAR} or the tool's secret_env"
            ));
        }
    }
    Ok(())
}

/// The approval keys: any tool the sidecar runs may require approval;
/// `end_call` cannot (the call core ends the call itself, no sidecar task
/// could wait).
fn check_approval(tool: &ToolConfig) -> Result<(), String> {
    if !APPROVAL_TIMEOUT_RANGE_MS.contains(&tool.approval_timeout_ms) {
        return Err(format!(
            "approval_timeout_ms ({}) must be {}..={}",
            tool.approval_timeout_ms,
            APPROVAL_TIMEOUT_RANGE_MS.start(),
            APPROVAL_TIMEOUT_RANGE_MS.end()
        ));
    }
    if tool.approval == Approval::Required && tool.name == "end_call" {
        return Err(
            "end_call cannot require approval: the call ends it at once, with no task to wait in"
                .into(),
        );
    }
    Ok(())
}

/// The checks a function schema must pass for the model to use it.
fn check_schema(schema: &serde_json::Value) -> Result<(), String> {
    let object = schema
        .as_object()
        .ok_or("must be a table (a JSON object)")?;
    if object.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err("must have type = \"object\"".into());
    }
    let properties = match object.get("properties") {
        None => None,
        Some(serde_json::Value::Object(p)) => Some(p),
        Some(_) => return Err("properties must be a table".into()),
    };
    for (key, property) in properties.into_iter().flatten() {
        let Some(p) = property.as_object() else {
            return Err(format!("property {key:?} must be a table"));
        };
        if let Some(t) = p.get("type") {
            let known = [
                "string", "number", "integer", "boolean", "object", "array", "null",
            ];
            let ok = match t {
                serde_json::Value::String(s) => known.contains(&s.as_str()),
                serde_json::Value::Array(a) => a
                    .iter()
                    .all(|s| s.as_str().is_some_and(|s| known.contains(&s))),
                _ => false,
            };
            if !ok {
                return Err(format!("property {key:?} has an unknown type {t}"));
            }
        }
    }
    match object.get("required") {
        None => {}
        Some(serde_json::Value::Array(required)) => {
            for r in required {
                let Some(r) = r.as_str() else {
                    return Err("required must list property names".into());
                };
                if !properties.is_some_and(|p| p.contains_key(r)) {
                    return Err(format!("required names {r:?}, which is not a property"));
                }
            }
        }
        Some(_) => return Err("required must be an array".into()),
    }
    // Then the whole schema against its meta-schema (draft 2020-12 unless
    // it names another), compiled as a validator would be: a bad pattern
    // or keyword value fails here and not when the model calls.
    jsonschema::validator_for(schema)
        .map(drop)
        .map_err(|e| e.to_string())
}
