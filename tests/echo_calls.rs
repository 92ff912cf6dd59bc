//! End to end against the real `warmline` binary: a simulated Twilio call
//! whose line returns the agent's audio as echo. The agent (the demo, or a
//! fake OpenAI model whose server VAD hears anything above −40 dBFS and
//! honours `interrupt_response`/`create_response`) must neither stop nor
//! answer its own voice, and must answer the caller's real turn.

mod support {
    pub mod fake_realtime;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::time::Duration;

use serde_json::Value;
use support::fake_realtime::{start, FakeConfig};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};

/// Quiet line noise (white, −60 dBFS), μ-law.
fn line_noise(ms: usize) -> Vec<u8> {
    support::wav::fixture_mulaw("noise_white_m60.wav")
        .into_iter()
        .cycle()
        .take(ms * 8)
        .collect()
}

fn decoded(mulaw: &[u8]) -> Vec<i16> {
    mulaw
        .iter()
        .map(|&c| warmline::media::g711::ulaw_decode(c))
        .collect()
}

async fn call(addr: &str, sid: &str, echo: (u32, f32)) -> SimCall {
    let answer = signed_webhook(addr, AUTH, sid);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, sid, &token).await;
    call.echo = Some(echo);
    call
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_call_with_echo_plays_the_greeting_whole_and_answers_only_the_caller() {
    let agent = support::wav::fixture_mulaw("agent_01.wav");
    let (model_url, record) = start(FakeConfig {
        audio: agent.clone(),
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(40),
        record_events: true,
        server_vad: true,
    })
    .await;
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        false,
    );
    let mut call = call(&server.addr, "CA_echo_openai", (300, 6.0)).await;
    // The greeting (2.9 s) plays over a line returning it 300 ms late,
    // only 6 dB down; then quiet. In real time the playout delay moves
    // between the greeting and the answer (the simulated Twilio's queue),
    // so this also checks the echo gate follows a path that changes.
    call.stream(&line_noise(5_000)).await;
    assert_eq!(call.observed.clears, 0, "the agent stopped for its echo");
    let expected = decoded(&agent);
    assert!(
        call.played.len() >= expected.len() && call.played[..expected.len()] == expected[..],
        "the greeting did not play whole: {} of {} samples",
        call.played.len(),
        expected.len()
    );
    let events: Vec<Value> = record.lock().expect("record").connections[0].clone();
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(
        count("response.create"),
        1,
        "a response beyond the greeting"
    );
    assert_eq!(count("response.cancel"), 0);
    assert_eq!(count("conversation.item.truncate"), 0);
    let td = &events[0]["session"]["audio"]["input"]["turn_detection"];
    assert_eq!(
        (
            td["interrupt_response"].as_bool(),
            td["create_response"].as_bool()
        ),
        (Some(false), Some(false))
    );
    let vad = record.lock().expect("record").vad[0].clone();
    assert_eq!((vad.auto_cancels, vad.auto_responses), (0, 0));
    println!(
        "echo 300 ms / 6 dB: the fake server VAD fired {} times, warmline paused 0 times",
        vad.speech_started
    );

    // The caller's real turn is answered, by warmline's decision.
    call.stream(&support::wav::fixture_mulaw("caller_01.wav"))
        .await;
    call.stream(&line_noise(3_000)).await;
    let events: Vec<Value> = record.lock().expect("record").connections[0].clone();
    let creates = events
        .iter()
        .filter(|e| e["type"] == "response.create")
        .count();
    // The answer itself plays over the same echo. In real time the
    // simulated Twilio's playout delay moves between the greeting and the
    // answer; on a loaded machine (two cores shared with builds) the echo
    // gate sometimes pauses the answer on its own echo before it has
    // followed the move, and a third response follows (known limit,
    // decision 0010). What must hold: the turn is answered.
    assert!(creates >= 2, "the caller's turn was not answered");
    if creates > 2 {
        println!("known limit: the answer was interrupted by its own echo ({creates} responses)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_call_with_echo_plays_the_greeting_whole_and_does_not_answer_it() {
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("OPENAI_API_KEY", None)],
        false,
    );
    let mut call = call(&server.addr, "CA_echo_demo", (150, 10.0)).await;
    call.stream(&line_noise(4_000)).await;
    assert_eq!(call.observed.clears, 0, "the demo stopped for its echo");
    let greeting = decoded(&support::wav::fixture_mulaw("demo_greeting.wav"));
    assert!(
        call.played.len() >= greeting.len() && call.played[..greeting.len()] == greeting[..],
        "the greeting did not play whole: {} of {} samples",
        call.played.len(),
        greeting.len()
    );
    // Nothing but the greeting (its last partial frame padded): no answer
    // to echo.
    assert!(
        call.played.len() <= greeting.len() + 320,
        "the demo answered its own echo: {} samples played",
        call.played.len()
    );
}
