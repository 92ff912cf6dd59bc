//! Configuration: one TOML file, environment overrides, secrets from the
//! environment only.
//!
//! Precedence, lowest first: the embedded defaults (a working single-machine
//! server), the TOML file, then `WARMLINE_<SECTION>__<KEY>` environment
//! variables (for example `WARMLINE_SERVER__HTTP_LISTEN=0.0.0.0:8080`).
//! Override values are parsed as TOML scalars or arrays where they can be,
//! and as strings otherwise.
//!
//! Unknown keys are errors, in the file (with the key's name and line) and in
//! the environment (with the variable's name): a typo must not silently fall
//! back to a default. Secrets (`OPENAI_API_KEY`, `TWILIO_AUTH_TOKEN`,
//! `WARMLINE_ADMIN_TOKEN`) are never read from the file, so a config file
//! can be committed and shared.
//!
//! `warmline.example.toml` at the repository root documents every key; a
//! test keeps it in step with this module.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod media;
pub use media::EARSHOT_THRESHOLD;
mod sip;
pub use sip::{
    Cidr, OutboundConfig, OutboundTransport, SipConfig, SrtpMode, TrunkConfig, UnknownSource,
};
pub mod tools;
pub use tools::{ToolConfig, ToolKind};
pub mod call;
pub use call::CallSection;
pub mod agents;
pub mod records;
pub use agents::{AgentConfig, RouteConfig, RoutingConfig};
pub mod events;
pub mod routing;
pub mod store;
pub use events::EventsConfig;
pub use store::StoreConfig;
pub mod webrtc;
pub use webrtc::{TryAccess, WebConfig, WebRtcConfig};
pub mod handoff;
pub use handoff::{AgentAfterBridge, HandoffConfig, RepConfig};
pub mod transfer;
pub use transfer::TransferTargetConfig;

/// Prefix of override variables.
pub const ENV_PREFIX: &str = "WARMLINE_";
/// The variable that names the configuration file (like `--config`).
pub const CONFIG_FILE_VAR: &str = "WARMLINE_CONFIG";

/// Errors from loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has wrong or unknown keys. The message
    /// names the key and its line.
    #[error("invalid config file {path}: {message}{hint}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
        /// Extra advice, for example for a secret placed in the file.
        hint: String,
    },
    /// An override variable names no known key or has a bad value.
    #[error("invalid environment override {variable}: {message}")]
    InvalidEnv {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not make sense together.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The audio path.
    pub media: MediaConfig,
    /// Turn-taking: pausing for caller sounds, resuming, answering.
    pub turn: TurnSection,
    /// SIP ingress.
    pub sip: SipConfig,
    /// The realtime speech model.
    pub model: ModelConfig,
    /// Twilio Media Streams ingress.
    pub twilio: TwilioConfig,
    /// `[[tools]]`: functions the agent may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolConfig>,
    /// Dead air: the filler while a tool runs, a silent caller.
    pub call: CallSection,
    /// `[[agents]]`: who answers calls (none: `[model]` is the one agent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentConfig>,
    /// `[[routes]]`: which agent answers which called number or trunk.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    /// `[routing]`: how called numbers are normalised.
    pub routing: RoutingConfig,
    /// `[events]`: the call-events webhook.
    pub events: EventsConfig,
    /// `[webrtc]`: the browser leg's media.
    pub webrtc: WebRtcConfig,
    /// `[web]`: the `/try` page.
    pub web: WebConfig,
    /// `[store]`: where call records are kept.
    pub store: StoreConfig,
    /// `[recording]`: where recorded calls go and for how long.
    pub recording: records::RecordingSection,
    /// `[csat]`: the post-call survey.
    pub csat: records::CsatSection,
    /// `[[reps]]`: the people calls are escalated to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reps: Vec<RepConfig>,
    /// `[handoff]`: how a warm transfer waits, rings and bridges.
    pub handoff: HandoffConfig,
    /// `[[transfer_targets]]`: where `transfer_call` may send a call
    /// (decision 0033).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transfer_targets: Vec<TransferTargetConfig>,
}

/// `[twilio]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    /// The public base URL Twilio reaches us at, e.g.
    /// `https://voice.example.com`. Signatures are checked against it, and
    /// the stream URL in the TwiML is built from it. Without it, the
    /// request's `Host` header is used (fine for local tests, wrong behind
    /// a proxy that rewrites it).
    pub public_base_url: Option<String>,
    /// Development only: accept unsigned Twilio requests when no
    /// `TWILIO_AUTH_TOKEN` is set. Logged loudly at start-up.
    pub insecure_skip_signature: bool,
    /// Where Twilio's REST API is (`transfer_call` updates calls there);
    /// [`TWILIO_API_BASE`] when absent. Tests point it at a fake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
}

