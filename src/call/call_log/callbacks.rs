//! Callbacks and messages the agent took with `take_callback` (decision
//! 0037), kept in the call's `escalation` JSON as `callback` and
//! `message` arrays: the shape the records store reads them from
//! (decision 0025), whether or not the agent also asked for a person.

use serde_json::{json, Map, Value};

/// The built-in tool's name (`tools::callback`; the call knows tools by
/// name only, as it knows `escalate_to_human`).
pub(super) const TAKE_CALLBACK: &str = "take_callback";

/// The note in a `take_callback` answer, if it noted one: `(kind, note)`
/// with the note's `number`, `message`, `when` and `at` (RFC 3339, when
/// the answer reached the call).
pub(super) fn note_callback(output: &str, at: String) -> Option<(&'static str, Value)> {
    let answer: Value = serde_json::from_str(output).ok()?;
    if answer.get("status").and_then(Value::as_str) != Some("noted") {
        return None;
    }
    let kind = match answer.get("kind").and_then(Value::as_str) {
        Some("message") => "message",
        _ => "callback",
    };
    let field = |key: &str| answer.get(key).cloned().unwrap_or(Value::Null);
    Some((
        kind,
        json!({
            "number": field("number"),
            "message": field("message"),
            "when": field("when"),
            "at": at,
        }),
    ))
}

/// The call's escalation with `callbacks` added under `callback` and
/// `message`. A call with callbacks and no escalation gets one holding
/// only them (no `outcome`: nobody was asked for).
pub(super) fn with_callbacks(
    escalation: Option<Value>,
    callbacks: Vec<(&'static str, Value)>,
) -> Option<Value> {
    if callbacks.is_empty() {
        return escalation;
    }
    let mut object = match escalation {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    };
    for (kind, note) in callbacks {
        let list = object
            .entry(kind)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(note);
        }
    }
    Some(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::CallLog;
    use crate::call::events::EndReason;
    use crate::call::tools::CallIdentity;
    use crate::model::ModelEvent;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn call(log: &mut CallLog, at: u64, id: &str, name: &str, arguments: &str, output: &str) {
        log.on_model_event(
            ms(at),
            &ModelEvent::FunctionCall {
                call_id: id.into(),
                name: name.into(),
                arguments: arguments.into(),
            },
        );
        log.on_tool_result(ms(at + 5), id, output);
    }

    #[test]
    fn a_callback_after_an_unanswered_escalation_joins_that_escalation() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        call(
            &mut log,
            1_000,
            "e1",
            "escalate_to_human",
            r#"{"reason":"billing"}"#,
            r#"{"status":"unavailable","reason":"nobody_answered"}"#,
        );
        call(
            &mut log,
            4_000,
            "t1",
            "take_callback",
            r#"{"kind":"callback","message":"refund"}"#,
            r#"{"status":"noted","kind":"callback","number":"+1555","message":"refund","when":null}"#,
        );
        call(
            &mut log,
            6_000,
            "t2",
            "take_callback",
            "{}",
            r#"{"error":{"kind":"invalid_arguments","message":"…"}}"#,
        );
        let identity = CallIdentity::mint("twilio", "CA1", "+1555", "+1556");
        let ended = log.finish(ms(9_000), identity, EndReason::CallerHungUp, None);
        let escalation = ended.escalation.expect("an escalation");
        assert_eq!(escalation["outcome"], "nobody_answered");
        assert_eq!(escalation["callback"][0]["number"], "+1555");
        assert_eq!(escalation["callback"][0]["message"], "refund");
        assert_eq!(escalation["callback"][0]["at"], "1970-01-01T00:00:04.005Z");
        assert_eq!(
            escalation["callback"].as_array().map(Vec::len),
            Some(1),
            "a refused note is not kept"
        );
        assert!(escalation.get("message").is_none());
    }

    #[test]
    fn a_message_alone_makes_an_escalation_with_no_outcome() {
        let mut log = CallLog::new(Duration::ZERO, 8);
        call(
            &mut log,
            2_000,
            "t1",
            "take_callback",
            r#"{"kind":"message","message":"tell Ana I called"}"#,
            r#"{"status":"noted","kind":"message","number":"+1555","message":"tell Ana I called"}"#,
        );
        let identity = CallIdentity::mint("twilio", "CA1", "+1555", "+1556");
        let ended = log.finish(ms(3_000), identity, EndReason::AgentEnded, None);
        let escalation = ended.escalation.expect("the message's container");
        assert_eq!(escalation["message"][0]["message"], "tell Ana I called");
        assert!(escalation.get("outcome").is_none());
        assert!(escalation.get("callback").is_none());
    }
}
