use std::sync::Arc;
use std::time::Duration;

use super::super::{CallConfig, CallCore, CallOutput};
use super::*;
use crate::call::PlaybackTracking;
use crate::media::g711::{ulaw_decode, ulaw_encode};
use crate::model::{ModelCommand, ModelEvent, ResponseStatus};

const TICK: Duration = Duration::from_millis(20);
/// The survey prompt: 400 ms at a level the agent's audio never has.
const PROMPT_LEVEL: i16 = 3_000;
const PROMPT: Duration = Duration::from_millis(400);
/// The agent's goodbye level.
const AGENT_LEVEL: i16 = 9_000;

fn survey(timeout: Duration) -> SurveyConfig {
    SurveyConfig {
        enabled: true,
        prompt: Arc::new(vec![PROMPT_LEVEL; 8 * PROMPT.as_millis() as usize]),
        timeout,
    }
}

fn call_with(survey: Option<SurveyConfig>) -> CallCore {
    let mut call = CallCore::new(CallConfig {
        greeting: None,
        survey,
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
        silence_reprompt_secs: 0,
        silence_hangup_secs: 0,
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    call
}

/// The agent says a 200 ms goodbye and calls `end_call` at `now`.
fn agent_ends_call(call: &mut CallCore, now: Duration) {
    call.on_model_event(
        now,
        ModelEvent::ResponseStarted {
            response_id: "r1".into(),
        },
    );
    call.on_model_event(
        now,
        ModelEvent::AudioDelta {
            response_id: "r1".into(),
            item_id: "i1".into(),
            content_index: 0,
            audio: vec![ulaw_encode(AGENT_LEVEL); 1_600],
        },
    );
    call.on_model_event(
        now,
        ModelEvent::AudioDone {
            response_id: "r1".into(),
            item_id: "i1".into(),
        },
    );
    call.on_model_event(
        now,
        ModelEvent::FunctionCall {
            call_id: "call_end".into(),
            name: "end_call".into(),
            arguments: "{}".into(),
        },
    );
    call.on_model_event(
        now,
        ModelEvent::ResponseDone {
            response_id: "r1".into(),
            status: ResponseStatus::Completed,
        },
    );
}

/// What a tick sent: the level of each audio frame, and whether it hung up.
#[derive(Debug, Default)]
struct Heard {
    levels: Vec<i16>,
    hung_up_at: Option<Duration>,
    to_model: Vec<ModelCommand>,
}

fn run(call: &mut CallCore, heard: &mut Heard, from: Duration, to: Duration) {
    let mut now = from;
    while now <= to && heard.hung_up_at.is_none() {
        call.on_tick(now);
        collect(call, heard, now);
        now += TICK;
    }
}

fn collect(call: &mut CallCore, heard: &mut Heard, now: Duration) {
    while let Some(output) = call.poll_output() {
        match output {
            CallOutput::Audio { mulaw, .. } => heard.levels.push(ulaw_decode(mulaw[80])),
            CallOutput::Hangup => heard.hung_up_at = Some(now),
            CallOutput::Model(command) => heard.to_model.push(command),
            _ => {}
        }
    }
}

fn near(level: i16, want: i16) -> bool {
    (i32::from(level) - i32::from(want)).abs() < i32::from(want) / 10
}

#[test]
fn a_caller_who_presses_4_after_the_agent_ends_the_call_rates_it_4() {
    let mut call = call_with(Some(survey(Duration::from_secs(5))));
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_secs(1),
    );
    assert_eq!(heard.hung_up_at, None, "the survey holds the hang-up");
    // The goodbye first, then the prompt.
    let agent = heard
        .levels
        .iter()
        .take_while(|&&l| near(l, AGENT_LEVEL))
        .count();
    assert_eq!(agent, 10, "{:?}", heard.levels);
    let prompt = heard.levels[agent..]
        .iter()
        .filter(|&&l| near(l, PROMPT_LEVEL))
        .count();
    assert_eq!(prompt, 20, "the whole prompt plays: {:?}", heard.levels);
    heard.to_model.clear();
    call.on_dtmf('4');
    collect(&mut call, &mut heard, Duration::from_secs(1));
    assert_eq!(heard.hung_up_at, Some(Duration::from_secs(1)));
    assert_eq!(call.survey_answer(), Some(4));
    assert!(
        heard.to_model.is_empty(),
        "the key is the survey's, not the model's: {:?}",
        heard.to_model
    );
}

#[test]
fn silence_after_the_prompt_ends_the_survey_unanswered_after_the_timeout() {
    let timeout = Duration::from_secs(3);
    let mut call = call_with(Some(survey(timeout)));
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_secs(10),
    );
    let hung_up = heard.hung_up_at.expect("hangs up");
    // 200 ms goodbye + 400 ms prompt + the timeout, give or take a tick.
    let expected = Duration::from_millis(600) + timeout;
    assert!(
        hung_up + TICK >= expected && hung_up <= expected + TICK,
        "hung up at {hung_up:?}, expected about {expected:?}"
    );
    assert_eq!(call.survey_answer(), None);
}

