use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::call::core::{CallConfig, CallOutput};
use crate::call::PlaybackTracking;
use crate::media::dtmf::{InbandConfig, InbandDetector};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_decode;
use crate::model::{ModelCommand, ModelEvent};

const TICK: Duration = Duration::from_millis(20);

/// A call on an RTP leg (no marks), model ready, stream started.
fn call() -> CallCore {
    let mut call = CallCore::new(CallConfig {
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
        greeting: None,
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    call
}

fn function_call(call: &mut CallCore, now: Duration, id: &str, name: &str, arguments: &str) {
    call.on_model_event(
        now,
        ModelEvent::FunctionCall {
            call_id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        },
    );
}

fn agent_says(call: &mut CallCore, response: &str, ms: usize) {
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::ResponseStarted {
            response_id: response.into(),
        },
    );
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::AudioDelta {
            response_id: response.into(),
            item_id: format!("item_{response}"),
            content_index: 0,
            audio: vec![0x20; ms * 8],
        },
    );
}

/// What one slot of the playout clock produced.
#[derive(Debug, PartialEq)]
enum Slot {
    Agent,
    Dtmf(DtmfSlot),
    Idle,
}

/// Ticks slots `from..to`; returns what each produced and every function
/// output (with the slot it came in).
fn run(call: &mut CallCore, from: u32, to: u32) -> (Vec<Slot>, Vec<(u32, String, Value)>) {
    let mut slots = Vec::new();
    let mut outputs = Vec::new();
    for i in from..to {
        call.on_tick(TICK * i);
        let mut slot = Slot::Idle;
        while let Some(out) = call.poll_output() {
            match out {
                CallOutput::Audio { .. } => slot = Slot::Agent,
                CallOutput::SendDtmf(d) => slot = Slot::Dtmf(d),
                CallOutput::Model(ModelCommand::FunctionOutput { call_id, output }) => {
                    outputs.push((i, call_id, serde_json::from_str(&output).expect("JSON")));
                }
                _ => {}
            }
        }
        slots.push(slot);
    }
    (slots, outputs)
}

fn immediate_output(call: &mut CallCore) -> Option<Value> {
    let mut found = None;
    while let Some(out) = call.poll_output() {
        if let CallOutput::Model(ModelCommand::FunctionOutput { output, .. }) = out {
            found = Some(serde_json::from_str(&output).expect("JSON"));
        }
    }
    found
}

#[test]
fn keys_wait_for_the_agents_sentence_then_own_the_slots_and_answer_when_sent() {
    let mut call = call();
    agent_says(&mut call, "r1", 200);
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"1#"}"#,
    );
    assert_eq!(
        immediate_output(&mut call),
        None,
        "no answer before sending"
    );
    let (slots, outputs) = run(&mut call, 0, 40);
    // 200 ms of the agent, then two presses of 10 slots each.
    assert!(slots[..10].iter().all(|s| *s == Slot::Agent), "{slots:?}");
    let dtmf: Vec<&DtmfSlot> = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Dtmf(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf.len(), 20);
    assert!(slots[10..30].iter().all(|s| matches!(s, Slot::Dtmf(_))));
    let starts: Vec<(usize, char)> = dtmf
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.press.filter(|p| p.starts).map(|p| (i, p.digit)))
        .collect();
    assert_eq!(starts, [(0, '1'), (10, '#')]);
    assert!(dtmf
        .iter()
        .all(|d| d.mulaw.len() == 160 && d.press.is_some_and(|p| p.tone_samples == 800)));
    // The answer comes with the last slot, not before.
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let (at, id, output) = &outputs[0];
    assert_eq!((*at, id.as_str()), (29, "fc1"));
    assert_eq!(output["status"], "sent");
    assert_eq!(output["digits"], "1#");
    assert!(slots[30..].iter().all(|s| *s == Slot::Idle));
}

#[test]
fn the_slots_in_band_audio_decodes_to_the_keys_sent() {
    let mut call = call();
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"9w0a"}"#,
    );
    let (slots, outputs) = run(&mut call, 0, 60);
    let mut detector = InbandDetector::new(InbandConfig::default());
    let mut heard = String::new();
    for (i, slot) in slots.iter().enumerate() {
        let samples: Vec<i16> = match slot {
            Slot::Dtmf(d) => d.mulaw.iter().map(|&c| ulaw_decode(c)).collect(),
            _ => vec![0; 160],
        };
        let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), &samples)
            .expect("a frame");
        if let Some(e) = detector.push(&frame) {
            heard.push(e.digit.as_char());
        }
    }
    assert_eq!(heard, "90A");
    assert_eq!(outputs[0].2["digits"], "9w0A");
}

#[test]
fn agent_audio_that_arrives_while_keys_play_waits_for_them() {
    let mut call = call();
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"5"}"#,
    );
    let (first, _) = run(&mut call, 0, 3);
    assert!(first.iter().all(|s| matches!(s, Slot::Dtmf(_))));
    agent_says(&mut call, "r2", 100);
    let (rest, outputs) = run(&mut call, 3, 20);
    assert!(
        rest[..7].iter().all(|s| matches!(s, Slot::Dtmf(_))),
        "{rest:?}"
    );
    assert_eq!(outputs[0].0, 9);
    assert!(rest[7..12].iter().all(|s| *s == Slot::Agent), "{rest:?}");
}

