//! How a server's tools and results are shaped for the model: the names
//! it sees (`<entry>__<tool>`), the specs, and the function output of a
//! `tools/call` result. Pure functions of JSON, so they are tested
//! without a server.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::SEPARATOR;
use crate::model::ToolSpec;
use crate::tools::webhook::error;

/// Longest function name the model accepts (`^[a-zA-Z0-9_-]{1,64}$`).
const MAX_NAME: usize = 64;
/// Most tools taken from one server: the list goes into every session.
const MAX_TOOLS: usize = 128;
/// Largest function output given to the model (as for webhooks).
const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Longest error text from a server passed on to the model.
const MAX_ERROR_CHARS: usize = 500;

/// One tool a server lists, as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// The name the model calls: `<entry>__<tool>`.
    pub exposed: String,
    /// The server's own name for it.
    pub remote: String,
    /// Description and schema, from the server.
    pub spec: ToolSpec,
}

/// The name the model sees for a server's tool: `<entry>__<tool>`, with
/// any character a function name cannot hold replaced by `_`, and a name
/// longer than 64 shortened, ending in a hash of the tool's own name so
/// that two long names stay apart.
pub fn exposed_name(entry: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{entry}{SEPARATOR}{clean}");
    if name.len() <= MAX_NAME {
        return name;
    }
    // FNV-1a: stable across builds and processes, unlike the std hasher.
    let hash = tool.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head: String = name.chars().take(MAX_NAME - 9).collect();
    format!("{head}_{:08x}", hash as u32)
}

/// The model's view of a server's `tools/list` (each tool as JSON): in
/// the server's order, at most [`MAX_TOOLS`], without names that clash
/// with `reserved` (built-ins and other entries) or with each other.
pub fn catalog(entry: &str, tools: &[Value], reserved: &HashSet<String>) -> Vec<Listed> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for tool in tools {
        let Some(remote) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let exposed = exposed_name(entry, remote);
        if reserved.contains(&exposed) || !seen.insert(exposed.clone()) {
            tracing::warn!(tool = %entry, remote, exposed, "MCP tool skipped: its name clashes with another tool");
            continue;
        }
        if out.len() == MAX_TOOLS {
            tracing::warn!(tool = %entry, "MCP server lists more than {MAX_TOOLS} tools; the rest are not offered");
            break;
        }
        let text = |key: &str| {
            tool.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        let description = text("description")
            .or_else(|| text("title"))
            .unwrap_or_else(|| format!("{remote} (from {entry})"));
        let parameters = match tool.get("inputSchema") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => json!({"type": "object", "properties": {}}),
        };
        out.push(Listed {
            exposed: exposed.clone(),
            remote: remote.to_owned(),
            spec: ToolSpec {
                name: exposed,
                description,
                parameters,
            },
        });
    }
    out
}

/// The function output for a `tools/call` result (as JSON): its
/// `structuredContent` when there is one, else its one text item when
/// that is a JSON object or array, else its text as `{"result": "..."}`;
/// an `isError` result becomes an error object carrying the server's words.
pub fn output(exposed: &str, result: &Value) -> Value {
    let mut texts = Vec::new();
    let mut omitted = 0;
    for item in result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = item
            .get("text")
            .or_else(|| item.get("resource").and_then(|r| r.get("text")))
            .and_then(Value::as_str);
        match text {
            Some(t) => texts.push(t),
            // Images, audio and links cannot be spoken.
            None => omitted += 1,
        }
    }
    let text = texts.join("\n");
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let said = if text.trim().is_empty() {
            "it gave no reason".to_owned()
        } else {
            clip(&text)
        };
        return error("tool_error", format!("The {exposed} tool failed: {said}"));
    }
    // Many servers answer JSON as text: the model gets it as JSON, not as
    // a string holding JSON.
    let parsed = match texts.as_slice() {
        [one] if omitted == 0 => serde_json::from_str::<Value>(one)
            .ok()
            .filter(|v| v.is_object() || v.is_array()),
        _ => None,
    };
    let out = match result.get("structuredContent") {
        Some(v) if !v.is_null() => v.clone(),
        _ if parsed.is_some() => parsed.unwrap_or_default(),
        _ if omitted > 0 => {
            json!({"result": text, "omitted": format!("{omitted} item(s) that are not text")})
        }
        _ => json!({ "result": text }),
    };
    if out.to_string().len() > MAX_OUTPUT_BYTES {
        return error(
            "bad_answer",
            format!("The {exposed} tool answered with too much to use; its result is unknown."),
        );
    }
    out
}

