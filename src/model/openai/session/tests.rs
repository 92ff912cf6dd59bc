use super::*;
use crate::model::{AudioFormat, TurnDetection};
use serde_json::json;

fn config() -> SessionConfig {
    SessionConfig {
        model: "gpt-realtime".into(),
        instructions: "Be brief.".into(),
        voice: "marin".into(),
        input_format: AudioFormat::Pcmu,
        output_format: AudioFormat::Pcmu,
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        },
        tools: vec![],
        transcription_model: Some("gpt-4o-mini-transcribe".into()),
        language: None,
        noise_reduction: None,
    }
}

fn types(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn ready() -> OpenAiSession {
    let mut s = OpenAiSession::new(config());
    s.on_open();
    s.on_server_text(r#"{"type":"session.created","session":{}}"#);
    s.on_server_text(r#"{"type":"session.updated","session":{}}"#);
    s
}

fn server(s: &mut OpenAiSession, v: Value) -> Step {
    s.on_server_text(&v.to_string())
}

#[test]
fn audio_before_session_updated_waits_and_is_flushed_in_order() {
    let mut s = OpenAiSession::new(config());
    assert_eq!(types(&s.on_open()), ["session.update"]);
    assert!(s
        .command(ModelCommand::AppendAudio(vec![1; 160]))
        .is_empty());
    assert!(s
        .command(ModelCommand::AppendAudio(vec![2; 160]))
        .is_empty());
    let step = s.on_server_text(r#"{"type":"session.updated","session":{}}"#);
    assert_eq!(step.events, vec![ModelEvent::Ready]);
    assert_eq!(
        types(&step.send),
        ["input_audio_buffer.append", "input_audio_buffer.append"]
    );
}

#[test]
fn a_second_response_create_waits_for_response_done() {
    let mut s = ready();
    assert_eq!(
        types(&s.command(ModelCommand::CreateResponse {
            instructions: Some("Greet".into())
        })),
        ["response.create"]
    );
    // Still requested: queue.
    assert!(s
        .command(ModelCommand::CreateResponse { instructions: None })
        .is_empty());
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}),
    );
    assert!(s
        .command(ModelCommand::FunctionOutput {
            call_id: "c1".into(),
            output: "{}".into()
        })
        .iter()
        .all(|v| v["type"] != "response.create"));
    let step = server(
        &mut s,
        json!({"type":"response.done","response":{"id":"resp_1","status":"completed"}}),
    );
    assert_eq!(
        types(&step.send),
        ["response.create"],
        "one queued create goes out"
    );
    assert!(s.response_in_flight());
}

#[test]
fn cancel_is_sent_once_and_the_servers_speech_started_does_not_cancel() {
    let mut s = ready();
    s.command(ModelCommand::CreateResponse { instructions: None });
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"resp_1"}}),
    );
    assert_eq!(
        types(&s.command(ModelCommand::CancelResponse)),
        ["response.cancel"]
    );
    assert!(
        s.command(ModelCommand::CancelResponse).is_empty(),
        "not twice"
    );
    server(
        &mut s,
        json!({"type":"response.done","response":{"id":"resp_1","status":"cancelled"}}),
    );

    s.command(ModelCommand::CreateResponse { instructions: None });
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"resp_2"}}),
    );
    server(
        &mut s,
        json!({"type":"input_audio_buffer.speech_started","audio_start_ms":900,"item_id":"i"}),
    );
    // interrupt_response is off: the server's VAD cancels nothing, so
    // warmline's cancel (after its own decision) must go out.
    assert_eq!(
        types(&s.command(ModelCommand::CancelResponse)),
        ["response.cancel"]
    );
    assert!(s.command(ModelCommand::CancelResponse).is_empty());
}

#[test]
fn turn_detection_neither_interrupts_nor_answers_on_its_own() {
    let mut s = OpenAiSession::new(config());
    let update = &s.on_open()[0];
    let td = &update["session"]["audio"]["input"]["turn_detection"];
    assert_eq!(td["interrupt_response"], json!(false));
    assert_eq!(td["create_response"], json!(false));
    assert_eq!(td["type"], json!("server_vad"));
}

