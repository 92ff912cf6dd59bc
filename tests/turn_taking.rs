//! Turn-taking in simulated time (decision 0010): warmline decides every
//! interruption and every answer, on the demo agent and on the OpenAI
//! session against a fake server whose VAD hears anything above −40 dBFS,
//! for a Twilio-like leg (marks) and an RTP leg (released audio).
//!
//! Print the figures with `cargo test --test turn_taking -- --nocapture`.

mod support {
    pub mod server_vad;
    pub mod turn_sim;
}

use serde_json::Value;
use support::turn_sim::{
    first_difference, fixture_samples, percentile, run, run_with_stalls, Backend, Outcome, Setup,
    Stalls,
};
use warmline::call::{CallConfig, PlaybackTracking};

const MARKS: PlaybackTracking = PlaybackTracking::Marks;
const RELEASED: PlaybackTracking = PlaybackTracking::Released { allowance_ms: 40 };

fn label(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("label")).expect("json")
}

fn mulaw(name: &str) -> Vec<u8> {
    fixture_samples(name)
        .iter()
        .map(|&s| warmline::media::g711::ulaw_encode(s))
        .collect()
}

/// A long agent turn: every agent fixture back to back (about 15 s).
fn long_agent() -> Vec<u8> {
    (1..=6)
        .flat_map(|i| mulaw(&format!("agent_{i:02}.wav")))
        .collect()
}

/// `len` samples of a quiet line (white noise at −60 dBFS).
fn line_noise(len: usize) -> Vec<i16> {
    let noise = fixture_samples("noise_white_m60.wav");
    noise.iter().copied().cycle().take(len).collect()
}

/// The caller's audio: `lead_ms` of the fixture's own opening (looped)
/// before the fixture, so the echo path and the line noise are learnt as
/// on a call where the agent has been talking.
fn with_lead_in(fixture: &[i16], lead_ms: usize) -> Vec<i16> {
    let opening = &fixture[..(300 * 8).min(fixture.len())];
    let mut out: Vec<i16> = opening.iter().copied().cycle().take(lead_ms * 8).collect();
    out.extend_from_slice(fixture);
    out
}

fn tracking_name(t: PlaybackTracking) -> &'static str {
    match t {
        PlaybackTracking::Marks => "marks",
        PlaybackTracking::Released { .. } => "released",
    }
}

fn assert_played_whole(name: &str, out: &Outcome) {
    assert!(!out.expected.is_empty(), "{name}: the model said nothing");
    if let Some(at) = first_difference(&out.played, &out.expected) {
        panic!(
            "{name}: played stream differs from the model's audio at sample {at} (played {}, model {})",
            out.played.len(),
            out.expected.len()
        );
    }
}

#[test]
fn echo_matrix_neither_pauses_nor_answers_the_agents_own_voice() {
    let mut cells = 0;
    for backend in [Backend::Demo, Backend::OpenAi] {
        for tracking in [MARKS, RELEASED] {
            for delay in [20, 60, 150, 300, 500] {
                for loss in [6.0, 10.0, 20.0] {
                    let agent = mulaw("agent_01.wav");
                    let agent_ms = match backend {
                        Backend::Demo => 1_570,
                        Backend::OpenAi => agent.len() as u64 / 8,
                    };
                    let duration_ms = agent_ms + 2_500;
                    let out = run(Setup {
                        tracking,
                        backend,
                        agent,
                        echo: Some((delay, loss)),
                        caller: line_noise(duration_ms as usize * 8),
                        duration_ms,
                        config: CallConfig::default(),
                    });
                    let cell = format!(
                        "{backend:?}/{}/{delay} ms/{loss} dB",
                        tracking_name(tracking)
                    );
                    assert_eq!(out.pauses, 0, "{cell}: the agent paused for its echo");
                    assert!(out.barge_ins.is_empty(), "{cell}: barge-in on echo");
                    assert_eq!((out.cancels, out.truncates), (0, 0), "{cell}");
                    assert!(
                        out.turn_responses.is_empty(),
                        "{cell}: answered its echo at {:?}",
                        out.turn_responses
                    );
                    assert_eq!(out.responses, 1, "{cell}: a response beyond the greeting");
                    assert_eq!(out.server.auto_cancels, 0, "{cell}");
                    assert_eq!(out.server.auto_responses, 0, "{cell}");
                    assert_played_whole(&cell, &out);
                    // Every caller frame reached the model, in order; the
                    // agent's echo as silence.
                    assert_eq!(out.appended, (duration_ms / 20) as usize * 160, "{cell}");
                    assert!(out.appended_silence > 0, "{cell}: echo reached the model");
                    if out.server.speech_started > 0 {
                        println!(
                            "{cell}: the model's VAD fired {} times on echo; warmline ignored it",
                            out.server.speech_started
                        );
                    }
                    cells += 1;
                }
            }
        }
    }
    println!("echo matrix: {cells} cells, no pause, no false interruption, no answer to echo");
}

