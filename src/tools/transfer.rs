//! The built-in tool `transfer_call(target)`: a blind transfer of the
//! caller to a named `[[transfer_targets]]` entry (decision 0033).
//!
//! This module owns the tool's per-agent spec (the `target` enum lists
//! only the names the call's agent may use), the check that the name the
//! model sent is one of them, and the dispatch by ingress:
//! - a Twilio call is updated through Twilio's REST API with `<Dial>`
//!   TwiML (`twilio.rs`), here in the sidecar, never on a media worker;
//! - any other call is asked through its handle to hand its caller over
//!   ([`crate::call::blind_transfer`]): the SIP leg sends a REFER, a leg
//!   that cannot answers that the call cannot be transferred.
//!
//! Whatever happens the model gets JSON saying it in words; a name that
//! is not a target of the call's agent is a tool error, and nothing is
//! dialled.

mod twilio;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::call::blind_transfer::{TransferDestination, TransferOutcome, TransferTarget};
use crate::call::registry::{CallHandle, CallId, SharedRegistry};
use crate::call::tools::CallIdentity;
use crate::config::agents::MODEL_AGENT_ID;
use crate::config::Config;
use crate::model::ToolSpec;

use super::webhook::error;

/// The tool's name.
pub const TRANSFER_CALL: &str = "transfer_call";
/// The variable holding the Twilio account SID (the REST API's user).
pub const ACCOUNT_SID_VAR: &str = "TWILIO_ACCOUNT_SID";
/// The variable holding the Twilio auth token (the REST API's password).
pub const AUTH_TOKEN_VAR: &str = "TWILIO_AUTH_TOKEN";
/// How long a transfer through the call's leg may take, from the request
/// to the outcome: the REFER's acceptance (32 s) and the target's answer
/// (120 s, `ReferWatchConfig`), plus margin.
pub const LEG_TRANSFER_WAIT: Duration = Duration::from_secs(160);

/// The process's transfer targets and who may use which.
pub struct Transfers {
    /// By name.
    targets: HashMap<String, TransferTarget>,
    /// Each agent's names, in its configured order.
    agents: HashMap<String, Vec<String>>,
    /// Twilio's REST API, when `TWILIO_ACCOUNT_SID` and the token are set.
    twilio: Option<twilio::TwilioRest>,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .field("agents", &self.agents)
            .field("twilio", &self.twilio.is_some())
            .finish()
    }
}

