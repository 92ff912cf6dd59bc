//! `[[agents]]`, `[[routes]]` and `[routing]`: who answers which call
//! (decision 0020), checked by `warmline check` before a call can reach
//! them.
//!
//! Without `[[agents]]` the `[model]` section is the one agent, `default`,
//! and answers every call: configs written before agents keep working.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::routing::{NumberPattern, Route, Router, TWILIO_TRUNK, WEBRTC_TRUNK};
use super::{Config, ModelBackend};

/// The id of the agent made from `[model]` when there is no `[[agents]]`.
pub const MODEL_AGENT_ID: &str = "default";

/// `turn_detection`: the model's end-of-turn detector.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionKind {
    /// Voice activity with `vad_threshold` and `silence_ms`.
    #[default]
    ServerVad,
    /// Semantic end of turn with `eagerness`.
    SemanticVad,
}

/// `eagerness` of semantic turn detection.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Eagerness {
    /// Waits longest.
    Low,
    /// Between.
    Medium,
    /// Answers soonest.
    High,
    /// The provider's choice.
    #[default]
    Auto,
}

impl Eagerness {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Eagerness::Low => "low",
            Eagerness::Medium => "medium",
            Eagerness::High => "high",
            Eagerness::Auto => "auto",
        }
    }
}

/// `noise_reduction`: the provider's input noise filter.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoiseReduction {
    /// Close-talking microphones (handsets, headsets).
    NearField,
    /// Speakerphones and conference rooms.
    FarField,
}

/// One `[[agents]]` table.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Routes and logs name the agent by this (`[A-Za-z0-9_-]{1,64}`).
    pub id: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// System instructions; `{caller}`, `{called}`, `{trunk}` and
    /// `{local_time}` are filled per call. After loading it also holds
    /// the text of `instructions_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// A text file holding the instructions, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions_file: Option<PathBuf>,
    /// `auto`, `demo` or `openai`; `[model] backend` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<ModelBackend>,
    /// The realtime model; `[model] openai_model` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The voice; `[model] openai_voice` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The caller's language (ISO 639-1, e.g. `es`), a hint for the
    /// transcription of the caller's speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// IANA time zone for `{local_time}`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `server_vad` or `semantic_vad`.
    #[serde(default)]
    pub turn_detection: TurnDetectionKind,
    /// `low`, `medium`, `high` or `auto` (semantic_vad).
    #[serde(default)]
    pub eagerness: Eagerness,
    /// 0..1 (server_vad).
    #[serde(default = "default_vad_threshold")]
    pub vad_threshold: f32,
    /// Silence that ends the caller's turn, ms (server_vad).
    #[serde(default = "default_silence_ms")]
    pub silence_ms: u32,
    /// `near_field` or `far_field`; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_reduction: Option<NoiseReduction>,
    /// The model transcribing the caller; `""` turns transcription off.
    #[serde(default = "default_transcription_model")]
    pub transcription_model: String,
    /// The instruction for the first response; `""`: the caller speaks
    /// first. The built-in greeting when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// `[[tools]]` names (or built-ins) offered to this agent; `end_call`
    /// is always offered.
    #[serde(default)]
    pub tools: Vec<String>,
    /// `[[transfer_targets]]` names this agent may blind-transfer calls
    /// to with `transfer_call` (decision 0033); empty: the tool is not
    /// offered to it. (The `[model]` agent, used when there are no
    /// `[[agents]]`, may use every target.)
    #[serde(default)]
    pub transfer_targets: Vec<String>,
    /// The escalation queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Whether its calls are recorded (`[recording]`: a stereo WAV per
    /// call, linked from the call's record).
    #[serde(default)]
    pub record: bool,
    /// Whether its calls get the post-call survey; `[csat] enabled` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<bool>,
    /// The call ends politely after this many seconds; 0: no limit.
    #[serde(default)]
    pub max_duration_secs: u64,
    /// A silent caller is asked whether they are still there after this
    /// many seconds; 0 turns it off.
    #[serde(default = "default_silence_reprompt_secs")]
    pub silence_reprompt_secs: u64,
    /// A silent caller hears goodbye and the call ends after this many
    /// seconds; 0 turns it off.
    #[serde(default = "default_silence_hangup_secs")]
    pub silence_hangup_secs: u64,
    /// A `[[tools]]` webhook called when the call starts; its JSON result
    /// reaches the model before the greeting is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// Answers calls no route matches.
    #[serde(default)]
    pub default: bool,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}
fn default_vad_threshold() -> f32 {
    0.5
}
fn default_silence_ms() -> u32 {
    500
}
fn default_transcription_model() -> String {
    "gpt-4o-mini-transcribe".to_owned()
}
fn default_silence_reprompt_secs() -> u64 {
    8
}
fn default_silence_hangup_secs() -> u64 {
    30
}