/// A loaded machine deschedules the server now and then: the playout
/// clock's overdue frames then leave in a burst, the line's queue ran dry
/// meanwhile, and the echo path is that much longer from then on, while
/// the caller frames of the stall arrive together (decision 0042).
#[test]
fn a_stalling_server_neither_pauses_for_its_echo_nor_answers_it() {
    let mut cells = 0;
    for stalls in [
        Stalls {
            first_ms: 500,
            every_ms: 900,
            length_ms: 160,
        },
        Stalls {
            first_ms: 300,
            every_ms: 340,
            length_ms: 60,
        },
    ] {
        for delay in [60, 300, 500] {
            for loss in [6.0, 10.0] {
                let agent = long_agent();
                let duration_ms = agent.len() as u64 / 8 + 3_000;
                let out = run_with_stalls(
                    Setup {
                        tracking: MARKS,
                        backend: Backend::OpenAi,
                        agent,
                        echo: Some((delay, loss)),
                        caller: line_noise(duration_ms as usize * 8),
                        duration_ms,
                        config: CallConfig::default(),
                    },
                    Some(stalls),
                );
                let cell = format!(
                    "{} ms stalls every {} ms/{delay} ms/{loss} dB",
                    stalls.length_ms, stalls.every_ms
                );
                assert_eq!(out.pauses, 0, "{cell}: the agent paused for its echo");
                assert!(out.turn_responses.is_empty(), "{cell}: answered its echo");
                assert_eq!(out.responses, 1, "{cell}");
                assert_played_whole(&cell, &out);
                assert_eq!(out.appended, (duration_ms / 20) as usize * 160, "{cell}");
                cells += 1;
            }
        }
    }
    println!("stalls: {cells} cells, no pause, no answer to echo");
}

