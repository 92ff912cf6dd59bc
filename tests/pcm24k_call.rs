//! `[model] audio_format = "pcm24k"`: the model hears the caller as 24 kHz
//! PCM and speaks 24 kHz PCM, resampled at the call's edge.
//!
//! - In simulated time, the call core with 24 kHz deltas barges in and
//!   truncates within the Call path's bounds on the overlap fixtures.
//! - End to end, the real binary against the fake Realtime server with a
//!   simulated Twilio caller: the session announces `audio/pcm` at 24 kHz,
//!   the caller's audio arrives as 24 kHz PCM, the greeting is heard (it
//!   correlates with what the model sent), and a barge-in cancels and
//!   truncates the item.

mod support {
    pub mod fake_realtime;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use support::fake_realtime::{start, FakeConfig};
use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};
use warmline::call::model_audio::ModelAudioFormats;
use warmline::call::{CallConfig, CallCore, CallOutput};
use warmline::media::g711::ulaw_decode;
use warmline::model::audio::Encoder;
use warmline::model::{AudioFormat, ModelCommand, ModelEvent};

const PCM24K: AudioFormat = AudioFormat::Pcm16 { rate: 24_000 };
const TICK: Duration = Duration::from_millis(20);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name)
}

fn label(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).expect("label")).expect("json")
}

/// An 8 kHz fixture as the 24 kHz PCM a model would send.
fn pcm24k_of(name: &str) -> Vec<u8> {
    let mut encoder = Encoder::new(PCM24K).expect("24 kHz");
    let mut out = Vec::new();
    for frame in support::wav::frames_8k(&fixture(name)) {
        encoder.encode(frame.samples(), &mut out);
    }
    out
}

struct Outcome {
    clear_at: Option<Duration>,
    truncate_ms: Option<u64>,
    played_at_clear_ms: u64,
}

