//! The out-of-band summary for a rep (issue 14): `ModelCommand::Summarize`
//! on a live OpenAI session, against the fake Realtime server, comes back
//! as `ModelEvent::Summary` with the JSON the handoff card shows, while
//! the caller's own response streams beside it.

mod support {
    pub mod fake_realtime;
}

use std::time::Duration;

use support::fake_realtime::{start, FakeConfig};
use warmline::handoff::CallSummary;
use warmline::model::link::{ModelLink, OpenAiRealtime, RealtimeModel};
use warmline::model::{AudioFormat, ModelCommand, ModelEvent, SessionConfig, TurnDetection};

fn session() -> SessionConfig {
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
        transcription_model: None,
        language: None,
        noise_reduction: None,
    }
}

async fn next(events: &mut tokio::sync::mpsc::Receiver<ModelLink>) -> ModelEvent {
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(ModelLink::Event(e))) => e,
        other => panic!("no event: {other:?}"),
    }
}

#[tokio::test]
async fn a_summary_request_comes_back_as_json_beside_the_caller_s_response() {
    let (url, record) = start(FakeConfig {
        audio: vec![0xFF; 16_000],
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(20),
        record_events: true,
        server_vad: false,
    })
    .await;
    let model = OpenAiRealtime {
        url,
        api_key: "sk-test-fake".into(),
    };
    let mut s = model.open(session());
    assert_eq!(next(&mut s.events).await, ModelEvent::Ready);
    // A caller's response is streaming when the summary is asked for.
    let greet = ModelCommand::CreateResponse {
        instructions: Some("Greet the caller.".into()),
    };
    s.commands.send(greet).await.expect("session open");
    assert!(matches!(
        next(&mut s.events).await,
        ModelEvent::ResponseStarted { .. }
    ));
    let ask = ModelCommand::Summarize {
        request_id: "esc-1".into(),
    };
    s.commands.send(ask).await.expect("session open");
    let (mut summary, mut caller_done) = (None, false);
    while summary.is_none() || !caller_done {
        match next(&mut s.events).await {
            ModelEvent::Summary { request_id, text } => {
                assert_eq!(request_id, "esc-1");
                summary = text;
            }
            ModelEvent::ResponseDone { .. } => caller_done = true,
            _ => {}
        }
    }
    let parsed = CallSummary::parse(&summary.expect("text")).expect("summary JSON");
    assert_eq!(parsed.summary, "The caller wants a refund for order 42.");
    assert_eq!(parsed.next_action, "Approve the refund");
    let sent = record.lock().expect("record").connections[0].clone();
    let oob = sent
        .iter()
        .find(|e| e["type"] == "response.create" && e["response"]["conversation"] == "none")
        .expect("an out-of-band response.create");
    assert_eq!(
        oob["response"]["output_modalities"],
        serde_json::json!(["text"])
    );
    assert!(oob["response"].get("input").is_none());
}
