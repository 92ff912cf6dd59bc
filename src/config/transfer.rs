//! `[[transfer_targets]]`: the named places a call may be blind-transferred
//! to with the built-in tool `transfer_call` (decision 0033), checked by
//! `warmline check`.
//!
//! The model only ever sees the names; the number or URI behind a name is
//! resolved here, from configuration, so no conversation can make the
//! agent dial anything else. Each agent lists the names it may use
//! (`[[agents]] transfer_targets`); every name there must be a table here.

use serde::{Deserialize, Serialize};

/// The most targets a configuration may hold (the model's schema lists
/// an agent's names as an enum: keep it small).
pub const MAX_TRANSFER_TARGETS: usize = 64;

/// One `[[transfer_targets]]` table: a `name` and exactly one of `number`
/// or `uri`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TransferTargetConfig {
    /// What the model calls it (`[A-Za-z0-9_-]{1,64}`, unique).
    pub name: String,
    /// A phone number in E.164 (`+14155550100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// A SIP URI (`sip:desk@pbx.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Whether `number` is E.164: `+`, then 2 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Checks the targets: names well-formed and unique, exactly one of
/// `number` (E.164) or `uri` (a `sip:`/`sips:` URI) each; and that every
/// name an agent lists is one of them.
pub fn validate(
    targets: &[TransferTargetConfig],
    agents: &[super::AgentConfig],
) -> Result<(), String> {
    if targets.len() > MAX_TRANSFER_TARGETS {
        return Err(format!(
            "[[transfer_targets]]: {} tables, at most {MAX_TRANSFER_TARGETS}",
            targets.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in targets {
        let bad = |message: String| Err(format!("transfer target {:?}: {message}", t.name));
        let name_ok = (1..=64).contains(&t.name.len())
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return bad("name must be 1 to 64 of A-Z a-z 0-9 _ -".into());
        }
        if !seen.insert(t.name.as_str()) {
            return bad("two [[transfer_targets]] tables have this name".into());
        }
        match (&t.number, &t.uri) {
            (Some(number), None) => {
                if !is_e164(number) {
                    return bad(format!(
                        "number {number:?} must be E.164: + and the country code, e.g. +14155550100"
                    ));
                }
            }
            (None, Some(uri)) => {
                let sip = uri.starts_with("sip:") || uri.starts_with("sips:");
                if !sip || warmline_sip::message::Uri::parse(uri).is_err() {
                    return bad(format!(
                        "uri {uri:?} must be a SIP URI such as sip:desk@pbx.example.com"
                    ));
                }
                if uri.contains(['<', '>', '"', '\r', '\n']) {
                    return bad(format!("uri {uri:?} holds characters a URI cannot"));
                }
            }
            (Some(_), Some(_)) => return bad("set number or uri, not both".into()),
            (None, None) => return bad("set number (E.164) or uri (sip:...)".into()),
        }
    }
    for agent in agents {
        for name in &agent.transfer_targets {
            if !targets.iter().any(|t| &t.name == name) {
                return Err(format!(
                    "agent {:?}: transfer_targets names {name:?}, which is no [[transfer_targets]] table",
                    agent.id
                ));
            }
        }
    }
    Ok(())
}

/// What `warmline check` prints for transfers: each target and the
/// agents that may use it, and a warning when Twilio calls could not be
/// transferred (`TWILIO_ACCOUNT_SID` or `TWILIO_AUTH_TOKEN` unset, read
/// through `env`).
pub fn transfer_report(config: &super::Config, env: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    for t in &config.transfer_targets {
        let to = t.number.as_deref().or(t.uri.as_deref()).unwrap_or("");
        let users: Vec<&str> = if config.agents.is_empty() {
            vec![super::agents::MODEL_AGENT_ID]
        } else {
            config
                .agents
                .iter()
                .filter(|a| a.transfer_targets.contains(&t.name))
                .map(|a| a.id.as_str())
                .collect()
        };
        let users = if users.is_empty() {
            "no agent".to_owned()
        } else {
            users.join(", ")
        };
        lines.push(format!(
            "transfer target {} -> {to} (used by {users})",
            t.name
        ));
    }
    let twilio_ready = env("TWILIO_ACCOUNT_SID") && env("TWILIO_AUTH_TOKEN");
    if !config.transfer_targets.is_empty() && !twilio_ready {
        lines.push(
            "warning: TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is not set: transfer_call on Twilio \
             calls answers that the line cannot transfer (SIP calls are not affected)"
                .to_owned(),
        );
    }
    lines
}

#[cfg(test)]
mod tests;