impl Transfers {
    /// The targets of `config` and the Twilio credentials read through
    /// `env`. `None` when no target is configured.
    ///
    /// The `[model]` agent (no `[[agents]]`) may use every target, as it
    /// is offered every tool; an `[[agents]]` entry its `transfer_targets`.
    pub fn new(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Option<Transfers> {
        if config.transfer_targets.is_empty() {
            return None;
        }
        let targets: HashMap<String, TransferTarget> = config
            .transfer_targets
            .iter()
            .filter_map(|t| {
                let destination = match (&t.number, &t.uri) {
                    (Some(n), _) => TransferDestination::Number(n.clone()),
                    (None, Some(u)) => TransferDestination::Uri(u.clone()),
                    (None, None) => return None,
                };
                Some((
                    t.name.clone(),
                    TransferTarget {
                        name: t.name.clone(),
                        destination,
                    },
                ))
            })
            .collect();
        let agents = if config.agents.is_empty() {
            let all = config
                .transfer_targets
                .iter()
                .map(|t| t.name.clone())
                .collect();
            HashMap::from([(MODEL_AGENT_ID.to_owned(), all)])
        } else {
            config
                .agents
                .iter()
                .map(|a| (a.id.clone(), a.transfer_targets.clone()))
                .collect()
        };
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        let twilio = match (get(ACCOUNT_SID_VAR), get(AUTH_TOKEN_VAR)) {
            (Some(sid), Some(token)) => Some(twilio::TwilioRest::new(
                config.twilio.api_base(),
                sid,
                token,
            )),
            _ => None,
        };
        Some(Transfers {
            targets,
            agents,
            twilio,
        })
    }

    /// Why Twilio calls cannot be transferred, if they cannot: said at
    /// start-up, and by the tool when a Twilio call asks.
    pub fn twilio_warning(&self) -> Option<String> {
        self.twilio.is_none().then(|| {
            format!(
                "[[transfer_targets]] are configured but {ACCOUNT_SID_VAR} or {AUTH_TOKEN_VAR} is not set: \
                 transfer_call on Twilio calls will answer that it cannot transfer. Set both to transfer Twilio calls"
            )
        })
    }

    /// The names `agent` may use, in its order.
    fn names_of(&self, agent: Option<&str>) -> &[String] {
        agent
            .and_then(|a| self.agents.get(a))
            .map_or(&[], Vec::as_slice)
    }

    /// The `transfer_call` spec for a call of `agent`: its names as the
    /// `target` enum. `None` when it may use none (the tool is not offered).
    pub fn spec_for(&self, agent: Option<&str>) -> Option<ToolSpec> {
        let names = self.names_of(agent);
        (!names.is_empty()).then(|| spec(names))
    }

    /// Runs one `transfer_call`, reaching the call through `registry`;
    /// always answers.
    pub async fn run(
        &self,
        client: &reqwest::Client,
        registry: Option<&SharedRegistry>,
        call: &CallIdentity,
        arguments: &str,
    ) -> Value {
        let target = match self.resolve(call, arguments) {
            Ok(target) => target,
            Err(answer) => return answer,
        };
        let handle = registry.and_then(|r| {
            let id: CallId = call.id.parse().ok()?;
            r.handle(&id)
        });
        if call.ingress == "twilio" {
            return self.on_twilio(client, handle, call, &target).await;
        }
        through_leg(handle, target).await
    }

    /// The target the model named, if the call's agent may use it.
    fn resolve(&self, call: &CallIdentity, arguments: &str) -> Result<TransferTarget, Value> {
        let names = self.names_of(call.agent.as_deref());
        let asked = serde_json::from_str::<Value>(arguments)
            .ok()
            .and_then(|v| v.get("target").and_then(Value::as_str).map(str::to_owned));
        let Some(asked) = asked else {
            return Err(error(
                "bad_arguments",
                format!(
                    "transfer_call needs a target, one of: {}. Nothing was dialled.",
                    names.join(", ")
                ),
            ));
        };
        match self.targets.get(&asked) {
            Some(target) if names.contains(&asked) => Ok(target.clone()),
            _ => Err(error(
                "unknown_target",
                format!(
                    "There is no transfer target called {:?} for this call; the targets are: {}. Nothing was dialled.",
                    asked.chars().take(64).collect::<String>(),
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                ),
            )),
        }
    }

    async fn on_twilio(
        &self,
        client: &reqwest::Client,
        handle: Option<CallHandle>,
        call: &CallIdentity,
        target: &TransferTarget,
    ) -> Value {
        let Some(rest) = &self.twilio else {
            return error(
                "not_configured",
                format!(
                    "{ACCOUNT_SID_VAR} is not set, so this line cannot transfer calls. Nothing was dialled; tell the caller, and offer to help or to take a message."
                ),
            );
        };
        // Told first: Twilio stops the stream once it runs the new TwiML,
        // which may be before its REST answer reaches us.
        if let Some(handle) = &handle {
            let _ = handle
                .handing_over(Some(format!("{}: <Dial> through Twilio", target.name)))
                .await;
        }
        match rest
            .dial(client, &call.provider_id, &target.destination)
            .await
        {
            Ok(()) => placed(&target.name),
            Err(e) => {
                if let Some(handle) = &handle {
                    let _ = handle.handing_over(None).await;
                }
                tracing::warn!(target = %target.name, error = %e, "Twilio did not take the transfer");
                error(
                    "transfer_failed",
                    format!(
                        "The transfer to {} did not happen: {e}. The caller is still with you; tell them, and offer to help another way.",
                        target.name
                    ),
                )
            }
        }
    }
}

/// Asks the call's leg to hand its caller over, and waits (bounded).
async fn through_leg(handle: Option<CallHandle>, target: TransferTarget) -> Value {
    let name = target.name.clone();
    let Some(handle) = handle else {
        return error(
            "transfer_failed",
            format!("The call could not be reached to transfer it to {name}; nothing was dialled."),
        );
    };
    let outcome =
        match tokio::time::timeout(LEG_TRANSFER_WAIT, handle.transfer_caller(target)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => TransferOutcome::Failed {
                reason: e.to_string(),
            },
            Err(_) => TransferOutcome::Failed {
                reason: "no outcome came in time".into(),
            },
        };
    answer(&name, outcome)
}

/// The spec offered to an agent that may use `names`.
pub fn spec(names: &[String]) -> ToolSpec {
    ToolSpec {
        name: TRANSFER_CALL.into(),
        description: "Transfer the caller to another line and leave the call (a blind transfer). Tell the caller first. Only the targets listed can be reached. If the transfer fails, the result says why and the caller stays with you.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "target": {
                    "type": "string",
                    "description": "Where to transfer the caller.",
                    "enum": names
                }
            },
            "required": ["target"]
        }),
    }
}

/// The answer when the transfer went through.
fn placed(name: &str) -> Value {
    json!({
        "status": "transferred",
        "target": name,
        "message": format!("The transfer to {name} was placed: the caller is being connected there and this call is ending. Say nothing more.")
    })
}

/// The answer for a leg's outcome.
fn answer(name: &str, outcome: TransferOutcome) -> Value {
    match outcome {
        TransferOutcome::Transferred { detail } => {
            let mut v = placed(name);
            v["detail"] = json!(detail);
            v
        }
        TransferOutcome::Failed { reason } => error(
            "transfer_failed",
            format!("The transfer to {name} failed: {reason}. The caller is still with you; tell them, and offer to help another way."),
        ),
        TransferOutcome::Refused { reason } => error(
            "transfer_refused",
            format!("The phone line refused to transfer the call to {name} ({reason}); this line cannot transfer calls, and bridging the target ourselves is not available yet. The caller is still with you; tell them, and offer to help another way."),
        ),
        TransferOutcome::NotSupported { reason } => error(
            "not_supported",
            format!("This call cannot be transferred to {name}: {reason}. The caller is still with you; tell them, and offer to help another way."),
        ),
    }
}

/// The spec of `transfer_call` for a call, when the sidecar has targets.
pub fn agent_spec(transfers: Option<&Arc<Transfers>>, agent: Option<&str>) -> Option<ToolSpec> {
    transfers?.spec_for(agent)
}

#[cfg(test)]
mod tests;