#[test]
fn keys_go_after_five_seconds_even_if_the_agent_keeps_talking() {
    let mut call = call();
    agent_says(&mut call, "r1", 8_000);
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"3"}"#,
    );
    let (slots, outputs) = run(&mut call, 0, 270);
    let first_dtmf = slots.iter().position(|s| matches!(s, Slot::Dtmf(_)));
    assert_eq!(first_dtmf, Some(250), "START_WAIT is 5 s");
    assert_eq!(outputs[0].0, 259);
    // The agent's sentence goes on from where it was held.
    assert!(slots[260..].iter().all(|s| *s == Slot::Agent));
}

#[test]
fn bad_digits_are_refused_at_once_with_words_the_model_can_relay() {
    for (arguments, needle) in [
        (r#"{"digits":"12x4"}"#, "'x' is not a key"),
        (r#"{"digits":""}"#, "empty"),
        (r#"{"keys":"12"}"#, "No digits"),
        ("not json", "not JSON"),
        (r#"{"digits":"1 2"}"#, "' ' is not a key"),
        (&format!(r#"{{"digits":"{}"}}"#, "1".repeat(33)), "33 keys"),
    ] {
        let mut call = call();
        function_call(&mut call, Duration::ZERO, "fc1", "send_dtmf", arguments);
        let output = immediate_output(&mut call).expect("answered at once");
        assert_eq!(output["error"]["kind"], "bad_arguments", "{arguments}");
        let message = output["error"]["message"].as_str().expect("words");
        assert!(message.contains(needle), "{arguments}: {message}");
        let (slots, _) = run(&mut call, 0, 5);
        assert!(slots.iter().all(|s| *s == Slot::Idle), "nothing sent");
    }
    let mut call = call();
    let longest = format!(r#"{{"digits":"{}"}}"#, "1".repeat(MAX_KEYS));
    function_call(&mut call, Duration::ZERO, "fc1", "send_dtmf", &longest);
    assert_eq!(immediate_output(&mut call), None, "32 keys are accepted");
}

#[test]
fn w_and_comma_pause_half_a_second_and_capital_w_a_second() {
    let (digits, keys) = parse_dial_string(r#"{"digits":"1w2,3W4"}"#).expect("valid");
    assert_eq!(digits, "1w2,3W4");
    let frames = ToneTiming::default().total_frames(&keys);
    // Four presses of 200 ms, then 500 + 500 + 1000 ms of pauses.
    assert_eq!(frames, (4 * 200 + 2_000) / 20);
}

#[test]
fn a_fifth_waiting_request_is_answered_busy() {
    let mut call = call();
    for i in 0..MAX_QUEUED {
        function_call(
            &mut call,
            Duration::ZERO,
            &format!("fc{i}"),
            "send_dtmf",
            r#"{"digits":"1"}"#,
        );
    }
    assert_eq!(immediate_output(&mut call), None);
    function_call(
        &mut call,
        Duration::ZERO,
        "fc9",
        "send_dtmf",
        r#"{"digits":"1"}"#,
    );
    let output = immediate_output(&mut call).expect("answered at once");
    assert_eq!(output["error"]["kind"], "busy");
    // The four play one after another, each answered when sent.
    let (_, outputs) = run(&mut call, 0, 45);
    let ids: Vec<&str> = outputs.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, ["fc0", "fc1", "fc2", "fc3"]);
}

#[test]
fn end_call_after_send_dtmf_hangs_up_once_the_keys_are_sent() {
    let mut call = call();
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"12"}"#,
    );
    function_call(&mut call, Duration::ZERO, "fc2", "end_call", "{}");
    let mut hangup_at = None;
    let mut last_dtmf = None;
    for i in 0..40u32 {
        call.on_tick(TICK * i);
        while let Some(out) = call.poll_output() {
            match out {
                CallOutput::Hangup => {
                    hangup_at.get_or_insert(i);
                }
                CallOutput::SendDtmf(_) => last_dtmf = Some(i),
                _ => {}
            }
        }
    }
    assert_eq!(last_dtmf, Some(19));
    assert_eq!(hangup_at, Some(19), "with the last slot, not before");
}

#[test]
fn a_polite_end_drops_keys_not_yet_sent_and_plays_the_prompt() {
    let mut call = call();
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"123456"}"#,
    );
    let _ = run(&mut call, 0, 5);
    call.end_with_prompt(Some(&[1_000i16; 800]));
    let (slots, _) = run(&mut call, 5, 15);
    assert!(slots[..5].iter().all(|s| *s == Slot::Agent), "{slots:?}");
}

#[test]
fn a_caller_key_while_our_keys_play_is_taken_for_their_echo() {
    let mut call = call();
    function_call(
        &mut call,
        Duration::ZERO,
        "fc1",
        "send_dtmf",
        r#"{"digits":"12"}"#,
    );
    let _ = run(&mut call, 0, 3);
    let mut forwarded = Vec::new();
    let mut keys_to_model = |call: &mut CallCore| {
        while let Some(out) = call.poll_output() {
            if let CallOutput::Model(ModelCommand::CallerDtmf(d)) = out {
                forwarded.push(d);
            }
        }
    };
    call.on_dtmf('1');
    keys_to_model(&mut call);
    let (_, outputs) = run(&mut call, 3, 25);
    assert_eq!(outputs.len(), 1, "the keys were sent");
    call.on_dtmf('7');
    keys_to_model(&mut call);
    assert_eq!(
        forwarded,
        ['7'],
        "the key during the keys is dropped, the one after goes"
    );
}