impl AgentConfig {
    /// The agent `[model]` stands for when there is no `[[agents]]`.
    pub fn from_model(model: &super::ModelConfig) -> AgentConfig {
        AgentConfig {
            id: MODEL_AGENT_ID.to_owned(),
            name: String::new(),
            instructions: Some(model.instructions.clone()),
            instructions_file: None,
            backend: None,
            model: None,
            voice: None,
            language: None,
            timezone: default_timezone(),
            turn_detection: TurnDetectionKind::ServerVad,
            eagerness: Eagerness::Auto,
            vad_threshold: default_vad_threshold(),
            silence_ms: default_silence_ms(),
            noise_reduction: None,
            transcription_model: default_transcription_model(),
            greeting: None,
            tools: Vec::new(),
            transfer_targets: Vec::new(),
            skill: None,
            record: false,
            csat: None,
            max_duration_secs: 0,
            silence_reprompt_secs: default_silence_reprompt_secs(),
            silence_hangup_secs: default_silence_hangup_secs(),
            lookup: None,
            default: true,
        }
    }
}

/// One `[[routes]]` table.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The agent id that answers.
    pub agent: String,
    /// The called number: E.164, or a prefix ending in `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// A `[[sip.trunks]]` name, or `twilio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
}

/// `[routing]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Country calling code (`1`, `44`) put in front of numbers that
    /// arrive without `+`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_country_code: Option<String>,
}

/// Reads each `instructions_file` (relative to the config file's
/// directory) into `instructions`.
pub fn load_instruction_files(agents: &mut [AgentConfig], origin: &Path) -> Result<(), String> {
    let base = origin.parent().unwrap_or(Path::new("."));
    for agent in agents {
        let Some(file) = &agent.instructions_file else {
            continue;
        };
        if agent.instructions.is_some() {
            return Err(format!(
                "agent {:?}: set instructions or instructions_file, not both",
                agent.id
            ));
        }
        let path = base.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "agent {:?}: cannot read instructions_file {}: {e}",
                agent.id,
                path.display()
            )
        })?;
        agent.instructions = Some(text);
    }
    Ok(())
}

impl Config {
    /// The agents that answer calls: `[[agents]]`, or the one made from
    /// `[model]`.
    pub fn effective_agents(&self) -> Vec<AgentConfig> {
        if self.agents.is_empty() {
            vec![AgentConfig::from_model(&self.model)]
        } else {
            self.agents.clone()
        }
    }

    /// The routing table: `[[routes]]`, with a default route to the agent
    /// marked `default = true` when no route is the default. Checked: an
    /// error names the offending entry.
    pub fn router(&self) -> Result<Router, String> {
        let agents = self.effective_agents();
        let cc = self.routing.default_country_code.clone();
        let mut routes = Vec::with_capacity(self.routes.len() + 1);
        for (index, r) in self.routes.iter().enumerate() {
            let bad = |what: String| format!("routes[{index}] (agent {:?}): {what}", r.agent);
            if !agents.iter().any(|a| a.id == r.agent) {
                let known: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
                return Err(bad(format!(
                    "no agent has this id (agents: {})",
                    known.join(", ")
                )));
            }
            let number = match &r.number {
                Some(raw) => Some(NumberPattern::parse(raw, cc.as_deref()).ok_or_else(|| {
                    bad(format!(
                        "number {raw:?} is neither E.164 (+14155550100) nor a prefix ending in * (+1415*)"
                    ))
                })?),
                None => None,
            };
            if let Some(trunk) = &r.trunk {
                if trunk != TWILIO_TRUNK
                    && trunk != WEBRTC_TRUNK
                    && !self.sip.trunks.iter().any(|t| &t.name == trunk)
                {
                    return Err(bad(format!(
                        "trunk {trunk:?} names no [[sip.trunks]] entry (nor \"{TWILIO_TRUNK}\" or \"{WEBRTC_TRUNK}\")"
                    )));
                }
            }
            routes.push(Route {
                index,
                agent: r.agent.clone(),
                number,
                trunk: r.trunk.clone(),
            });
        }
        let marked = self.agents.iter().find(|a| a.default);
        if let (Some(route), Some(agent)) = (routes.iter().find(|r| r.tier() == 0), marked) {
            return Err(format!(
                "routes[{}] (agent {:?}) is a default route and agent {:?} is default = true: keep one",
                route.index, route.agent, agent.id
            ));
        }
        if !routes.iter().any(|r| r.tier() == 0) {
            if let Some(default) = agents.iter().find(|a| a.default) {
                routes.push(Route {
                    index: self.routes.len(),
                    agent: default.id.clone(),
                    number: None,
                    trunk: None,
                });
            }
        }
        Router::new(routes, cc).map_err(|e| e.to_string())
    }

