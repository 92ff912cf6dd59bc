//! Every client event warmline sends in a scripted call validates against
//! the `openai` package's GA `RealtimeClientEvent`, with no unknown field at
//! any level (tests/oracles/openai_oracle.py).

mod support {
    pub mod oracle;
}

use serde_json::{json, Value};
use warmline::model::openai::session::OpenAiSession;
use warmline::model::{
    AudioFormat, ConversationItem, ModelCommand, SessionConfig, ToolSpec, TurnDetection,
};

fn validate(events: &[Value]) {
    let answer = support::oracle::answer("openai_oracle.py", &Value::Array(events.to_vec()));
    assert_eq!(answer["ok"], json!(events.len()));
}

fn config(input: AudioFormat, output: AudioFormat, vad: TurnDetection) -> SessionConfig {
    SessionConfig {
        model: "gpt-realtime".into(),
        instructions: "You are the phone agent for Acme. Be brief.".into(),
        voice: "marin".into(),
        input_format: input,
        output_format: output,
        turn_detection: vad,
        tools: vec![ToolSpec {
            name: "end_call".into(),
            description: "End the call after saying goodbye.".into(),
            parameters: json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": []}),
        }],
        transcription_model: Some("gpt-4o-mini-transcribe".into()),
        language: None,
        noise_reduction: None,
    }
}

#[test]
fn every_client_event_of_a_scripted_call_is_a_valid_ga_event() {
    let mut sent = Vec::new();
    for cfg in [
        config(
            AudioFormat::Pcmu,
            AudioFormat::Pcmu,
            TurnDetection::ServerVad {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: 500,
            },
        ),
        config(
            AudioFormat::Pcm16 { rate: 24_000 },
            AudioFormat::Pcm16 { rate: 24_000 },
            TurnDetection::SemanticVad {
                eagerness: "low".into(),
            },
        ),
        // An agent's settings (decision 0020): a language hint for the
        // transcription and the provider's noise filter.
        SessionConfig {
            language: Some("es".into()),
            noise_reduction: Some("far_field".into()),
            ..config(
                AudioFormat::Pcmu,
                AudioFormat::Pcmu,
                TurnDetection::ServerVad {
                    threshold: 0.6,
                    prefix_padding_ms: 300,
                    silence_duration_ms: 700,
                },
            )
        },
    ] {
        let mut s = OpenAiSession::new(cfg);
        sent.extend(s.on_open());
        sent.extend(
            s.on_server_text(r#"{"type":"session.updated","session":{}}"#)
                .send,
        );
        sent.extend(s.command(ModelCommand::CreateResponse {
            instructions: Some("Greet the caller.".into()),
        }));
        sent.extend(
            s.on_server_text(r#"{"type":"response.created","response":{"id":"resp_1"}}"#)
                .send,
        );
        sent.extend(s.on_server_text(r#"{"type":"response.output_audio.delta","response_id":"resp_1","item_id":"item_1","content_index":0,"delta":"//////////8="}"#).send);
        sent.extend(s.command(ModelCommand::AppendAudio(vec![0xFF; 160])));
        sent.extend(s.command(ModelCommand::CancelResponse));
        sent.extend(s.command(ModelCommand::Truncate {
            item_id: "item_1".into(),
            content_index: 0,
            audio_end_ms: 1,
        }));
        sent.extend(
            s.on_server_text(
                r#"{"type":"response.done","response":{"id":"resp_1","status":"cancelled"}}"#,
            )
            .send,
        );
        sent.extend(s.command(ModelCommand::FunctionOutput {
            call_id: "call_1".into(),
            output: r#"{"ok":true}"#.into(),
        }));
        sent.extend(s.command(ModelCommand::CallerDtmf('5')));
        // The out-of-band summary for a rep (issue 14).
        sent.extend(s.command(ModelCommand::Summarize {
            request_id: "esc-1".into(),
        }));
        sent.extend(s.command(ModelCommand::Replay(vec![
            ConversationItem::CallerText("I need help with my bill.".into()),
            ConversationItem::AgentText("Sure, let me look.".into()),
            ConversationItem::FunctionCall {
                call_id: "call_1".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            },
            ConversationItem::FunctionOutput {
                call_id: "call_1".into(),
                output: "{}".into(),
            },
            // The start-up lookup's result, as a system message.
            ConversationItem::Context(r#"Caller lookup result: {"name":"Ada"}"#.into()),
        ])));
    }
    let kinds: std::collections::BTreeSet<&str> =
        sent.iter().filter_map(|v| v["type"].as_str()).collect();
    for required in [
        "session.update",
        "input_audio_buffer.append",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
        "conversation.item.create",
    ] {
        assert!(
            kinds.contains(required),
            "scripted call never sent {required}"
        );
    }
    validate(&sent);
}

#[test]
fn the_oracle_rejects_a_beta_shaped_event() {
    let beta = json!({"type": "session.update", "session": {"type": "realtime", "input_audio_format": "g711_ulaw"}});
    let out = support::oracle::run("openai_oracle.py", &json!([beta]));
    assert!(
        !out.status.success(),
        "the oracle must catch unknown fields"
    );
}
