use std::time::Duration;

use super::super::{CallConfig, CallCore, CallOutput};
use super::*;
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::model::{ModelEvent, ResponseStatus};

const TICK: Duration = Duration::from_millis(20);

fn drain(call: &mut CallCore) -> Vec<CallOutput> {
    std::iter::from_fn(|| call.poll_output()).collect()
}

fn greeting_requested(outputs: &[CallOutput]) -> bool {
    outputs.iter().any(|o| {
        matches!(o, CallOutput::Model(ModelCommand::CreateResponse { instructions: Some(i) }) if i.contains("Greet"))
    })
}

#[test]
fn the_lookup_result_reaches_the_model_before_the_greeting_is_asked_for() {
    let mut call = CallCore::new(CallConfig {
        lookup: Some("crm".into()),
        ..CallConfig::default()
    });
    let first = drain(&mut call);
    assert_eq!(
        first,
        vec![CallOutput::RunTool {
            call_id: LOOKUP_CALL_ID.into(),
            name: "crm".into(),
            arguments: "{}".into(),
        }]
    );
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    assert!(
        !greeting_requested(&drain(&mut call)),
        "the greeting waits for the lookup"
    );
    call.on_tool_result(LOOKUP_CALL_ID, r#"{"name":"Ada","tier":"gold"}"#);
    let outputs = drain(&mut call);
    let context = outputs
        .iter()
        .position(|o| matches!(o, CallOutput::Model(ModelCommand::Replay(items)) if matches!(&items[..], [ConversationItem::Context(t)] if t.contains(r#""name":"Ada""#))))
        .expect("the lookup result goes to the model as context");
    let greeting = outputs
        .iter()
        .position(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. })))
        .expect("then the greeting");
    assert!(context < greeting, "{outputs:?}");
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, CallOutput::Model(ModelCommand::FunctionOutput { .. }))),
        "the lookup is no function output of the model's: {outputs:?}"
    );
    // A reconnect replays it.
    assert!(matches!(call.transcript(), [ConversationItem::Context(_)]));
}

#[test]
fn a_lookup_that_answers_before_the_stream_starts_does_not_hold_the_greeting() {
    let mut call = CallCore::new(CallConfig {
        lookup: Some("crm".into()),
        ..CallConfig::default()
    });
    drain(&mut call);
    call.on_tool_result(LOOKUP_CALL_ID, r#"{"error":{"kind":"timeout"}}"#);
    let outputs = drain(&mut call);
    assert!(!greeting_requested(&outputs), "no stream yet: no greeting");
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    assert!(greeting_requested(&drain(&mut call)));
}

fn limited(secs: u64) -> CallCore {
    let mut call = CallCore::new(CallConfig {
        max_duration: Some(Duration::from_secs(secs)),
        greeting: None,
        // A silent caller would be re-prompted first; this is about the limit.
        silence_reprompt_secs: 0,
        silence_hangup_secs: 0,
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    call
}

fn run_until(call: &mut CallCore, from: Duration, to: Duration, outputs: &mut Vec<CallOutput>) {
    let mut now = from;
    let mut index = from.as_millis() as u64 / 20;
    while now < to {
        let frame = Frame::silence(SampleRate::Hz8000, MediaTime(index * 160));
        call.on_caller_frame(now, &frame, &[0xFF; 160]);
        call.on_tick(now);
        outputs.extend(drain(call));
        now += TICK;
        index += 1;
    }
}

#[test]
fn at_the_time_limit_the_agent_says_goodbye_and_the_call_ends_once_it_is_heard() {
    let mut call = limited(60);
    let mut outputs = Vec::new();
    run_until(
        &mut call,
        Duration::ZERO,
        Duration::from_secs(60),
        &mut outputs,
    );
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, CallOutput::Model(ModelCommand::CreateResponse { .. }))),
        "nothing before the limit"
    );
    outputs.clear();
    let at = Duration::from_secs(60);
    run_until(&mut call, at, at + TICK, &mut outputs);
    assert!(
        outputs.contains(&CallOutput::Model(ModelCommand::CreateResponse {
            instructions: Some(TIME_LIMIT_GOODBYE.into())
        })),
        "{outputs:?}"
    );
    // The goodbye: 400 ms of audio, then done.
    call.on_model_event(
        at,
        ModelEvent::ResponseStarted {
            response_id: "bye".into(),
        },
    );
    call.on_model_event(
        at,
        ModelEvent::AudioDelta {
            response_id: "bye".into(),
            item_id: "bye_item".into(),
            content_index: 0,
            audio: vec![0x20; 3_200],
        },
    );
    call.on_model_event(
        at,
        ModelEvent::ResponseDone {
            response_id: "bye".into(),
            status: ResponseStatus::Completed,
        },
    );
    outputs.clear();
    run_until(
        &mut call,
        at + TICK,
        at + Duration::from_millis(200),
        &mut outputs,
    );
    assert!(
        !outputs.contains(&CallOutput::Hangup),
        "not while the goodbye plays"
    );
    // Marks come back as the leg plays the frames.
    let mut now = at + Duration::from_millis(200);
    for _ in 0..100 {
        for o in std::mem::take(&mut outputs) {
            if let CallOutput::Audio { mark: Some(m), .. } = o {
                call.on_mark(&m);
            }
        }
        run_until(&mut call, now, now + TICK, &mut outputs);
        now += TICK;
        if outputs.contains(&CallOutput::Hangup) || drain(&mut call).contains(&CallOutput::Hangup) {
            return;
        }
    }
    panic!("the call did not end after the goodbye");
}

#[test]
fn without_a_goodbye_the_call_ends_after_the_grace_time() {
    let mut call = limited(5);
    let mut outputs = Vec::new();
    let end = Duration::from_secs(5) + TIME_LIMIT_GRACE;
    run_until(&mut call, Duration::ZERO, end, &mut outputs);
    assert!(
        !outputs.contains(&CallOutput::Hangup),
        "not within the grace time"
    );
    run_until(&mut call, end, end + TICK * 2, &mut outputs);
    assert!(
        outputs.contains(&CallOutput::Hangup),
        "{:?}",
        outputs.last()
    );
}