    /// Checks `[[agents]]`, `[[routes]]` and `[routing]`; each message
    /// names the offending entry.
    pub fn validate_agents(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        let defaults: Vec<&str> = self
            .agents
            .iter()
            .filter(|a| a.default)
            .map(|a| a.id.as_str())
            .collect();
        if defaults.len() > 1 {
            return Err(format!(
                "agents {}: only one agent may be default = true",
                defaults.join(", ")
            ));
        }
        for a in &self.agents {
            validate_agent(a, self)?;
            if !seen.insert(a.id.as_str()) {
                return Err(format!("agent {:?}: two agents have this id", a.id));
            }
        }
        if let Some(cc) = &self.routing.default_country_code {
            let digits = cc.trim_start_matches('+');
            if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!(
                    "routing.default_country_code {cc:?} must be 1 to 3 digits (1, 44, +49)"
                ));
            }
        }
        self.router().map(|_| ())
    }
}

fn validate_agent(a: &AgentConfig, config: &Config) -> Result<(), String> {
    let bad = |what: String| Err(format!("agent {:?}: {what}", a.id));
    if a.id.is_empty()
        || a.id.len() > 64
        || !a
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad("id must be 1 to 64 of A-Z a-z 0-9 _ -".into());
    }
    if a.instructions.is_none() {
        return bad("set instructions or instructions_file".into());
    }
    if jiff::tz::TimeZone::get(&a.timezone).is_err() {
        return bad(format!(
            "timezone {:?} is not an IANA time zone (e.g. Europe/Madrid, America/New_York, UTC)",
            a.timezone
        ));
    }
    if !(0.0..=1.0).contains(&a.vad_threshold) {
        return bad(format!(
            "vad_threshold ({}) must be within 0 and 1",
            a.vad_threshold
        ));
    }
    if !(100..=10_000).contains(&a.silence_ms) {
        return bad(format!(
            "silence_ms ({}) must be within 100 and 10000",
            a.silence_ms
        ));
    }
    if let Some(language) = &a.language {
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_lowercase()) {
            return bad(format!(
                "language {language:?} must be an ISO 639-1 code such as en or es"
            ));
        }
    }
    let known_tool = |name: &str| {
        super::tools::BUILTINS.contains(&name) || config.tools.iter().any(|t| t.name == name)
    };
    for name in &a.tools {
        if !known_tool(name) {
            return bad(format!(
                "tools names {name:?}, which is neither a [[tools]] entry nor a built-in ({})",
                super::tools::BUILTINS.join(", ")
            ));
        }
    }
    if let Some(lookup) = &a.lookup {
        match config.tools.iter().find(|t| &t.name == lookup) {
            Some(t) if t.kind == super::ToolKind::Webhook => {}
            Some(_) => return bad(format!("lookup {lookup:?} must be a webhook tool")),
            None => return bad(format!("lookup {lookup:?} names no [[tools]] entry")),
        }
    }
    if a.transfer_targets.iter().any(String::is_empty) {
        return bad("transfer_targets holds an empty name".into());
    }
    if a.max_duration_secs > 24 * 3_600 {
        return bad(format!(
            "max_duration_secs ({}) must be at most 86400 (0: no limit)",
            a.max_duration_secs
        ));
    }
    if a.silence_reprompt_secs > 600 || a.silence_hangup_secs > 3_600 {
        return bad(format!(
            "silence_reprompt_secs ({}) must be at most 600 and silence_hangup_secs ({}) at most 3600",
            a.silence_reprompt_secs, a.silence_hangup_secs
        ));
    }
    if a.silence_reprompt_secs > 0
        && a.silence_hangup_secs > 0
        && a.silence_hangup_secs <= a.silence_reprompt_secs
    {
        return bad(format!(
            "silence_hangup_secs ({}) must be longer than silence_reprompt_secs ({}), or 0 (off)",
            a.silence_hangup_secs, a.silence_reprompt_secs
        ));
    }
    Ok(())
}

/// What `warmline check` prints for routing: each route and the agent
/// that answers it, in precedence order.
pub fn routes_report(config: &Config) -> Result<Vec<String>, String> {
    let router = config.router()?;
    let agents = config.effective_agents();
    let mut routes: Vec<&Route> = router.routes().iter().collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.tier()));
    let mut lines: Vec<String> = routes
        .iter()
        .map(|r| {
            let name = agents
                .iter()
                .find(|a| a.id == r.agent)
                .map(|a| a.name.as_str())
                .filter(|n| !n.is_empty());
            let implicit = if r.index >= config.routes.len() {
                " (default = true)"
            } else {
                ""
            };
            match name {
                Some(name) => format!(
                    "route {} -> agent {} ({name}){implicit}",
                    r.describe(),
                    r.agent
                ),
                None => format!("route {} -> agent {}{implicit}", r.describe(), r.agent),
            }
        })
        .collect();
    if !routes.iter().any(|r| r.tier() == 0) {
        lines.push("route default -> none: unrouted calls are refused".to_owned());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
