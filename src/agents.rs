//! The agents that answer calls, built once at start-up from
//! `[[agents]]` (or `[model]`), and the routing table that picks one per
//! call (decision 0020).
//!
//! The ingresses ask [`Agents::route`] who answers a call, then
//! [`Agent::prepare`] turns their call template into this call's setup:
//! the agent's backend, its session (instructions with the per-call
//! placeholders filled, voice, tools, turn detection), its greeting, time
//! limit and start-up lookup, and the agent id on the call's identity.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::call::driver::CallSetup;
use crate::call::model_audio::ModelAudioFormats;
use crate::config::agents::{AgentConfig, TurnDetectionKind, MODEL_AGENT_ID};
use crate::config::routing::Router;
use crate::config::{Config, ModelBackend};
use crate::model::link::Backend;
use crate::model::{AudioFormat, SessionConfig, ToolSpec, TurnDetection};

/// Errors building the agents (`warmline check` reports the same).
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// The routes or agents are inconsistent: run `warmline check`.
    #[error("{0}; run `warmline check`")]
    Invalid(String),
    /// An agent wants OpenAI and `OPENAI_API_KEY` is not set.
    #[error("agent {0:?} has backend \"openai\" but OPENAI_API_KEY is not set")]
    MissingApiKey(String),
}

/// The specs an agent offers: `end_call` always, then the named ones, in
/// the order of `all` (so a source of specs that changes at run time, such
/// as an MCP server's, composes: select again from the new list).
pub fn select_tools(all: &[ToolSpec], names: &[String]) -> Vec<ToolSpec> {
    all.iter()
        .filter(|s| s.name == "end_call" || names.iter().any(|n| n == &s.name))
        .cloned()
        .collect()
}

/// What the ingress knows of a call when it picks the agent.
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    /// The caller's number (or SIP user), as it arrived.
    pub caller: &'a str,
    /// The called number (Twilio `To`; SIP Request-URI user).
    pub called: &'a str,
    /// The trunk: a `[[sip.trunks]]` name, or `twilio`.
    pub trunk: &'a str,
}

/// One agent, ready to answer calls.
#[derive(Debug)]
pub struct Agent {
    /// Its id (routes, logs and metrics labels name it).
    pub id: String,
    /// Its profile as configured.
    pub profile: AgentConfig,
    backend: Backend,
    /// The session with the instructions still holding placeholders.
    session: SessionConfig,
    timezone: jiff::tz::TimeZone,
    /// The one agent made from `[model]` (no `[[agents]]` configured).
    from_model: bool,
    /// Content hashes of its definition and its tools' (`versions`).
    versions: BTreeMap<String, String>,
}

impl Agent {
    /// Turns the ingress's call template into this agent's call: backend,
    /// session (placeholders filled at `now`), greeting, time limit,
    /// lookup, and the agent id and trunk on the identity.
    pub fn prepare(&self, setup: &mut CallSetup, context: &CallContext<'_>, now: jiff::Timestamp) {
        setup.backend = self.backend.clone();
        let mut session = self.session.clone();
        session.instructions = self.instructions(context, now);
        setup.call.model_audio = ModelAudioFormats {
            input: session.input_format,
            output: session.output_format,
        };
        setup.session = session;
        if let Some(greeting) = &self.profile.greeting {
            setup.call.greeting = Some(greeting.clone()).filter(|g| !g.is_empty());
        }
        setup.call.max_duration = Some(self.profile.max_duration_secs)
            .filter(|&s| s > 0)
            .map(Duration::from_secs);
        setup.call.lookup = self.profile.lookup.clone();
        // The `[model]` agent keeps every tool and the `[call]` silence
        // timers, as before agents; a profile brings its own.
        if !self.from_model {
            let mut entries = vec!["end_call".to_owned()];
            entries.extend(self.profile.tools.iter().cloned());
            setup.tool_entries = Some(entries);
            setup.call.silence_reprompt_secs = self.profile.silence_reprompt_secs;
            setup.call.silence_hangup_secs = self.profile.silence_hangup_secs;
        }
        setup.identity.agent = Some(self.id.clone());
        setup.identity.trunk = Some(context.trunk.to_owned());
        // The call keeps these whatever a reload does later (decision 0026).
        setup.call.versions = self.versions.clone();
        // A trunk that records keeps recording; the agent can add to it.
        setup.call.record = setup.call.record || self.profile.record;
        if let (Some(survey), Some(enabled)) = (&mut setup.call.survey, self.profile.csat) {
            survey.enabled = enabled;
        }
    }