#[test]
fn a_key_other_than_1_to_5_ends_the_survey_without_a_rating() {
    let mut call = call_with(Some(survey(Duration::from_secs(5))));
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    call.on_dtmf('9');
    collect(&mut call, &mut heard, Duration::from_millis(320));
    assert!(heard.hung_up_at.is_some(), "hangs up at once");
    assert_eq!(call.survey_answer(), None);
}

#[test]
fn without_a_survey_the_agent_s_end_call_hangs_up_after_its_goodbye() {
    let mut call = call_with(None);
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_secs(1),
    );
    let hung_up = heard.hung_up_at.expect("hangs up");
    assert!(hung_up <= Duration::from_millis(240), "{hung_up:?}");
    assert_eq!(call.survey_answer(), None);
}

#[test]
fn a_survey_switched_off_for_the_agent_does_not_run() {
    let mut config = survey(Duration::from_secs(5));
    config.enabled = false;
    let mut call = call_with(Some(config));
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_secs(1),
    );
    assert!(heard.hung_up_at.expect("hangs up") <= Duration::from_millis(240));
}

#[test]
fn a_drain_during_the_survey_hangs_up_at_once() {
    let mut call = call_with(Some(survey(Duration::from_secs(5))));
    let mut heard = Heard::default();
    agent_ends_call(&mut call, Duration::ZERO);
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    assert_eq!(heard.hung_up_at, None);
    call.end_with_prompt(None);
    collect(&mut call, &mut heard, Duration::from_millis(320));
    assert!(
        heard.hung_up_at.is_some(),
        "the server's end runs no survey"
    );
}

#[test]
fn a_caller_who_only_stops_talking_hears_no_survey() {
    // The time limit ends the call: no survey, whatever [csat] says.
    let mut call = CallCore::new(CallConfig {
        greeting: None,
        survey: Some(survey(Duration::from_secs(5))),
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
        max_duration: Some(Duration::from_secs(1)),
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    let mut heard = Heard::default();
    // No goodbye comes from the model: the grace runs out and it hangs up.
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_secs(20),
    );
    assert!(heard.hung_up_at.is_some());
    assert!(
        !heard.levels.iter().any(|&l| near(l, PROMPT_LEVEL)),
        "no survey prompt"
    );
}

#[test]
fn a_rep_ending_the_call_runs_the_survey_too() {
    let mut call = call_with(Some(survey(Duration::from_secs(5))));
    let mut heard = Heard::default();
    call.end_with_survey();
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_millis(500),
    );
    assert_eq!(heard.hung_up_at, None);
    call.on_dtmf('5');
    collect(&mut call, &mut heard, Duration::from_millis(520));
    assert!(heard.hung_up_at.is_some());
    assert_eq!(call.survey_answer(), Some(5));
}

#[test]
fn a_recorded_call_plays_its_announcement_before_the_greeting() {
    let mut call = CallCore::new(CallConfig {
        record: true,
        announcement: Some(Arc::new(vec![PROMPT_LEVEL; 8 * 200])),
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    // The greeting's audio arrives at once; it waits behind the announcement.
    call.on_model_event(
        Duration::ZERO,
        ModelEvent::AudioDelta {
            response_id: "r1".into(),
            item_id: "i1".into(),
            content_index: 0,
            audio: vec![ulaw_encode(AGENT_LEVEL); 800],
        },
    );
    let mut heard = Heard::default();
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_millis(400),
    );
    let announced = heard
        .levels
        .iter()
        .take_while(|&&l| near(l, PROMPT_LEVEL))
        .count();
    assert_eq!(announced, 10, "{:?}", heard.levels);
    assert!(heard.levels[announced..]
        .iter()
        .take(5)
        .all(|&l| near(l, AGENT_LEVEL)));
}

#[test]
fn an_unrecorded_call_plays_no_announcement() {
    let mut call = CallCore::new(CallConfig {
        record: false,
        announcement: Some(Arc::new(vec![PROMPT_LEVEL; 8 * 200])),
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
        ..CallConfig::default()
    });
    call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    call.on_stream_start(Duration::ZERO);
    let mut heard = Heard::default();
    run(
        &mut call,
        &mut heard,
        Duration::ZERO,
        Duration::from_millis(200),
    );
    assert!(!heard.levels.iter().any(|&l| near(l, PROMPT_LEVEL)));
}