/// Twilio's REST API.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

impl TwilioConfig {
    /// `api_base_url`, or Twilio's own, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        self.api_base_url
            .as_deref()
            .unwrap_or(TWILIO_API_BASE)
            .trim_end_matches('/')
    }
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP server (health, Twilio webhooks, WebSockets, UI).
    pub http_listen: SocketAddr,
    /// Seconds calls in progress get to finish after the first SIGTERM or
    /// SIGINT; then each hears the closing prompt and is hung up
    /// ([`crate::drain`], decision record 0012).
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace_secs: 300,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` env-filter directives; `RUST_LOG` wins when set.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Which voice activity detector a call uses.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VadKind {
    /// libfvad (the WebRTC VAD) at 8 kHz.
    #[default]
    Webrtc,
    /// The earshot neural VAD at 16 kHz.
    Earshot,
}

/// `[media]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Smallest jitter-buffer target depth, ms.
    pub jitter_min_ms: u32,
    /// Largest jitter-buffer target depth, ms (at most 60).
    pub jitter_max_ms: u32,
    /// Voice activity detector.
    pub vad: VadKind,
    /// Speech must last this long before speech-started fires, ms.
    pub vad_min_speech_ms: u32,
    /// Silence must last this long before speech-stopped fires, ms.
    pub vad_hangover_ms: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            jitter_min_ms: 0,
            jitter_max_ms: 60,
            vad: VadKind::Webrtc,
            vad_min_speech_ms: 60,
            vad_hangover_ms: 300,
        }
    }
}

/// `[turn]`: how warmline judges caller sounds heard while the agent
/// speaks, and when it answers a caller's turn (decision 0010).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSection {
    /// How long the agent stays paused for a caller sound before the
    /// sound counts as an interruption (cancel and truncate), ms. A sound
    /// that stops within it resumes the agent from the sample where it
    /// paused. 0 turns pausing off: every candidate interrupts at once.
    pub false_interruption_timeout_ms: u32,
    /// Caller quiet that ends a sound (and resumes a paused agent), ms.
    pub resume_after_quiet_ms: u32,
    /// With a model that has turn detection of its own (OpenAI), how long
    /// after warmline's VAD ends the caller's turn a response is requested
    /// even if the model has not ended it, ms.
    pub end_of_turn_fallback_ms: u32,
}

impl Default for TurnSection {
    fn default() -> Self {
        let t = crate::call::TurnConfig::default();
        TurnSection {
            false_interruption_timeout_ms: t.false_interruption_timeout_ms,
            resume_after_quiet_ms: t.resume_after_quiet_ms,
            end_of_turn_fallback_ms: t.end_of_turn_fallback_ms,
        }
    }
}

impl TurnSection {
    /// The call's turn settings.
    pub fn to_call(&self) -> crate::call::TurnConfig {
        crate::call::TurnConfig {
            false_interruption_timeout_ms: self.false_interruption_timeout_ms,
            resume_after_quiet_ms: self.resume_after_quiet_ms,
            end_of_turn_fallback_ms: self.end_of_turn_fallback_ms,
        }
    }
}

/// Which model backend answers calls.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelBackend {
    /// OpenAI when `OPENAI_API_KEY` is set, the demo agent otherwise.
    #[default]
    Auto,
    /// The offline demo agent: no network, no key.
    Demo,
    /// OpenAI Realtime (needs `OPENAI_API_KEY`).
    Openai,
}

/// The audio format on the wire to the model (OpenAI Realtime).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelAudioFormat {
    /// `audio/pcmu`: the caller's μ-law passes through, no resampling.
    #[default]
    Pcmu,
    /// `audio/pcm` at 24 kHz, 16-bit little-endian, resampled 8↔24 kHz.
    Pcm24k,
}

/// `[model]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `auto`, `demo` or `openai`.
    pub backend: ModelBackend,
    /// Realtime model name.
    pub openai_model: String,
    /// Voice of the agent.
    pub openai_voice: String,
    /// WebSocket URL of the Realtime API (override for tests and proxies).
    pub openai_url: String,
    /// System instructions for the agent.
    pub instructions: String,
    /// `pcmu` or `pcm24k`: the audio format both ways with OpenAI. The
    /// demo agent always speaks μ-law (nothing crosses a wire).
    pub audio_format: ModelAudioFormat,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backend: ModelBackend::Auto,
            openai_model: "gpt-realtime".to_owned(),
            openai_voice: "marin".to_owned(),
            openai_url: "wss://api.openai.com/v1/realtime".to_owned(),
            instructions: "You are a helpful phone agent. Be brief.".to_owned(),
            audio_format: ModelAudioFormat::Pcmu,
        }
    }
}