/// At most [`MAX_ERROR_CHARS`] of a server's text.
pub(super) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_are_prefixed_valid_function_names_of_at_most_64() {
        assert_eq!(exposed_name("shop", "lookup_order"), "shop__lookup_order");
        assert_eq!(
            exposed_name("crm", "contacts.search/v2"),
            "crm__contacts_search_v2"
        );
        let long = "a".repeat(80);
        let a = exposed_name("shop", &format!("{long}1"));
        let b = exposed_name("shop", &format!("{long}2"));
        for name in [&a, &b] {
            assert_eq!(name.len(), 64, "{name}");
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            assert!(name.starts_with("shop__aaa"));
        }
        assert_ne!(a, b, "long names stay apart");
        assert_eq!(a, exposed_name("shop", &format!("{long}1")), "stable");
    }

    #[test]
    fn the_catalog_keeps_the_servers_schema_and_skips_clashing_names() {
        let tools = [
            json!({"name": "lookup", "description": "Find an order.",
                   "inputSchema": {"type": "object", "properties": {"order": {"type": "string"}}}}),
            json!({"name": "lookup", "description": "Twice."}),
            json!({"name": "a.b", "title": "Dotted"}),
            json!({"name": "a_b"}),
            json!({"name": "taken"}),
            json!({"description": "no name"}),
        ];
        let reserved: HashSet<String> = ["shop__taken".to_owned()].into();
        let listed = catalog("shop", &tools, &reserved);
        let names: Vec<&str> = listed.iter().map(|t| t.exposed.as_str()).collect();
        assert_eq!(names, ["shop__lookup", "shop__a_b"]);
        assert_eq!(listed[0].remote, "lookup");
        assert_eq!(listed[0].spec.description, "Find an order.");
        assert_eq!(
            listed[0].spec.parameters["properties"]["order"]["type"],
            "string"
        );
        assert_eq!(listed[1].remote, "a.b");
        assert_eq!(listed[1].spec.description, "Dotted");
        assert_eq!(listed[1].spec.parameters["type"], "object");
    }

    #[test]
    fn a_structured_result_is_the_output_and_text_is_wrapped() {
        let structured = json!({"content": [{"type": "text", "text": "{\"a\":1}"}],
                                "structuredContent": {"a": 1}});
        assert_eq!(output("shop__x", &structured), json!({"a": 1}));
        let json_text = json!({"content": [{"type": "text", "text": "{\n \"a\": [1, 2]\n}"}]});
        assert_eq!(output("shop__x", &json_text), json!({"a": [1, 2]}));
        let plain = json!({"content": [{"type": "text", "text": "42"}]});
        assert_eq!(output("shop__x", &plain), json!({"result": "42"}));
        let text = json!({"content": [{"type": "text", "text": "It is sunny."},
                                      {"type": "image", "data": "AAAA", "mimeType": "image/png"}]});
        assert_eq!(
            output("shop__x", &text),
            json!({"result": "It is sunny.", "omitted": "1 item(s) that are not text"})
        );
    }

    #[test]
    fn an_is_error_result_becomes_an_error_object_with_the_servers_words() {
        let failed = json!({"content": [{"type": "text", "text": "Order A17 is locked."}],
                            "isError": true});
        let out = output("shop__refund", &failed);
        assert_eq!(out["error"]["kind"], "tool_error");
        let message = out["error"]["message"].as_str().expect("words");
        assert!(message.contains("shop__refund"), "{message}");
        assert!(message.contains("Order A17 is locked."), "{message}");
        let silent = output("shop__refund", &json!({"content": [], "isError": true}));
        assert!(silent["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no reason")));
    }

    #[test]
    fn an_oversized_result_is_refused() {
        let big = json!({"content": [{"type": "text", "text": "x".repeat(MAX_OUTPUT_BYTES)}]});
        assert_eq!(output("shop__x", &big)["error"]["kind"], "bad_answer");
    }
}
