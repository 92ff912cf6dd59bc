//! What an escalation carries: the tool's arguments, and the screen-pop
//! card the rep sees while it rings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest reason or summary kept from the tool's arguments (bytes).
const MAX_TEXT: usize = 2_000;
/// Most transcript lines and tool records on a card.
pub const MAX_CARD_LINES: usize = 200;

/// How urgent the model says the escalation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Shown first on the card.
    High,
}

/// `escalate_to_human(reason, summary?, urgency?)`, parsed leniently: the
/// model's JSON may be anything, and a bad argument must not stop a
/// caller from reaching a person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EscalateRequest {
    /// Why (as the model put it).
    pub reason: String,
    /// The model's own summary, shown at once until the out-of-band one
    /// arrives.
    pub summary: Option<String>,
    /// Urgency (unknown values: normal).
    pub urgency: Urgency,
}

impl EscalateRequest {
    /// Parses the tool's JSON arguments.
    pub fn parse(arguments: &str) -> EscalateRequest {
        let value: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(|s| clip(s.trim()))
                .filter(|s| !s.is_empty())
        };
        EscalateRequest {
            reason: text("reason").unwrap_or_else(|| "not given".to_owned()),
            summary: text("summary"),
            urgency: value
                .get("urgency")
                .cloned()
                .and_then(|u| serde_json::from_value(u).ok())
                .unwrap_or_default(),
        }
    }
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// One line of the transcript so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardLine {
    /// `caller` or `agent`.
    pub who: String,
    /// What they said.
    pub text: String,
}

/// A record a tool fetched during the call (a CRM lookup, say), shown as
/// fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardRecord {
    /// The tool's name.
    pub tool: String,
    /// Its JSON result, shown as fields (objects) or as text.
    pub result: Value,
}

/// The screen pop: everything the rep sees while the call rings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScreenPop {
    /// warmline's call id.
    pub call_id: String,
    /// The caller's number, as the provider gave it.
    pub caller: String,
    /// The queue (skill).
    pub skill: String,
    /// Why the AI escalated.
    pub reason: String,
    /// How urgent.
    pub urgency: Urgency,
    /// The summary: the tool's at first, the model's once it arrives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The recommended next action (the model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// The transcript so far (the last [`MAX_CARD_LINES`] lines).
    pub transcript: Vec<CardLine>,
    /// Records tools fetched.
    pub records: Vec<CardRecord>,
}

/// The model's out-of-band answer: `{"summary": …, "next_action": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    /// Two or three sentences for the rep.
    pub summary: String,
    /// What the rep should do first.
    pub next_action: String,
}

impl CallSummary {
    /// Parses the model's text: a JSON object, possibly inside a code
    /// fence or with words around it.
    pub fn parse(text: &str) -> Option<CallSummary> {
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        let value: Value = serde_json::from_str(text.get(start..=end)?).ok()?;
        let field = |k: &str| value.get(k).and_then(Value::as_str).map(|s| clip(s.trim()));
        Some(CallSummary {
            summary: field("summary").filter(|s| !s.is_empty())?,
            next_action: field("next_action").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_leniently_with_normal_urgency_by_default() {
        let r = EscalateRequest::parse(
            r#"{"reason":"angry","summary":" wants refund ","urgency":"high"}"#,
        );
        assert_eq!(r.reason, "angry");
        assert_eq!(r.summary.as_deref(), Some("wants refund"));
        assert_eq!(r.urgency, Urgency::High);
        let odd = EscalateRequest::parse(r#"{"urgency":"now!!","summary":""}"#);
        assert_eq!(odd.urgency, Urgency::Normal);
        assert_eq!(odd.summary, None);
        assert_eq!(odd.reason, "not given");
        assert_eq!(EscalateRequest::parse("not json").urgency, Urgency::Normal);
    }

    #[test]
    fn a_summary_is_found_inside_a_code_fence_and_needs_a_summary_field() {
        let fenced = "```json\n{\"summary\":\"Refund.\",\"next_action\":\"Approve it\"}\n```";
        let s = CallSummary::parse(fenced).expect("parses");
        assert_eq!(s.summary, "Refund.");
        assert_eq!(s.next_action, "Approve it");
        assert_eq!(CallSummary::parse("{\"next_action\":\"x\"}"), None);
        assert_eq!(CallSummary::parse("no json"), None);
    }
}