#[test]
fn truncate_is_clamped_to_the_audio_the_model_produced() {
    let mut s = ready();
    s.command(ModelCommand::CreateResponse { instructions: None });
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"r"}}),
    );
    let audio = base64::engine::general_purpose::STANDARD.encode([0xFFu8; 800]); // 100 ms of μ-law
    let step = server(
        &mut s,
        json!({"type":"response.output_audio.delta","response_id":"r","item_id":"item_1","output_index":0,"content_index":0,"delta":audio}),
    );
    assert!(matches!(&step.events[0], ModelEvent::AudioDelta { audio, .. } if audio.len() == 800));
    assert_eq!(s.produced_ms("item_1"), 100);
    let sent = s.command(ModelCommand::Truncate {
        item_id: "item_1".into(),
        content_index: 0,
        audio_end_ms: 150,
    });
    assert_eq!(
        sent,
        vec![
            json!({"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":100})
        ]
    );
}

#[test]
fn server_events_become_model_events_and_unknown_or_broken_ones_do_not_stop_the_session() {
    let mut s = ready();
    let step = server(
        &mut s,
        json!({"type":"response.function_call_arguments.done","call_id":"c","name":"end_call","arguments":"{}","item_id":"i","response_id":"r"}),
    );
    assert_eq!(
        step.events,
        vec![ModelEvent::FunctionCall {
            call_id: "c".into(),
            name: "end_call".into(),
            arguments: "{}".into()
        }]
    );
    assert!(server(&mut s, json!({"type":"something.new","x":1}))
        .events
        .is_empty());
    assert!(matches!(
        s.on_server_text("{oops").events[..],
        [ModelEvent::Error { .. }]
    ));
    let step = server(
        &mut s,
        json!({"type":"error","error":{"type":"invalid_request_error","code":"response_cancel_not_active","message":"no"}}),
    );
    assert!(step.events.is_empty(), "harmless error is swallowed");
}

#[test]
fn replay_sends_items_without_old_ids() {
    let mut s = ready();
    let sent = s.command(ModelCommand::Replay(vec![
        crate::model::ConversationItem::CallerText("hi".into()),
        crate::model::ConversationItem::AgentText("hello".into()),
    ]));
    assert_eq!(
        types(&sent),
        ["conversation.item.create", "conversation.item.create"]
    );
    assert!(sent.iter().all(|v| v["item"].get("id").is_none()));
}

#[test]
fn a_summary_is_an_out_of_band_text_response_beside_the_caller_s_own() {
    let mut s = ready();
    // A caller's response is active.
    let sent = s.command(ModelCommand::CreateResponse { instructions: None });
    assert_eq!(types(&sent), ["response.create"]);
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}),
    );
    // The summary is sent at once, not queued behind it.
    let sent = s.command(ModelCommand::Summarize {
        request_id: "esc-1".into(),
    });
    assert_eq!(sent.len(), 1);
    let create = &sent[0]["response"];
    assert_eq!(create["conversation"], "none");
    assert_eq!(create["output_modalities"], json!(["text"]));
    assert!(
        create.get("input").is_none(),
        "the default conversation is the input"
    );
    assert_eq!(create["metadata"]["request_id"], "esc-1");
    let meta = json!({"warmline":"out_of_band","request_id":"esc-1"});
    let step = server(
        &mut s,
        json!({"type":"response.created","response":{"id":"resp_oob","status":"in_progress","conversation_id":null,"metadata":meta}}),
    );
    assert!(step.events.is_empty(), "{:?}", step.events);
    assert!(s.response_in_flight());
    let text = r#"{"summary":"Wants a refund.","next_action":"Refund order 42"}"#;
    let step = server(
        &mut s,
        json!({"type":"response.done","response":{"id":"resp_oob","status":"completed","metadata":meta,
            "output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":text}]}]}}),
    );
    assert_eq!(
        step.events,
        [ModelEvent::Summary {
            request_id: "esc-1".into(),
            text: Some(text.into())
        }]
    );
    // The caller's response is still the active one.
    let step = server(
        &mut s,
        json!({"type":"response.done","response":{"id":"resp_1","status":"completed"}}),
    );
    assert!(
        matches!(&step.events[..], [ModelEvent::ResponseDone { response_id, .. }] if response_id == "resp_1")
    );
    assert!(!s.response_in_flight());
}

#[test]
fn a_failed_summary_answers_none() {
    let mut s = ready();
    s.command(ModelCommand::Summarize {
        request_id: "esc-2".into(),
    });
    let meta = json!({"warmline":"out_of_band","request_id":"esc-2"});
    let step = server(
        &mut s,
        json!({"type":"response.done","response":{"id":"r","status":"failed","metadata":meta,"output":[]}}),
    );
    assert_eq!(
        step.events,
        [ModelEvent::Summary {
            request_id: "esc-2".into(),
            text: None
        }]
    );
}