#[test]
fn room_noise_before_the_first_word_is_not_speech() {
    let word = fixture_samples("caller_01.wav");
    let l = label("caller_01.json");
    let (w0, w1) = (
        l["speech"][0]["start_ms"].as_u64().expect("start") as usize,
        l["speech"][0]["end_ms"].as_u64().expect("end") as usize,
    );
    for backend in [Backend::Demo, Backend::OpenAi] {
        for tracking in [MARKS, RELEASED] {
            for noise in [
                "noise_white_m45.wav",
                "noise_pink_m45.wav",
                "noise_brown_m45.wav",
                "noise_white_m35.wav",
                "noise_pink_m35.wav",
                "noise_brown_m35.wav",
            ] {
                // Digital silence, then the noise from 0.4 s, the word at 1.4 s.
                let noise_samples = fixture_samples(noise);
                let word_at_ms = 1_400usize;
                let total_ms = word_at_ms + (w1 - w0) + 3_000;
                let mut caller = vec![0i16; total_ms * 8];
                for (i, s) in caller.iter_mut().enumerate().skip(400 * 8) {
                    *s = noise_samples[i % noise_samples.len()];
                }
                for (i, &s) in word[w0 * 8..w1 * 8].iter().enumerate() {
                    let at = word_at_ms * 8 + i;
                    caller[at] = caller[at].saturating_add(s);
                }
                let out = run(Setup {
                    tracking,
                    backend,
                    agent: mulaw("agent_01.wav"),
                    echo: Some((150, 10.0)),
                    caller,
                    duration_ms: total_ms as u64,
                    config: CallConfig::default(),
                });
                let cell = format!("{backend:?}/{}/{noise}", tracking_name(tracking));
                let word_at = std::time::Duration::from_millis(word_at_ms as u64);
                let early_pause = out
                    .barge_ins
                    .iter()
                    .map(|b| b.paused_at)
                    .chain(out.false_interruptions.iter().map(|f| f.paused_at))
                    .chain(out.first_pause)
                    .filter(|&t| t < word_at)
                    .min();
                assert_eq!(early_pause, None, "{cell}: paused before the word");
                assert!(
                    out.turn_responses.iter().all(|&t| t > word_at),
                    "{cell}: answered the noise at {:?}",
                    out.turn_responses
                );
                assert_eq!(out.server.auto_cancels + out.server.auto_responses, 0);
                // The word itself is heard and answered.
                assert_eq!(
                    out.turn_responses.len(),
                    1,
                    "{cell}: the word after the noise was not answered once"
                );
            }
        }
    }
}

/// The caller fixtures at a normal level (the 23 above −26 dBFS).
fn normal_callers() -> Vec<String> {
    (1..=24)
        .map(|i| format!("caller_{i:02}"))
        .filter(|n| {
            label(&format!("{n}.json"))["speech_level_dbfs"]
                .as_f64()
                .expect("level")
                >= -26.0
        })
        .collect()
}

#[test]
fn double_talk_over_10_db_echo_pauses_within_150_ms_p95_then_cancels_and_truncates() {
    let callers = normal_callers();
    assert_eq!(callers.len(), 23);
    let lead_ms = 1_000;
    for tracking in [MARKS, RELEASED] {
        let mut reactions = Vec::new();
        for name in &callers {
            let l = label(&format!("{name}.json"));
            let onset = lead_ms as i64 + l["speech"][0]["start_ms"].as_i64().expect("onset");
            let fixture = fixture_samples(&format!("{name}.wav"));
            let caller = with_lead_in(&fixture, lead_ms);
            let duration_ms = caller.len() as u64 / 8;
            let out = run(Setup {
                tracking,
                backend: Backend::OpenAi,
                agent: long_agent(),
                echo: Some((150, 10.0)),
                caller,
                duration_ms,
                config: CallConfig::default(),
            });
            let cell = format!("{name}/{}", tracking_name(tracking));
            let barge = out
                .barge_ins
                .first()
                .unwrap_or_else(|| panic!("{cell}: no barge-in ({} pauses)", out.pauses));
            let reaction = barge.paused_at.as_millis() as i64 - onset;
            assert!(
                reaction >= 0,
                "{cell}: paused {reaction} ms before the onset"
            );
            // A response still generating is cancelled; one the model had
            // finished (it streams faster than real time) has nothing to
            // cancel. Either way what was not heard is truncated.
            if out.generating_at_barge_in[0] {
                assert!(out.cancels >= 1, "{cell}: no cancel");
                assert!(out.server.client_cancels >= 1, "{cell}: cancel not sent");
            }
            assert!(out.truncates >= 1, "{cell}: no truncate");
            assert!(barge.truncated_item.is_some(), "{cell}: nothing truncated");
            if reaction > 150 || !out.false_interruptions.is_empty() {
                println!(
                    "{cell}: onset {onset} ms, barge-in pause at {} ms (+{reaction}); earlier pauses that resumed: {:?}",
                    barge.paused_at.as_millis(),
                    out.false_interruptions
                        .iter()
                        .map(|f| (f.paused_at.as_millis(), f.resumed_at.as_millis()))
                        .collect::<Vec<_>>()
                );
            }
            reactions.push(reaction);
        }
        reactions.sort();
        let (p50, p95) = (percentile(&reactions, 50), percentile(&reactions, 95));
        println!(
            "double-talk ({}, 10 dB echo at 150 ms): onset to pause p50 {p50} ms, p95 {p95} ms, max {} ms; all: {reactions:?}",
            tracking_name(tracking),
            reactions.last().copied().unwrap_or(0)
        );
        assert!(p95 <= 150, "{}: p95 {p95} ms", tracking_name(tracking));
    }
}

