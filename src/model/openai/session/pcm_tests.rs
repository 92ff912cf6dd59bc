//! The session with `audio/pcm` at 24 kHz both ways.

use super::*;
use crate::model::TurnDetection;
use serde_json::json;

const PCM24K: AudioFormat = AudioFormat::Pcm16 { rate: 24_000 };

fn pcm_session() -> OpenAiSession {
    OpenAiSession::new(SessionConfig {
        model: "gpt-realtime".into(),
        instructions: "Be brief.".into(),
        voice: "marin".into(),
        input_format: PCM24K,
        output_format: PCM24K,
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        },
        tools: vec![],
        transcription_model: None,
        language: None,
        noise_reduction: None,
    })
}

fn server(s: &mut OpenAiSession, v: Value) -> Step {
    s.on_server_text(&v.to_string())
}

#[test]
fn session_update_announces_audio_pcm_at_24_khz_both_ways() {
    let mut s = pcm_session();
    let update = &s.on_open()[0];
    let pcm = json!({"type": "audio/pcm", "rate": 24_000});
    assert_eq!(update["session"]["audio"]["input"]["format"], pcm);
    assert_eq!(update["session"]["audio"]["output"]["format"], pcm);
}

#[test]
fn truncate_clamps_at_48_bytes_per_ms_of_pcm() {
    let mut s = pcm_session();
    s.on_open();
    server(&mut s, json!({"type":"session.updated","session":{}}));
    s.command(ModelCommand::CreateResponse { instructions: None });
    server(
        &mut s,
        json!({"type":"response.created","response":{"id":"r"}}),
    );
    // 100 ms of 24 kHz 16-bit PCM.
    let audio = base64::engine::general_purpose::STANDARD.encode([0u8; 4_800]);
    server(
        &mut s,
        json!({"type":"response.output_audio.delta","response_id":"r","item_id":"item_1","output_index":0,"content_index":0,"delta":audio}),
    );
    assert_eq!(s.produced_ms("item_1"), 100);
    let sent = s.command(ModelCommand::Truncate {
        item_id: "item_1".into(),
        content_index: 0,
        audio_end_ms: 150,
    });
    assert_eq!(sent[0]["audio_end_ms"], 100);
    let sent = s.command(ModelCommand::Truncate {
        item_id: "item_1".into(),
        content_index: 0,
        audio_end_ms: 60,
    });
    assert_eq!(sent[0]["audio_end_ms"], 60, "ms are ms at any rate");
}

#[test]
fn one_second_of_early_pcm_is_kept_until_the_session_is_ready() {
    let mut s = pcm_session();
    s.on_open();
    // 60 frames of 20 ms (960 bytes each) before session.updated.
    for i in 0..60u8 {
        assert!(s
            .command(ModelCommand::AppendAudio(vec![i; 960]))
            .is_empty());
    }
    let step = server(&mut s, json!({"type":"session.updated","session":{}}));
    let appends: Vec<&Value> = step
        .send
        .iter()
        .filter(|v| v["type"] == "input_audio_buffer.append")
        .collect();
    assert_eq!(appends.len(), 50, "the last second, not 8000 bytes of it");
    let first = base64::engine::general_purpose::STANDARD
        .decode(appends[0]["audio"].as_str().expect("base64"))
        .expect("decodes");
    assert_eq!(first[0], 10, "the oldest frames went first");
}
