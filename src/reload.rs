//! Reloading the configuration on SIGHUP without dropping a call (issue
//! 16, decision 0026): agents, routes and tools are rebuilt from the file
//! and swapped in whole; calls in progress keep the agent, tools and
//! versions they started with; calls that start afterwards get the new
//! ones.
//!
//! All or nothing: the new file is loaded and validated as `warmline check`
//! does, then every part is built; only when all of them built is any of
//! them swapped in. An invalid file is refused with the reason, logged,
//! and the running configuration stays. Keys outside agents, routes and
//! tools (listen addresses, `[sip]`, `[media]`, …) take effect at the next
//! start; a reload that finds them changed says so.
//!
//! Reps (issue 14) join through [`ReloadPart`]: a part builds its new state
//! from the new config in `prepare` (and may refuse it), and the returned
//! commit swaps it in.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::agents::SharedAgents;
use crate::config::{Config, Secrets};
use crate::tools::reload::ReloadableSidecar;

/// Errors of a reload; the running configuration stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not load or validate: fix it (`warmline check`) and
    /// send SIGHUP again.
    #[error("the new configuration is invalid, the running one stays: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A part could not be built from it (an agent's backend, a tool's
    /// environment variable, …).
    #[error("the new configuration cannot be applied, the running one stays: {0}")]
    Build(String),
}

/// Swaps a commit in: returned by [`ReloadPart::prepare`].
pub type Commit = Box<dyn FnOnce() + Send>;

/// Something a reload rebuilds besides agents, routes and tools.
pub trait ReloadPart: Send + Sync {
    /// What it is, for logs (`reps`).
    fn name(&self) -> &'static str;
    /// Builds the new state from `config` without applying it; an error
    /// refuses the whole reload.
    fn prepare(&self, config: &Config) -> Result<Commit, String>;
}

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadReport {
    /// The agents now answering.
    pub agents: Vec<String>,
    /// Their versions (`agent id: agent hash`).
    pub versions: Vec<String>,
    /// Sections that changed but apply only at the next start.
    pub need_restart: Vec<&'static str>,
}

/// Reloads the running server's agents, routes and tools.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    secrets: Secrets,
    agents: SharedAgents,
    tools: Option<Arc<ReloadableSidecar>>,
    runtime: Option<tokio::runtime::Handle>,
    parts: Mutex<Vec<Arc<dyn ReloadPart>>>,
    /// The configuration running now.
    running: Mutex<Config>,
    /// One reload at a time.
    busy: Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the server built from `running`.
    pub fn new(
        running: &Config,
        secrets: &Secrets,
        agents: SharedAgents,
        tools: Option<Arc<ReloadableSidecar>>,
    ) -> Reloader {
        Reloader {
            inner: Arc::new(Inner {
                secrets: secrets.clone(),
                agents,
                tools,
                runtime: tokio::runtime::Handle::try_current().ok(),
                parts: Mutex::new(Vec::new()),
                running: Mutex::new(running.clone()),
                busy: Mutex::new(()),
            }),
        }
    }

    /// Adds a part that reloads with the rest (reps, issue 14).
    pub fn add_part(&self, part: Arc<dyn ReloadPart>) {
        self.inner
            .parts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(part);
    }

    /// Loads `path` (and the `WARMLINE_*` variables) and applies it: what
    /// SIGHUP does.
    pub fn reload_from(&self, path: Option<&Path>) -> Result<ReloadReport, ReloadError> {
        let config = Config::load(path, std::env::vars())?;
        self.apply(&config)
    }

    /// Applies an already-validated `config`: builds every part, then
    /// swaps them all in.
    pub fn apply(&self, config: &Config) -> Result<ReloadReport, ReloadError> {
        let inner = &self.inner;
        let _one = inner.busy.lock().unwrap_or_else(|p| p.into_inner());
        let agents = crate::app::build_agents(config, &inner.secrets)
            .map_err(|e| ReloadError::Build(e.to_string()))?;
        let sidecar = match (&inner.tools, &inner.runtime) {
            (Some(_), Some(runtime)) => Some(
                crate::tools::Sidecar::new(
                    &config.tools,
                    &|name| std::env::var(name).ok(),
                    runtime.clone(),
                )
                .map_err(|e| ReloadError::Build(e.to_string()))?
                .with_transfers(crate::tools::transfer::Transfers::new(config, &|name| {
                    std::env::var(name).ok()
                })),
            ),
            _ => None,
        };
        let parts: Vec<Arc<dyn ReloadPart>> = inner
            .parts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut commits = Vec::with_capacity(parts.len());
        for part in &parts {
            let commit = part
                .prepare(config)
                .map_err(|e| ReloadError::Build(format!("{}: {e}", part.name())))?;
            commits.push(commit);
        }
        // Everything built: swap it all in.
        if let (Some(tools), Some(sidecar)) = (&inner.tools, sidecar) {
            tools.replace(sidecar);
        }
        let versions = agents
            .ids()
            .into_iter()
            .zip(agents.versions().into_iter().filter(|v| v.kind == "agent"))
            .map(|(id, v)| format!("{id}: {}", v.hash))
            .collect();
        inner.agents.replace(agents);
        let ids = inner.agents.ids();
        crate::metrics::register_agents(ids.iter().map(String::as_str));
        for commit in commits {
            commit();
        }
        let mut running = inner.running.lock().unwrap_or_else(|p| p.into_inner());
        let need_restart = restart_only_changes(&running, config);
        *running = config.clone();
        Ok(ReloadReport {
            agents: ids,
            versions,
            need_restart,
        })
    }
}

/// The sections that differ between `old` and `new` and that a reload
/// does not apply.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut differs = |name: &'static str, changed: bool| {
        if changed {
            out.push(name);
        }
    };
    differs("server", old.server != new.server);
    differs("log", old.log != new.log);
    differs("media", old.media != new.media);
    differs("turn", old.turn != new.turn);
    differs("twilio", old.twilio != new.twilio);
    differs("sip", old.sip != new.sip);
    differs("call", old.call != new.call);
    differs("events", old.events != new.events);
    differs("webrtc", old.webrtc != new.webrtc);
    differs("web", old.web != new.web);
    differs("recording", old.recording != new.recording);
    differs("csat", old.csat != new.csat);
    differs("store", old.store != new.store);
    differs("reps", old.reps != new.reps);
    differs("handoff", old.handoff != new.handoff);
    out
}

#[cfg(test)]
mod tests;