    /// The content hashes of this agent's definition and tools, by kind
    /// (`agent`, `tools`): what each of its calls records.
    pub fn versions(&self) -> &BTreeMap<String, String> {
        &self.versions
    }

    /// The instructions with `{caller}`, `{called}`, `{trunk}` and
    /// `{local_time}` filled.
    pub fn instructions(&self, context: &CallContext<'_>, now: jiff::Timestamp) -> String {
        let template = &self.session.instructions;
        if !template.contains('{') {
            return template.clone();
        }
        template
            .replace("{caller}", context.caller)
            .replace("{called}", context.called)
            .replace("{trunk}", context.trunk)
            .replace("{local_time}", &local_time(now, &self.timezone))
    }
}

/// `now` in `zone`, as the model reads it: `Thursday, 2026-12-03 17:09 EST`.
pub fn local_time(now: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> String {
    now.to_zoned(zone.clone())
        .strftime("%A, %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Every agent and the routing table: one generation of them. A reload
/// (SIGHUP, decision 0026) builds a new generation and swaps it in whole;
/// a call holds the `Arc<Agent>` it was routed to, so calls in progress
/// keep theirs.
#[derive(Debug)]
struct Generation {
    agents: Vec<Arc<Agent>>,
    router: Router,
}

/// Definitions kept at most (reloads are rare; the oldest go first).
const MAX_VERSIONS: usize = 1_024;

/// Every agent and the routing table, reloadable.
#[derive(Debug)]
pub struct Agents {
    current: RwLock<Arc<Generation>>,
    /// Every definition a generation of this process had, by hash, in the
    /// order first seen: what `CallEnded.versions` hashes point to.
    seen: Mutex<Vec<versions::Version>>,
}

impl Agents {
    /// Builds the agents: each starts from `base` (the `[model]` session
    /// the app built) and the backend `backend_for` gives its `backend`
    /// (`None`: the `[model]` one).
    pub fn build(
        config: &Config,
        base: &SessionConfig,
        backend_for: &dyn Fn(Option<ModelBackend>) -> Option<Backend>,
    ) -> Result<Agents, AgentsError> {
        let (generation, found) = Generation::build(config, base, backend_for)?;
        let agents = Agents {
            current: RwLock::new(Arc::new(generation)),
            seen: Mutex::new(Vec::new()),
        };
        agents.remember(found);
        Ok(agents)
    }

    /// Puts `next`'s agents and routes in place of these: calls routed
    /// from now on get them; calls in progress keep what they have.
    pub fn replace(&self, next: Agents) {
        let generation = next.generation();
        let found = next.versions();
        self.remember(found);
        match self.current.write() {
            Ok(mut current) => *current = generation,
            Err(poisoned) => *poisoned.into_inner() = generation,
        }
    }

    fn generation(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn remember(&self, found: Vec<versions::Version>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for version in found {
            if !seen.iter().any(|v| v.hash == version.hash) {
                if seen.len() == MAX_VERSIONS {
                    seen.remove(0);
                }
                seen.push(version);
            }
        }
    }

    /// Every definition calls of this process ran with (or may run with),
    /// each under its content hash, oldest first: the store keeps them.
    pub fn versions(&self) -> Vec<versions::Version> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The definition under `hash`, if this process had it.
    pub fn version(&self, hash: &str) -> Option<versions::Version> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|v| v.hash == hash)
            .cloned()
    }

    /// The agent that answers `context.called` on `context.trunk`; `None`:
    /// refuse the call (no route, no default).
    pub fn route(&self, context: &CallContext<'_>) -> Option<Arc<Agent>> {
        let generation = self.generation();
        let route = generation
            .router
            .route(context.called, Some(context.trunk))?;
        generation
            .agents
            .iter()
            .find(|a| a.id == route.agent)
            .cloned()
    }

    /// Every agent id (a bounded set: metrics labels use them).
    pub fn ids(&self) -> Vec<String> {
        self.generation()
            .agents
            .iter()
            .map(|a| a.id.clone())
            .collect()
    }
}

impl Generation {
    fn build(
        config: &Config,
        base: &SessionConfig,
        backend_for: &dyn Fn(Option<ModelBackend>) -> Option<Backend>,
    ) -> Result<(Generation, Vec<versions::Version>), AgentsError> {
        let router = config.router().map_err(AgentsError::Invalid)?;
        let all_tools = &base.tools;
        let mut agents = Vec::new();
        let mut found = Vec::new();
        for profile in config.effective_agents() {
            let backend = backend_for(profile.backend)
                .ok_or_else(|| AgentsError::MissingApiKey(profile.id.clone()))?;
            let timezone = jiff::tz::TimeZone::get(&profile.timezone).map_err(|e| {
                AgentsError::Invalid(format!(
                    "agent {:?}: timezone {:?}: {e}",
                    profile.id, profile.timezone
                ))
            })?;
            let mut session = base.clone();
            if let Some(text) = &profile.instructions {
                session.instructions = text.clone();
            }
            if let Some(model) = &profile.model {
                session.model = model.clone();
            }
            if let Some(voice) = &profile.voice {
                session.voice = voice.clone();
            }
            // The `[model]` agent keeps every tool, as before agents.
            if config.agents.is_empty() {
                debug_assert_eq!(profile.id, MODEL_AGENT_ID);
            } else {
                session.tools = select_tools(all_tools, &profile.tools);
                session.turn_detection = match profile.turn_detection {
                    TurnDetectionKind::ServerVad => TurnDetection::ServerVad {
                        threshold: profile.vad_threshold,
                        prefix_padding_ms: 300,
                        silence_duration_ms: profile.silence_ms,
                    },
                    TurnDetectionKind::SemanticVad => TurnDetection::SemanticVad {
                        eagerness: profile.eagerness.as_str().to_owned(),
                    },
                };
                session.transcription_model =
                    Some(profile.transcription_model.clone()).filter(|m| !m.is_empty());
                session.language = profile.language.clone();
                session.noise_reduction = profile.noise_reduction.map(|n| {
                    match n {
                        crate::config::agents::NoiseReduction::NearField => "near_field",
                        crate::config::agents::NoiseReduction::FarField => "far_field",
                    }
                    .to_owned()
                });
            }
            if let Backend::Demo(_) = backend {
                // The demo agent speaks μ-law in-process (see app.rs).
                session.input_format = AudioFormat::Pcmu;
                session.output_format = AudioFormat::Pcmu;
            }
            let (agent_version, tools_version) = definition_versions(config, &profile);
            let mut hashes = BTreeMap::new();
            hashes.insert(versions::AGENT_KEY.to_owned(), agent_version.hash.clone());
            hashes.insert(versions::TOOLS_KEY.to_owned(), tools_version.hash.clone());
            found.push(agent_version);
            found.push(tools_version);
            agents.push(Arc::new(Agent {
                id: profile.id.clone(),
                profile,
                backend,
                session,
                timezone,
                from_model: config.agents.is_empty(),
                versions: hashes,
            }));
        }
        Ok((Generation { agents, router }, found))
    }
}

/// The versions of an agent: its table as loaded, and the tools it
/// offers (the built-ins by name, the `[[tools]]` tables by name order).
fn definition_versions(
    config: &Config,
    profile: &AgentConfig,
) -> (versions::Version, versions::Version) {
    let agent = versions::Version::of(versions::AGENT_KEY, &profile.id, profile);
    // The `[model]` agent offers every tool.
    let offers = |name: &str| config.agents.is_empty() || profile.tools.iter().any(|t| t == name);
    let builtins: Vec<&str> = crate::config::tools::BUILTINS
        .iter()
        .copied()
        .filter(|name| *name == "end_call" || offers(name))
        .collect();
    let mut tables: Vec<&crate::config::ToolConfig> =
        config.tools.iter().filter(|t| offers(&t.name)).collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let tools = versions::Version::of(
        versions::TOOLS_KEY,
        &profile.id,
        &serde_json::json!({"builtins": builtins, "tools": tables}),
    );
    (agent, tools)
}

/// Shared by the ingresses.
pub type SharedAgents = Arc<Agents>;

/// The user part of a SIP or tel URI (`sip:+14155550100@host;x` →
/// `+14155550100`); anything else is returned trimmed.
pub fn uri_user(uri: &str) -> &str {
    let uri = uri.trim();
    let rest = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|scheme| uri.strip_prefix(scheme))
        .unwrap_or(uri);
    let rest = rest.split(['@', ';', '?']).next().unwrap_or(rest);
    rest.split(':').next().unwrap_or(rest)
}

pub mod versions;

#[cfg(test)]
mod tests;
