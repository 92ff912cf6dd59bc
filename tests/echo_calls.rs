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

/// The server runs below the simulated line's priority. The simulation
/// is the outside world (Twilio's playback, the caller's phone line): on a
/// loaded machine its own stalls would move the echo path in ways no real
/// line does, while the server's stalls are its problem to cope with
/// (decision 0042).
const LOWER_PRIORITY: &[&str] = &["nice", "-n", "5"];

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

/// The server's turn-taking lines (pauses, their triggers, resumes) and
/// the simulated line's timing, printed when a test is about to fail.
fn print_turn_log(server: &support::server::ServerProcess, call: &SimCall) {
    println!(
        "line: clears at {:?}, caller frames up to {:?} late, playback ran dry {} times, drifting {:?}",
        call.observed.clear_times,
        call.observed.max_send_lag,
        call.observed.playout_restarts,
        call.observed.max_playout_drift
    );
    for line in server.logs() {
        if line.contains("paused") || line.contains("interruption") || line.contains("echo") {
            println!("server: {line}");
        }
    }
}

/// The fake OpenAI model, saying `agent_01.wav` with its server VAD on
/// and every event recorded, and a server using it (below the line's
/// priority, every pause and its trigger logged for a failure message).
async fn openai_echo_server() -> (
    Vec<u8>,
    support::server::ServerProcess,
    std::sync::Arc<std::sync::Mutex<support::fake_realtime::Record>>,
) {
    let agent = support::wav::fixture_mulaw("agent_01.wav");
    let (model_url, record) = start(FakeConfig {
        audio: agent.clone(),
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(40),
        record_events: true,
        server_vad: true,
    })
    .await;
    let server = support::server::start_with(
        LOWER_PRIORITY,
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
            ("RUST_LOG", Some("warn,warmline::call=debug")),
        ],
        false,
    );
    (agent, server, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_call_with_echo_plays_the_greeting_whole_and_answers_only_the_caller() {
    let (agent, server, record) = openai_echo_server().await;
    let mut call = call(&server.addr, "CA_echo_openai", (300, 6.0)).await;
    // The greeting (2.9 s) plays over a line returning it 300 ms late,
    // only 6 dB down; then quiet. In real time the playout delay moves
    // between the greeting and the answer (the simulated Twilio's queue),
    // so this also checks the echo gate follows a path that changes.
    call.stream(&line_noise(5_000)).await;
    if call.observed.clears > 0 {
        print_turn_log(&server, &call);
    }
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
        "echo 300 ms / 6 dB: the fake server VAD fired {} times, warmline paused 0 times \
         (caller frames up to {:?} late, playback ran dry {} times, drifting {:?})",
        vad.speech_started,
        call.observed.max_send_lag,
        call.observed.playout_restarts,
        call.observed.max_playout_drift
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
    let server = support::server::start_with(
        LOWER_PRIORITY,
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

/// Stops `pid` for `length` every `every` until dropped: the server
/// descheduled, as on a loaded machine, but on purpose.
struct Stalls {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u32>>,
}

impl Stalls {
    fn start(pid: u32, every: Duration, length: Duration) -> Stalls {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let signal = move |sig: &str| {
            std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        };
        let thread = std::thread::spawn(move || {
            let mut stalls = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every.saturating_sub(length));
                if signal("-STOP") {
                    stalls += 1;
                }
                std::thread::sleep(length);
                signal("-CONT");
            }
            stalls
        });
        Stalls {
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the stalls (the server runs on) and says how many there were.
    fn end(mut self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Stalls {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stalling_150_ms_every_900_ms_does_not_stop_for_its_echo() {
    let (agent, server, record) = openai_echo_server().await;
    let mut call = call(&server.addr, "CA_echo_stalls", (300, 6.0)).await;
    // Each stall sends the overdue frames in a burst after the simulated
    // Twilio's queue ran dry: the echo path grows by the stall, for good.
    let stalls = Stalls::start(
        server.child.id(),
        Duration::from_millis(900),
        Duration::from_millis(150),
    );
    call.stream(&line_noise(5_000)).await;
    let count = stalls.end();
    if call.observed.clears > 0 {
        print_turn_log(&server, &call);
    }
    println!(
        "{count} stalls of 150 ms: the echo path grew {:?}; warmline paused {} times",
        call.observed.max_playout_drift, call.observed.clears
    );
    assert!(count >= 4, "only {count} stalls");
    assert!(
        call.observed.max_playout_drift >= Duration::from_millis(150),
        "the stalls did not move the echo path ({:?})",
        call.observed.max_playout_drift
    );
    assert_eq!(call.observed.clears, 0, "the agent stopped for its echo");
    let expected = decoded(&agent);
    assert!(
        call.played.len() >= expected.len() && call.played[..expected.len()] == expected[..],
        "the greeting did not play whole: {} of {} samples",
        call.played.len(),
        expected.len()
    );
    let events: Vec<Value> = record.lock().expect("record").connections[0].clone();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.create")
            .count(),
        1,
        "a response to the agent's own echo"
    );
}