/// The model answers with `agent` (24 kHz PCM, in uneven deltas) from
/// t = 0 while the caller plays `caller_wav`; Twilio is simulated as in
/// `barge_in_fixtures.rs` (plays in real time, echoes marks).
fn run_core(agent: &[u8], caller_wav: &str) -> Outcome {
    let mut call = CallCore::new(CallConfig {
        greeting: None,
        model_audio: ModelAudioFormats {
            input: PCM24K,
            output: PCM24K,
        },
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::ResponseStarted {
            response_id: "resp_1".into(),
        },
    );
    // Deltas that split frames and samples anywhere.
    for chunk in agent.chunks(4_801) {
        call.on_model_event(
            Duration::ZERO,
            ModelEvent::AudioDelta {
                response_id: "resp_1".into(),
                item_id: "item_1".into(),
                content_index: 0,
                audio: chunk.to_vec(),
            },
        );
    }
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::AudioDone {
            response_id: "resp_1".into(),
            item_id: "item_1".into(),
        },
    );
    let mut twilio: VecDeque<(Duration, String)> = VecDeque::new();
    let mut played_ms = 0u64;
    let mut out = Outcome {
        clear_at: None,
        truncate_ms: None,
        played_at_clear_ms: 0,
    };
    for (i, frame) in support::wav::frames_8k(&fixture(caller_wav))
        .iter()
        .enumerate()
    {
        let now = TICK * (i as u32 + 1);
        while twilio.front().is_some_and(|(done, _)| *done <= now) {
            let (_, name) = twilio.pop_front().expect("front");
            played_ms += 20;
            call.on_mark(&name);
        }
        call.on_caller_frame(now, frame, &[0xFF; 160]);
        call.on_tick(now);
        while let Some(o) = call.poll_output() {
            match o {
                CallOutput::Audio {
                    mark: Some(name), ..
                } => {
                    let start = twilio.back().map_or(now, |(d, _)| (*d).max(now));
                    twilio.push_back((start + TICK, name));
                }
                CallOutput::ClearPlayback if out.clear_at.is_none() => {
                    out.clear_at = Some(now);
                    out.played_at_clear_ms = played_ms;
                    for (_, name) in twilio.drain(..) {
                        call.on_mark(&name);
                    }
                }
                CallOutput::Model(ModelCommand::Truncate { audio_end_ms, .. })
                    if out.truncate_ms.is_none() =>
                {
                    out.truncate_ms = Some(audio_end_ms);
                }
                CallOutput::Model(ModelCommand::AppendAudio(bytes)) => {
                    assert_eq!(bytes.len(), 960, "20 ms of 24 kHz PCM per caller frame");
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn with_pcm24k_barge_in_clears_within_100_ms_of_onset_and_truncates_to_what_was_played() {
    for i in 1..=4 {
        let name = format!("overlap_{i:02}");
        let l = label(&format!("{name}.json"));
        let agent = pcm24k_of(l["agent_source"].as_str().expect("agent source"));
        let onset_ms = l["speech"][0]["start_ms"].as_u64().expect("onset");
        let out = run_core(&agent, &format!("{name}.wav"));
        let clear = out
            .clear_at
            .unwrap_or_else(|| panic!("{name}: no barge-in"));
        let after_onset = clear.as_millis() as i64 - onset_ms as i64;
        let truncate = out.truncate_ms.expect("truncate");
        println!(
            "{name}: clear +{after_onset} ms after onset, truncate {truncate} ms, played {} ms",
            out.played_at_clear_ms
        );
        assert!(
            (0..=100).contains(&after_onset),
            "{name}: clear {after_onset} ms after onset"
        );
        assert!(
            truncate.abs_diff(out.played_at_clear_ms) <= 60,
            "{name}: truncate {truncate} vs played {}",
            out.played_at_clear_ms
        );
    }
}

/// The lag (in samples) and normalised correlation at which `heard`
/// best matches `sent`, searched over the first `max_lag` samples.
fn best_match(sent: &[f64], heard: &[f64], max_lag: usize) -> (usize, f64) {
    let mut best = (0, -1.0);
    for lag in 0..max_lag.min(heard.len().saturating_sub(sent.len() / 2)) {
        let n = sent.len().min(heard.len() - lag);
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for k in 0..n {
            let (x, y) = (sent[k], heard[lag + k]);
            xy += x * y;
            xx += x * x;
            yy += y * y;
        }
        let r = xy / (xx * yy).sqrt().max(1e-9);
        if r > best.1 {
            best = (lag, r);
        }
    }
    best
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcm24k_session_is_heard_by_a_twilio_caller_and_barge_in_truncates_it() {
    let agent_wav = "agent_01.wav";
    let (model_url, record) = start(FakeConfig {
        audio: pcm24k_of(agent_wav),
        drop_connection_after_deltas: None,
        // Slower than the deltas' audio per delta would need, faster than
        // real time: the answer is still streaming when the caller barges in.
        delta_interval: Duration::from_millis(25),
        record_events: true,
        server_vad: false,
    })
    .await;
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url.as_str())),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("WARMLINE_MODEL__AUDIO_FORMAT", Some("pcm24k")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
        true,
    );
    let answer = signed_webhook(&server.addr, AUTH, "CA_pcm24k");
    let (url, token) = stream_of(&answer.body);
    let ws = connect_stream(&url, AUTH, None).await.expect("upgrade");
    let mut call = SimCall::start(ws, "CA_pcm24k", &token).await;
    call.observed.audio = Some(Vec::new());

    // The greeting plays to its end while the caller is silent.
    call.stream(&vec![0xFF; 8 * 4_000]).await;
    let greeting = call.observed.audio.take().expect("recorded");
    // A key press asks for another answer; the caller talks over it.
    call.dtmf('5').await;
    call.stream(&vec![0xFF; 8 * 200]).await;
    call.stream(&support::wav::fixture_mulaw("caller_05.wav"))
        .await;
    call.stream(&vec![0xFF; 8 * 500]).await;
    assert!(
        call.observed.clears >= 1,
        "the caller's speech did not barge in"
    );

    // What the caller heard of the greeting is what the model sent.
    let heard: Vec<f64> = greeting
        .iter()
        .map(|&c| f64::from(ulaw_decode(c)))
        .collect();
    let sent: Vec<f64> = support::wav::frames_8k(&fixture(agent_wav))
        .iter()
        .flat_map(|f| {
            f.samples()
                .iter()
                .map(|&s| f64::from(s))
                .collect::<Vec<_>>()
        })
        .collect();
    let (lag, r) = best_match(&sent, &heard, 800);
    let level_db =
        20.0 * (rms(&heard[lag..(lag + sent.len()).min(heard.len())]) / rms(&sent)).log10();
    println!(
        "greeting: {} samples heard, lag {lag}, correlation {r:.3}, level {level_db:+.2} dB",
        heard.len()
    );
    assert!(
        r > 0.95,
        "the caller did not hear the model's audio: r = {r:.3}"
    );
    assert!(level_db.abs() < 1.0, "level off by {level_db:.2} dB");
    assert!(
        heard.len() >= sent.len(),
        "the greeting was cut short: {} of {} samples",
        heard.len(),
        sent.len()
    );

    let events = record.lock().expect("record").connections[0].clone();
    let update = events
        .iter()
        .find(|e| e["type"] == "session.update")
        .expect("session.update");
    let pcm = serde_json::json!({"type": "audio/pcm", "rate": 24_000});
    assert_eq!(update["session"]["audio"]["input"]["format"], pcm);
    assert_eq!(update["session"]["audio"]["output"]["format"], pcm);
    let appends: Vec<usize> = events
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.append")
        .map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e["audio"].as_str().expect("audio"))
                .expect("base64")
                .len()
        })
        .collect();
    assert!(appends.len() > 100, "{} appends", appends.len());
    assert!(
        appends.iter().all(|&n| n == 960),
        "caller audio goes as 20 ms of 24 kHz PCM"
    );
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let cancel = types
        .iter()
        .position(|t| *t == "response.cancel")
        .unwrap_or_else(|| panic!("no cancel: {types:?}"));
    let truncate = events
        .iter()
        .position(|e| e["type"] == "conversation.item.truncate")
        .unwrap_or_else(|| panic!("no truncate: {types:?}"));
    assert!(cancel < truncate, "cancel before truncate");
    let t = &events[truncate];
    assert_eq!(t["item_id"], "item_c0_2", "the interrupted answer");
    let end_ms = t["audio_end_ms"].as_u64().expect("integer ms");
    let agent_ms = sent.len() as u64 / 8;
    assert!(
        (100..agent_ms).contains(&end_ms),
        "truncated at {end_ms} ms of a {agent_ms} ms answer"
    );
}
