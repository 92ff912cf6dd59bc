//! Barge-in on the labelled fixtures, in simulated time, with a simulated
//! Twilio that plays what it receives in real time and echoes each mark
//! when the audio before it has played.

mod support {
    pub mod wav;
}

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use warmline::call::{CallConfig, CallCore, CallOutput};
use warmline::model::{ModelCommand, ModelEvent};

const TICK: Duration = Duration::from_millis(20);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name)
}

fn label(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("label");
    serde_json::from_str(&text).expect("json")
}

struct Outcome {
    /// (decision time, onset) of the first barge-in.
    barge_in: Option<Duration>,
    clear_at: Option<Duration>,
    truncate_ms: Option<u64>,
    /// What the simulated Twilio had played when the clear went out.
    played_at_clear_ms: u64,
}

/// Plays `agent` (μ-law) as the model's answer from t = 0 and `caller` as
/// the caller's stream after `lead_frames` of its own opening (looped);
/// returns what happened, on the caller file's clock.
fn run(agent: &[u8], caller_wav: &str, lead_frames: usize) -> Outcome {
    let mut call = CallCore::new(CallConfig {
        greeting: None,
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
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::AudioDelta {
            response_id: "resp_1".into(),
            item_id: "item_1".into(),
            content_index: 0,
            audio: agent.to_vec(),
        },
    );
    let file = support::wav::frames_8k(&fixture(caller_wav));
    // The agent has been talking for a while on a real call: the echo
    // gate learns the line in the lead-in (the fixture's first 300 ms of
    // noise, repeated).
    let caller: Vec<_> = file[..15]
        .iter()
        .cycle()
        .take(lead_frames)
        .chain(file.iter())
        .enumerate()
        .map(|(i, f)| {
            warmline::media::frame::Frame::from_samples(
                warmline::media::frame::SampleRate::Hz8000,
                warmline::media::frame::MediaTime(i as u64 * 160),
                f.samples(),
            )
            .expect("frame")
        })
        .collect();
    let lead = TICK * lead_frames as u32;
    // Twilio's side: marks waiting for their audio to finish playing.
    let mut twilio_queue: VecDeque<(Duration, String)> = VecDeque::new();
    let mut played_ms = 0u64;
    let mut out = Outcome {
        barge_in: None,
        clear_at: None,
        truncate_ms: None,
        played_at_clear_ms: 0,
    };
    for (i, frame) in caller.iter().enumerate() {
        // Frame i has fully arrived at the end of its 20 ms.
        let now = TICK * (i as u32 + 1);
        while twilio_queue.front().is_some_and(|(done, _)| *done <= now) {
            let (_, name) = twilio_queue.pop_front().expect("front");
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
                    // Twilio plays frames back to back.
                    let start = twilio_queue.back().map_or(now, |(d, _)| (*d).max(now));
                    twilio_queue.push_back((start + TICK, name));
                }
                CallOutput::ClearPlayback if out.clear_at.is_none() => {
                    out.clear_at = Some(now.saturating_sub(lead));
                    out.played_at_clear_ms = played_ms;
                    // Twilio echoes the pending marks at once; they are stale.
                    for (_, name) in twilio_queue.drain(..) {
                        call.on_mark(&name);
                    }
                }
                CallOutput::Model(ModelCommand::Truncate { audio_end_ms, .. })
                    if out.truncate_ms.is_none() =>
                {
                    out.truncate_ms = Some(audio_end_ms);
                }
                CallOutput::BargeIn(r) if out.barge_in.is_none() => {
                    out.barge_in = Some(r.paused_at.saturating_sub(lead))
                }
                _ => {}
            }
        }
    }
    out
}

fn overlap_fixtures() -> Vec<String> {
    (1..=4).map(|i| format!("overlap_{i:02}")).collect()
}

