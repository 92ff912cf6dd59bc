//! The model's socket dies mid-response: the call survives, the caller hears
//! audio again within 500 ms, and the new session receives the replayed
//! conversation before its next response. Runs the real binary against the
//! fake Realtime server, with the Twilio simulator as the caller.

mod support {
    pub mod fake_realtime;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::time::{Duration, Instant};

use support::fake_realtime::{start, FakeConfig};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_model_socket_mid_response_is_survived_with_audio_within_500_ms_and_replay_first()
{
    let (model_url, record) = start(FakeConfig {
        audio: support::wav::fixture_mulaw("agent_02.wav"),
        drop_connection_after_deltas: Some((0, 4)),
        delta_interval: Duration::from_millis(150),
        record_events: true,
        server_vad: false,
    })
    .await;
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        true,
    );
    let addr = server.addr.clone();
    let answer = signed_webhook(&addr, AUTH, "CA_reconnect");
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_reconnect", &token).await;

    // Stream silence and watch the audio: find the gap around the drop.
    let mut last_frames = 0;
    let mut last_change = Instant::now();
    let mut longest_gap_after_first_audio = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        call.stream(&[0xFF; 160]).await;
        if call.observed.media_frames != last_frames {
            if last_frames > 0 {
                longest_gap_after_first_audio =
                    longest_gap_after_first_audio.max(last_change.elapsed());
            }
            last_frames = call.observed.media_frames;
            last_change = Instant::now();
        }
    }
    let connections = record.lock().expect("record").connections.clone();
    assert!(
        connections.len() >= 2,
        "no reconnect: {} connections",
        connections.len()
    );
    assert!(!call.observed.closed_by_server, "the call did not survive");
    assert!(
        longest_gap_after_first_audio <= Duration::from_millis(500),
        "dead air for {longest_gap_after_first_audio:?}"
    );

    // A key press asks the new session for a response; the replay must be in first.
    call.dtmf('5').await;
    call.stream(&vec![0xFF; 8_000]).await;
    let second = record.lock().expect("record").connections[1].clone();
    let types: Vec<&str> = second.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"session.update"), "{types:?}");
    let first_replay = second
        .iter()
        .position(|e| e["type"] == "conversation.item.create" && e["item"]["role"] == "assistant")
        .unwrap_or_else(|| panic!("no replayed agent item: {types:?}"));
    let first_response = types
        .iter()
        .position(|t| *t == "response.create")
        .unwrap_or_else(|| panic!("no response asked: {types:?}"));
    assert!(
        first_replay < first_response,
        "replay after the response: {types:?}"
    );
    // Old item ids are never sent again.
    assert!(second.iter().all(|e| e["item"].get("id").is_none()));
    let auth = record.lock().expect("record").auth.clone();
    assert!(auth.iter().all(|a| a == "Bearer sk-test-fake"), "{auth:?}");
}