#[test]
fn coughs_clicks_and_backchannels_pause_at_most_and_the_agent_resumes_without_losing_a_sample() {
    let mut sounds: Vec<(String, Vec<(u64, u64)>)> = Vec::new();
    for i in 1..=4 {
        let l = label(&format!("bursts_{i:02}.json"));
        let bursts = l["bursts"]
            .as_array()
            .expect("bursts")
            .iter()
            .map(|b| {
                (
                    b["start_ms"].as_u64().expect("start"),
                    b["end_ms"].as_u64().expect("end"),
                )
            })
            .collect();
        sounds.push((format!("bursts_{i:02}"), bursts));
    }
    for word in ["mmhmm", "okay", "uhhuh", "yeah", "right", "sure"] {
        let l = label(&format!("backchannel_{word}.json"));
        let speech = l["speech"]
            .as_array()
            .expect("speech")
            .iter()
            .map(|s| {
                (
                    s["start_ms"].as_u64().expect("start"),
                    s["end_ms"].as_u64().expect("end"),
                )
            })
            .collect();
        sounds.push((format!("backchannel_{word}"), speech));
    }
    let lead_ms = 1_000u64;
    for tracking in [MARKS, RELEASED] {
        let mut resume_delays = Vec::new();
        let mut paused_for = 0;
        let mut heard = 0;
        for (name, spans) in &sounds {
            let fixture = fixture_samples(&format!("{name}.wav"));
            let caller = with_lead_in(&fixture, lead_ms as usize);
            let agent = long_agent();
            let duration_ms = (caller.len() as u64 / 8).max(agent.len() as u64 / 8 + 1_500);
            let out = run(Setup {
                tracking,
                backend: Backend::OpenAi,
                agent,
                echo: Some((150, 10.0)),
                caller,
                duration_ms,
                config: CallConfig::default(),
            });
            let cell = format!("{name}/{}", tracking_name(tracking));
            assert!(
                out.barge_ins.is_empty(),
                "{cell}: barge-in at {:?}",
                out.barge_ins.first().map(|b| b.paused_at)
            );
            assert_eq!(
                (out.cancels, out.truncates, out.server.client_cancels),
                (0, 0, 0),
                "{cell}: a cancel or truncate reached the model"
            );
            heard += spans.len();
            for fi in &out.false_interruptions {
                let paused = fi.paused_at.as_millis() as u64;
                let end = spans
                    .iter()
                    .map(|&(s, e)| (s + lead_ms, e + lead_ms))
                    .filter(|&(s, _)| s <= paused + 20)
                    .map(|(_, e)| e)
                    .max()
                    .unwrap_or_else(|| panic!("{cell}: paused at {paused} ms with no sound"));
                let delay = fi.resumed_at.as_millis() as i64 - end as i64;
                assert!(
                    delay <= 400,
                    "{cell}: resumed {delay} ms after the sound ended"
                );
                resume_delays.push(delay);
                paused_for += 1;
            }
            assert_played_whole(&cell, &out);
        }
        resume_delays.sort();
        println!(
            "false interruptions ({}): {heard} sounds, {paused_for} paused the agent and all resumed; resume after the sound's end p50 {} ms, p95 {} ms, max {} ms; no cancel, no truncate, no sample lost or repeated",
            tracking_name(tracking),
            percentile(&resume_delays, 50),
            percentile(&resume_delays, 95),
            resume_delays.last().copied().unwrap_or(0)
        );
    }
}
