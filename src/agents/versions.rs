//! Versions of what a call runs with (issue 16, decision 0026): every
//! agent definition and every agent's set of tool definitions is named by
//! the SHA-256 of its canonical JSON, so that records can say which
//! prompt and which tools each call had, and a prompt change can be
//! judged by the outcomes of the calls that ran it.
//!
//! Canonical JSON: object keys sorted (recursively), no whitespace,
//! serde_json's number and string forms. The hash is over the definition
//! as loaded (`instructions_file` already read into `instructions`), so
//! editing the file makes a new version even when the path stays.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The key of the agent's hash in `CallEnded.versions`.
pub const AGENT_KEY: &str = "agent";
/// The key of the hash of the agent's tool definitions.
pub const TOOLS_KEY: &str = "tools";

/// One definition calls ran with, kept under its content hash.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Version {
    /// `sha256:` and 64 lowercase hex digits of the canonical JSON.
    pub hash: String,
    /// `agent` or `tools`.
    pub kind: &'static str,
    /// The agent it belongs to.
    pub agent: String,
    /// The definition itself (an agent table, or the list of `[[tools]]`
    /// tables the agent offers, ordered by name).
    pub definition: Value,
}

impl Version {
    /// The version of `definition` (anything serialisable to JSON).
    pub fn of(kind: &'static str, agent: &str, definition: &impl Serialize) -> Version {
        let definition = serde_json::to_value(definition).unwrap_or(Value::Null);
        Version {
            hash: content_hash(&definition),
            kind,
            agent: agent.to_owned(),
            definition,
        }
    }
}

/// `sha256:<hex>` of the canonical form of `value`.
pub fn content_hash(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Writes `value` with object keys sorted at every depth.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_ignores_key_order_and_whitespace() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b: Value =
            serde_json::from_str(r#"{ "a": { "x": "s", "y": [1,2] }, "b": 1 }"#).expect("json");
        assert_eq!(content_hash(&a), content_hash(&b));
        assert!(content_hash(&a).starts_with("sha256:"));
        assert_eq!(content_hash(&a).len(), 7 + 64);
    }

    #[test]
    fn any_change_of_a_value_makes_a_new_hash() {
        let a = json!({"instructions": "Be brief."});
        let b = json!({"instructions": "Be brief!"});
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn the_hash_of_a_known_text_is_sha256_of_its_canonical_form() {
        // sha256("{\"a\":1}"), as `printf '{"a":1}' | sha256sum` gives it.
        assert_eq!(
            content_hash(&json!({"a": 1})),
            "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
