//! The built-in tool `take_callback(kind, number?, message?, when?)`: the
//! agent notes a callback request or a message for a person (decision
//! 0037). The handoff tells the agent to "offer a callback or to take a
//! message" when nobody can take the call; this is how what it took
//! reaches the supervisor's inbox.
//!
//! Nothing is called and nothing leaves the process: the answer is the
//! note itself, normalised (the number defaults to the caller's), and the
//! call's record keeps it (`call::call_log`), so the records store lists
//! it in `callbacks_and_messages` once the call has ended.

use serde_json::{json, Value};

use crate::call::tools::CallIdentity;
use crate::model::ToolSpec;

use super::webhook::error;

/// The tool's name.
pub const TAKE_CALLBACK: &str = "take_callback";
/// Longest message kept, bytes.
const MAX_MESSAGE: usize = 2_000;
/// Longest number or time kept, bytes.
const MAX_SHORT: usize = 100;

/// The spec offered to the model.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: TAKE_CALLBACK.into(),
        description: "Note a callback request or a message for a person, when nobody can take \
                      the call now or the caller asks to be called back. Confirm the number and \
                      the message with the caller first; a person sees them after the call."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["callback", "message"],
                         "description": "callback: the caller wants a call back; message: a message for someone."},
                "number": {"type": "string", "description": "The number to call back; the caller's own number when not given."},
                "message": {"type": "string", "description": "What it is about, or the message, in the caller's words."},
                "when": {"type": "string", "description": "When the caller prefers to be called, as they said it."}
            },
            "required": ["kind", "message"]
        }),
    }
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Takes the note for `call`: the answer the model gets, which is also
/// what the call's record keeps (`status: "noted"`), or a tool error
/// saying what is missing.
pub fn take(call: &CallIdentity, arguments: &str) -> Value {
    let value: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
    let text = |key: &str, max: usize| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| clip(s, max))
    };
    let kind = match text("kind", MAX_SHORT).as_deref() {
        Some("message") => "message",
        // A missing or unknown kind is a callback: the safer reading,
        // since a person then calls the caller.
        _ => "callback",
    };
    let message = text("message", MAX_MESSAGE);
    let number = text("number", MAX_SHORT).or_else(|| {
        Some(call.from.trim().to_owned()).filter(|n| !n.is_empty() && n != "anonymous")
    });
    if kind == "callback" && number.is_none() {
        return error(
            "invalid_arguments",
            "The caller's number is unknown: ask the caller for the number to call back, \
             then call take_callback again with it. Nothing was noted."
                .into(),
        );
    }
    if kind == "message" && message.is_none() {
        return error(
            "invalid_arguments",
            "The message is empty: ask the caller what to pass on, then call take_callback \
             again. Nothing was noted."
                .into(),
        );
    }
    json!({
        "status": "noted",
        "kind": kind,
        "number": number,
        "message": message,
        "when": text("when", MAX_SHORT),
        "instructions": match kind {
            "callback" => "Tell the caller a person will call them back at that number.",
            _ => "Tell the caller their message will be passed on.",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(from: &str) -> CallIdentity {
        CallIdentity::mint("twilio", "CA1", from, "+15550002222")
    }

    #[test]
    fn a_callback_without_a_number_goes_to_the_caller_s_own() {
        let noted = take(
            &caller("+15550001111"),
            r#"{"kind":"callback","message":"About order A17","when":"after 5 pm"}"#,
        );
        assert_eq!(noted["status"], "noted");
        assert_eq!(noted["kind"], "callback");
        assert_eq!(noted["number"], "+15550001111");
        assert_eq!(noted["message"], "About order A17");
        assert_eq!(noted["when"], "after 5 pm");
        let given = take(
            &caller("+15550001111"),
            r#"{"kind":"callback","number":" +15559998888 ","message":"x"}"#,
        );
        assert_eq!(given["number"], "+15559998888");
    }

    #[test]
    fn a_callback_with_no_number_at_all_and_an_empty_message_are_refused() {
        let refused = take(&caller("anonymous"), r#"{"kind":"callback","message":"x"}"#);
        assert_eq!(refused["error"]["kind"], "invalid_arguments");
        let empty = take(&caller("+1555"), r#"{"kind":"message","message":"  "}"#);
        assert_eq!(empty["error"]["kind"], "invalid_arguments");
        // Not JSON at all: a callback to the caller, with no message.
        let odd = take(&caller("+1555"), "not json");
        assert_eq!(odd["kind"], "callback");
        assert_eq!(odd["message"], Value::Null);
    }

    #[test]
    fn a_long_message_is_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let noted = take(
            &caller("+1555"),
            &json!({"kind": "message", "message": long}).to_string(),
        );
        let kept = noted["message"].as_str().unwrap_or_default();
        assert!(kept.len() <= MAX_MESSAGE && kept.chars().all(|c| c == 'é'));
    }
}
