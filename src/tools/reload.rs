//! The process's sidecar behind a swap (SIGHUP, decision 0026): a reload
//! builds a new [`Sidecar`] from the new `[[tools]]` and puts it in place.
//! A call opens its tools once, at its start, from the sidecar of that
//! moment, and keeps them (their webhooks, MCP sessions and gates) until it
//! ends; calls that start after the reload get the new ones. The pending
//! approvals stay one registry across reloads, so the API sees them all.

use std::sync::{Arc, RwLock};

use super::Sidecar;
use crate::call::tools::{CallIdentity, CallTools, ToolResults, ToolSidecar};
use crate::model::ToolSpec;

/// A [`Sidecar`] that a reload replaces.
#[derive(Debug)]
pub struct ReloadableSidecar {
    current: RwLock<Arc<Sidecar>>,
}

impl ReloadableSidecar {
    /// Starts with `sidecar`.
    pub fn new(sidecar: Sidecar) -> ReloadableSidecar {
        ReloadableSidecar {
            current: RwLock::new(Arc::new(sidecar)),
        }
    }

    /// The sidecar calls starting now get.
    pub fn current(&self) -> Arc<Sidecar> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `next` in place, sharing the approvals registry and the
    /// escalator of the current one.
    pub fn replace(&self, next: Sidecar) {
        let current = self.current();
        let next = next
            .with_approvals(current.approvals().clone())
            .with_registry(current.registry());
        // The escalator is the process's reps, not a tool definition: a
        // reload of [[tools]] keeps escalations going to them.
        let next = Arc::new(match current.escalator() {
            Some(escalator) => next.with_escalator(escalator),
            None => next,
        });
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

impl ToolSidecar for ReloadableSidecar {
    fn current_specs(&self) -> Option<Vec<ToolSpec>> {
        Some(self.current().specs())
    }

    fn current_specs_of(&self, entries: &[&str]) -> Option<Vec<ToolSpec>> {
        Some(self.current().specs_of(entries))
    }

    fn agent_specs(&self, agent: Option<&str>) -> Vec<ToolSpec> {
        self.current().agent_specs(agent)
    }

    fn open(&self, call: CallIdentity, results: ToolResults) -> Box<dyn CallTools> {
        self.current().open(call, results)
    }
}