/// Secrets, read from the environment only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<String>,
    /// `TWILIO_AUTH_TOKEN`, for webhook signature checks.
    pub twilio_auth_token: Option<String>,
    /// `WARMLINE_ADMIN_TOKEN`, the bearer token of the `/api/v1` routes
    /// (`crate::http::admin`); without it they answer 401.
    pub admin_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, only whether it is set.
        f.debug_struct("Secrets")
            .field(
                "openai_api_key",
                &self.openai_api_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "twilio_auth_token",
                &self.twilio_auth_token.as_ref().map(|_| "<set>"),
            )
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Secrets {
    /// Reads the secrets from an environment (a list of name/value pairs).
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> Secrets {
        let mut secrets = Secrets::default();
        for (name, value) in vars {
            let value = Some(value).filter(|v| !v.is_empty());
            match name.as_str() {
                "OPENAI_API_KEY" => secrets.openai_api_key = value,
                "TWILIO_AUTH_TOKEN" => secrets.twilio_auth_token = value,
                tools::ADMIN_TOKEN_VAR => secrets.admin_token = value,
                _ => {}
            }
        }
        secrets
    }
}

impl Config {
    /// Loads the configuration: defaults, then `path` if given, then the
    /// `WARMLINE_*` variables in `env`.
    pub fn load<I>(path: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
                p.to_owned(),
            ),
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        Config::from_toml_and_env(&text, &origin, env)
    }

    /// Parses `text` (from `origin`) and applies the overrides in `env`.
    pub fn from_toml_and_env<I>(text: &str, origin: &Path, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        // First pass on the file alone, so errors carry its line numbers.
        let config: Config = toml::from_str(text).map_err(|e| invalid(origin, &e))?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        // Variables the config names as holding a secret are read by
        // name, never taken for overrides.
        let named = config.named_env();
        let overrides: Vec<(String, String)> = env
            .iter()
            // WARMLINE_CONFIG names the file; it is not an override.
            .filter(|(k, _)| {
                k.starts_with(ENV_PREFIX)
                    && k != CONFIG_FILE_VAR
                    && k != tools::TOOLS_SECRET_VAR
                    && k != tools::ADMIN_TOKEN_VAR
                    && !named.contains(k)
            })
            .cloned()
            .collect();
        let config = if overrides.is_empty() {
            config
        } else {
            let mut table: toml::Table = toml::from_str(text).map_err(|e| invalid(origin, &e))?;
            for (variable, value) in &overrides {
                apply_override(&mut table, variable, value)?;
                // Check each override on its own so the error names it.
                toml::Value::Table(table.clone())
                    .try_into::<Config>()
                    .map_err(|e| ConfigError::InvalidEnv {
                        variable: variable.clone(),
                        message: e.message().to_owned(),
                    })?;
            }
            toml::Value::Table(table)
                .try_into::<Config>()
                .map_err(|e| ConfigError::Inconsistent(e.to_string()))?
        };
        let mut config = config;
        tools::load_parameter_files(&mut config.tools, origin)
            .map_err(ConfigError::Inconsistent)?;
        config.call.resolve(origin);
        config.call.validate().map_err(ConfigError::Inconsistent)?;
        config.handoff.resolve(origin);
        config
            .handoff
            .validate()
            .map_err(ConfigError::Inconsistent)?;
        agents::load_instruction_files(&mut config.agents, origin)
            .map_err(ConfigError::Inconsistent)?;
        config
            .validate_records(origin)
            .map_err(ConfigError::Inconsistent)?;
        for outbound in &mut config.sip.outbound {
            outbound.resolve(origin);
        }
        config.validate()?;
        for outbound in &config.sip.outbound {
            outbound
                .check_ca_file()
                .map_err(ConfigError::Inconsistent)?;
        }
        let set = |name: &str| env.iter().any(|(k, v)| k == name && !v.is_empty());
        tools::validate(&config.tools, &set).map_err(ConfigError::Inconsistent)?;
        config
            .events
            .validate(&set)
            .map_err(ConfigError::Inconsistent)?;
        let read = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        config
            .store
            .validate(&read)
            .map_err(ConfigError::Inconsistent)?;
        handoff::validate_reps(&config.reps, &set).map_err(ConfigError::Inconsistent)?;
        handoff::validate_rep_trunks(&config.reps, &config.sip.outbound, &set)
            .map_err(ConfigError::Inconsistent)?;
        if let Some(rep) = config.reps.iter().find(|r| r.sip_uri.is_some()) {
            if !config.sip.enabled {
                return Err(ConfigError::Inconsistent(format!(
                    "reps {:?}: sip_uri needs [sip] enabled = true (the rep's phone is called \
                     from the SIP endpoint)",
                    rep.id
                )));
            }
        }
        Ok(config)
    }

    /// Every environment variable a `*_env` key names.
    pub fn named_env(&self) -> std::collections::BTreeSet<String> {
        self.tools
            .iter()
            .flat_map(ToolConfig::named_env)
            .chain(
                self.sip
                    .trunks
                    .iter()
                    .filter_map(|t| t.digest_password_env.as_deref()),
            )
            .chain(
                self.sip
                    .outbound
                    .iter()
                    .filter_map(|o| o.password_env.as_deref()),
            )
            .chain(self.events.named_env())
            .chain(self.reps.iter().map(|r| r.token_env.as_str()))
            .chain(
                self.reps
                    .iter()
                    .filter_map(|r| r.sip_password_env.as_deref()),
            )
            .map(str::to_owned)
            .collect()
    }

    /// Checks relations between values that the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.media;
        if m.jitter_max_ms > 60 || m.jitter_min_ms > m.jitter_max_ms {
            return Err(ConfigError::Inconsistent(format!(
                "media.jitter_min_ms ({}) must be ≤ media.jitter_max_ms ({}) ≤ 60",
                m.jitter_min_ms, m.jitter_max_ms
            )));
        }
        let t = &self.turn;
        if t.false_interruption_timeout_ms > 5_000
            || !(60..=1_000).contains(&t.resume_after_quiet_ms)
            || t.end_of_turn_fallback_ms > 10_000
        {
            return Err(ConfigError::Inconsistent(format!(
                "turn.false_interruption_timeout_ms ({}) must be ≤ 5000, turn.resume_after_quiet_ms ({}) within 60–1000, turn.end_of_turn_fallback_ms ({}) ≤ 10000",
                t.false_interruption_timeout_ms, t.resume_after_quiet_ms, t.end_of_turn_fallback_ms
            )));
        }
        if m.vad_min_speech_ms > 1_000 || !(20..=5_000).contains(&m.vad_hangover_ms) {
            return Err(ConfigError::Inconsistent(format!(
                "media.vad_min_speech_ms ({}) must be ≤ 1000 and media.vad_hangover_ms ({}) \
                 between 20 and 5000",
                m.vad_min_speech_ms, m.vad_hangover_ms
            )));
        }
        self.sip.validate().map_err(ConfigError::Inconsistent)?;
        let sip_reps = self.reps.iter().any(|r| r.sip_password_env.is_some());
        if sip_reps && self.sip.domain.is_none() && self.sip.listen.ip().is_unspecified() {
            return Err(ConfigError::Inconsistent(format!(
                "reps register SIP phones but sip.listen ({}) is a wildcard: set sip.domain to the name or address phones register at",
                self.sip.listen
            )));
        }
        self.webrtc.validate().map_err(ConfigError::Inconsistent)?;
        if let Some(base) = &self.twilio.api_base_url {
            let ok = reqwest::Url::parse(base)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host());
            if !ok {
                return Err(ConfigError::Inconsistent(format!(
                    "twilio.api_base_url {base:?} must be an http(s) URL such as https://api.twilio.com"
                )));
            }
        }
        transfer::validate(&self.transfer_targets, &self.agents)
            .map_err(ConfigError::Inconsistent)?;
        self.validate_agents().map_err(ConfigError::Inconsistent)
    }
}

