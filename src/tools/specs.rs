//! The tool specs offered to the model: the built-ins, then `[[tools]]`.

use serde_json::json;

use super::callback;
use crate::config::{ToolConfig, ToolKind};
use crate::model::ToolSpec;

/// The specs offered to the model: the built-ins, then `[[tools]]`
/// (a `kind = "builtin"` table replaces its built-in's description and,
/// when given, schema). MCP entries are not here: their tools are what
/// their servers list at the time, [`Sidecar::specs`].
pub fn specs(tools: &[ToolConfig]) -> Vec<ToolSpec> {
    let mut specs = vec![
        ToolSpec {
            name: "end_call".into(),
            description: "End the call. Say goodbye first; the call ends when you finish speaking."
                .into(),
            parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
        },
        ToolSpec {
            name: "escalate_to_human".into(),
            description: "Hand the caller to a human rep. Tell the caller first.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why the caller needs a person."},
                    "summary": {"type": "string", "description": "What the rep should know."},
                    "urgency": {"type": "string", "enum": ["low", "normal", "high"]}
                },
                "required": ["reason"]
            }),
        },
        ToolSpec {
            name: "send_dtmf".into(),
            description: "Press keys on the phone keypad (DTMF), for example to choose an option in a phone menu or enter a number it asks for. The keys are sent after you finish speaking; the result comes back once they have been sent.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "digits": {
                        "type": "string",
                        "description": "The keys to press, in order: 0-9, *, #, A-D; w waits half a second, W a second. At most 32.",
                        "pattern": "^[0-9*#A-Dw,W]{1,32}$",
                        "maxLength": 32
                    }
                },
                "required": ["digits"]
            }),
        },
        callback::spec(),
    ];
    for tool in tools {
        let parameters = tool
            .parameters
            .clone()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if tool.kind == ToolKind::Builtin {
            if let Some(spec) = specs.iter_mut().find(|s| s.name == tool.name) {
                if !tool.description.is_empty() {
                    spec.description = tool.description.clone();
                }
                if tool.parameters.is_some() {
                    spec.parameters = parameters;
                }
            }
            continue;
        }
        if tool.kind == ToolKind::Mcp {
            continue;
        }
        specs.push(ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters,
        });
    }
    specs
}