#[test]
fn caller_speech_over_the_agent_clears_within_100_ms_of_onset_and_truncates_to_what_was_played() {
    for name in overlap_fixtures() {
        let l = label(&format!("{name}.json"));
        let agent = support::wav::fixture_mulaw(l["agent_source"].as_str().expect("agent source"));
        let onset_ms = l["speech"][0]["start_ms"].as_u64().expect("onset");
        let out = run(&agent, &format!("{name}.wav"), 0);
        let clear = out
            .clear_at
            .unwrap_or_else(|| panic!("{name}: no barge-in"));
        let decided = out.barge_in.expect("recorded");
        let after_onset = clear.as_millis() as i64 - onset_ms as i64;
        println!(
            "{name}: onset {onset_ms} ms, clear {} ms (+{after_onset}), truncate {:?}, played {}",
            clear.as_millis(),
            out.truncate_ms,
            out.played_at_clear_ms
        );
        assert!(
            (0..=100).contains(&after_onset),
            "{name}: clear {after_onset} ms after onset"
        );
        assert!(
            clear.saturating_sub(decided) <= Duration::from_millis(20),
            "{name}: clear after decision"
        );
        let truncate = out.truncate_ms.expect("truncate");
        assert!(
            truncate.abs_diff(out.played_at_clear_ms) <= 60,
            "{name}: truncate {truncate} vs played {}",
            out.played_at_clear_ms
        );
    }
}

#[test]
fn agent_echo_10_to_25_db_down_does_not_barge_in() {
    for name in [
        "echo_60ms_20db",
        "echo_100ms_25db",
        "echo_120ms_20db",
        "echo_80ms_15db",
    ] {
        let l = label(&format!("{name}.json"));
        let agent = support::wav::fixture_mulaw(l["agent_source"].as_str().expect("agent source"));
        let out = run(&agent, &format!("{name}.wav"), 0);
        assert!(
            out.barge_in.is_none(),
            "{name}: echo caused a barge-in at {:?}",
            out.barge_in
        );
    }
}

#[test]
fn coughs_clicks_and_pops_while_the_agent_speaks_do_not_barge_in() {
    // A long agent turn: every agent fixture back to back.
    let agent: Vec<u8> = (1..=6)
        .flat_map(|i| support::wav::fixture_mulaw(&format!("agent_{i:02}.wav")))
        .collect();
    for i in 1..=4 {
        let name = format!("bursts_{i:02}.wav");
        let out = run(&agent, &name, 0);
        assert!(
            out.barge_in.is_none(),
            "{name}: barge-in at {:?}",
            out.barge_in
        );
    }
}

#[test]
fn caller_speech_at_normal_level_barges_in() {
    let agent: Vec<u8> = (1..=6)
        .flat_map(|i| support::wav::fixture_mulaw(&format!("agent_{i:02}.wav")))
        .collect();
    let mut fired = 0;
    let mut reactions = Vec::new();
    let files: Vec<String> = (1..=24).map(|i| format!("caller_{i:02}")).collect();
    for name in &files {
        let l = label(&format!("{name}.json"));
        if l["speech_level_dbfs"].as_f64().expect("level") < -26.0 {
            continue; // quieter than a normal caller
        }
        let out = run(&agent, &format!("{name}.wav"), 50);
        let onset = l["speech"][0]["start_ms"].as_u64().expect("onset");
        let clear = out
            .clear_at
            .unwrap_or_else(|| panic!("{name}: no barge-in on normal-level speech"));
        let after = clear.as_millis() as i64 - onset as i64;
        println!("{name}: {} clear +{after} ms", l["source"][0]);
        reactions.push(after);
        fired += 1;
    }
    assert!(fired >= 10, "only {fired} files at normal level");
    reactions.sort();
    println!("onset to clear, ms: {reactions:?}");
    // Voicing confirms a barge-in, so words that open with an unvoiced
    // consonant (/k/ of "cannot", /s/ of "something") wait for their vowel.
    let within_100 = reactions.iter().filter(|&&r| r <= 100).count();
    assert!(within_100 * 100 >= reactions.len() * 85, "{reactions:?}");
    assert!(reactions.iter().all(|&r| r <= 250), "{reactions:?}");
}