fn invalid(origin: &Path, e: &toml::de::Error) -> ConfigError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    let hint = if lower.contains("unknown field")
        && ["key", "token", "secret", "password"]
            .iter()
            .any(|w| lower.contains(&format!("{w}`")))
    {
        "\nhint: secrets are read from the environment only (OPENAI_API_KEY, TWILIO_AUTH_TOKEN)"
            .to_owned()
    } else {
        String::new()
    };
    ConfigError::Invalid {
        path: origin.to_owned(),
        message: message.trim_end().to_owned(),
        hint,
    }
}

fn apply_override(table: &mut toml::Table, variable: &str, raw: &str) -> Result<(), ConfigError> {
    let bad = |message: String| ConfigError::InvalidEnv {
        variable: variable.to_owned(),
        message,
    };
    let path = &variable[ENV_PREFIX.len()..];
    let Some((section, key)) = path.split_once("__") else {
        return Err(bad(format!(
            "expected {ENV_PREFIX}<SECTION>__<KEY>, for example WARMLINE_SERVER__HTTP_LISTEN"
        )));
    };
    let (section, key) = (section.to_lowercase(), key.to_lowercase());
    // A bare word such as `json` or `0.0.0.0:8080` is a string, not TOML.
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(bad(format!("[{section}] is not a table")));
    };
    section_table.insert(key, value);
    Ok(())
}

#[cfg(test)]
mod tests;
