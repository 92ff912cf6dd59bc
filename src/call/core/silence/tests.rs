//! A silent caller in simulated time: the re-prompt, the goodbye and the
//! hang-up, and a caller who speaks restarting the clock.

use std::time::Duration;

use super::{GOODBYE_INSTRUCTIONS, REPROMPT_INSTRUCTIONS};
use crate::call::{CallConfig, CallCore, CallOutput, PlaybackTracking};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::ulaw_encode;
use crate::model::{ModelCommand, ModelEvent, ResponseStatus};

const TICK: Duration = Duration::from_millis(20);

fn quiet(index: u64) -> Frame {
    Frame::silence(SampleRate::Hz8000, MediaTime(index * 160))
}

fn voiced(index: u64, amp: f32) -> Frame {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = (index * 160 + i) as f32 / 8000.0;
            let amp = amp * (0.6 + 0.4 * (2.0 * std::f32::consts::PI * 4.0 * t).sin());
            (amp * ((2.0 * std::f32::consts::PI * 140.0 * t).sin()
                + 0.5 * (2.0 * std::f32::consts::PI * 280.0 * t).sin()
                + 0.3 * (2.0 * std::f32::consts::PI * 700.0 * t).sin())) as i16
        })
        .collect();
    Frame::from_samples(SampleRate::Hz8000, MediaTime(index * 160), &samples).expect("frame")
}

/// A call whose model answers every response request with one second of
/// audio at once, as the demo agent does.
struct Call {
    core: CallCore,
    tick: u64,
    responses: u32,
    /// (when, instructions) of each response requested.
    requested: Vec<(Duration, Option<String>)>,
    hung_up_at: Option<Duration>,
    /// When the last agent frame went to the caller.
    last_audio: Option<Duration>,
    /// The long-silence flag's changes, with when they came out.
    silences: Vec<(Duration, crate::call::SilenceChange)>,
}

impl Call {
    fn new(reprompt: u64, hangup: u64) -> Call {
        let mut core = CallCore::new(CallConfig {
            tracking: PlaybackTracking::Released { allowance_ms: 20 },
            silence_reprompt_secs: reprompt,
            silence_hangup_secs: hangup,
            ..CallConfig::default()
        });
        core.on_model_event(Duration::ZERO, ModelEvent::Ready);
        core.on_stream_start(Duration::ZERO);
        Call {
            core,
            tick: 0,
            responses: 0,
            requested: Vec::new(),
            hung_up_at: None,
            last_audio: None,
            silences: Vec::new(),
        }
    }

    fn now(&self) -> Duration {
        TICK * self.tick as u32
    }

    fn respond(&mut self, now: Duration) {
        self.responses += 1;
        let id = format!("resp_{}", self.responses);
        let item = format!("item_{}", self.responses);
        let audio: Vec<u8> = (0..8_000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                ulaw_encode((3000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()) as i16)
            })
            .collect();
        for event in [
            ModelEvent::ResponseStarted {
                response_id: id.clone(),
            },
            ModelEvent::AudioDelta {
                response_id: id.clone(),
                item_id: item.clone(),
                content_index: 0,
                audio,
            },
            ModelEvent::AudioDone {
                response_id: id.clone(),
                item_id: item,
            },
            ModelEvent::ResponseDone {
                response_id: id,
                status: ResponseStatus::Completed,
            },
        ] {
            self.core.on_model_event(now, event);
        }
    }

    fn step(&mut self, caller: &Frame) {
        let now = self.now();
        self.core.on_caller_frame(now, caller, &[0xFF; 160]);
        self.core.on_tick(now);
        let mut asked = false;
        while let Some(out) = self.core.poll_output() {
            match out {
                CallOutput::Model(ModelCommand::CreateResponse { instructions }) => {
                    self.requested.push((now, instructions));
                    asked = true;
                }
                CallOutput::Hangup => self.hung_up_at = Some(now),
                CallOutput::Audio { .. } => self.last_audio = Some(now),
                CallOutput::LongSilence(change) => self.silences.push((now, change)),
                _ => {}
            }
        }
        if asked {
            self.respond(now);
        }
        self.tick += 1;
    }

    fn run_quiet(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            if self.hung_up_at.is_some() {
                return;
            }
            let frame = quiet(self.tick);
            self.step(&frame);
        }
    }

    fn asked(&self, instructions: &str) -> Vec<Duration> {
        self.requested
            .iter()
            .filter(|(_, i)| i.as_deref() == Some(instructions))
            .map(|(t, _)| *t)
            .collect()
    }
}

fn close(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) <= Duration::from_millis(40)
}

#[test]
fn a_silent_caller_is_asked_after_silence_reprompt_secs_and_the_call_ends_after_silence_hangup_secs(
) {
    let mut call = Call::new(8, 30);
    call.run_quiet(40_000);
    // The greeting (1 s) ends at about 1 s: the caller's silence starts.
    let greeting_end = Duration::from_secs(1);
    let reprompts = call.asked(REPROMPT_INSTRUCTIONS);
    let first = *reprompts.first().expect("the caller is asked");
    assert!(
        close(first, greeting_end + Duration::from_secs(8)),
        "first re-prompt at {first:?}"
    );
    // Asked again after each further 8 s of dead air (each prompt lasts 1 s).
    assert!(reprompts.len() >= 2, "{reprompts:?}");
    assert!(close(reprompts[1], first + Duration::from_secs(9)));
    let goodbye = call.asked(GOODBYE_INSTRUCTIONS);
    assert_eq!(goodbye.len(), 1, "one goodbye");
    assert!(
        close(goodbye[0], greeting_end + Duration::from_secs(30)),
        "goodbye at {:?}",
        goodbye[0]
    );
    // The goodbye (1 s) plays to the end, then the call hangs up.
    let hung_up = call.hung_up_at.expect("the call ends");
    let last_audio = call.last_audio.expect("audio");
    assert!(hung_up >= last_audio && hung_up <= last_audio + TICK * 2);
    assert!(
        close(hung_up, goodbye[0] + Duration::from_secs(1)),
        "{hung_up:?}"
    );
}

#[test]
fn a_caller_who_speaks_restarts_the_silence_clock() {
    let mut call = Call::new(8, 30);
    call.run_quiet(7_000);
    assert!(call.asked(REPROMPT_INSTRUCTIONS).is_empty());
    // The caller talks for a second, just before the re-prompt was due.
    for _ in 0..50 {
        let frame = voiced(call.tick, 6000.0);
        call.step(&frame);
    }
    call.run_quiet(20_000);
    // Their turn was answered (a response without instructions), which
    // ends at about `answered + 1 s`: the re-prompt comes 8 s after that.
    let answered = call
        .requested
        .iter()
        .find(|(_, i)| i.is_none())
        .map(|(t, _)| *t)
        .expect("the caller's turn is answered");
    let first = call.asked(REPROMPT_INSTRUCTIONS)[0];
    assert!(
        close(first, answered + Duration::from_secs(9)),
        "answered at {answered:?}, re-prompt at {first:?}"
    );
    // No goodbye yet: 30 s of the caller's silence have not passed.
    assert!(call.asked(GOODBYE_INSTRUCTIONS).is_empty());
    assert_eq!(call.hung_up_at, None);
}

#[test]
fn a_running_tool_is_not_dead_air() {
    let mut call = Call::new(8, 30);
    call.run_quiet(1_000);
    let now = call.now();
    call.core.on_model_event(
        now,
        ModelEvent::FunctionCall {
            call_id: "call_1".into(),
            name: "lookup".into(),
            arguments: "{}".into(),
        },
    );
    call.run_quiet(20_000);
    assert!(call.asked(REPROMPT_INSTRUCTIONS).is_empty());
    call.core.on_tool_result("call_1", "{}");
    call.run_quiet(12_000);
    assert_eq!(call.asked(REPROMPT_INSTRUCTIONS).len(), 1);
}

#[test]
fn zero_turns_the_silence_prompts_off() {
    let mut call = Call::new(0, 0);
    call.run_quiet(60_000);
    assert_eq!(call.requested.len(), 1, "only the greeting");
    assert_eq!(call.hung_up_at, None);
}

#[test]
fn a_caller_on_hold_is_never_asked_nor_hung_up_on_for_silence() {
    let mut call = Call::new(3, 8);
    call.run_quiet(1_500);
    let now = call.now();
    call.core.set_sidelined(true, now);
    call.run_quiet(20_000);
    assert!(
        call.asked(REPROMPT_INSTRUCTIONS).is_empty(),
        "{:?}",
        call.requested
    );
    assert_eq!(call.hung_up_at, None);
    // Back from hold: the clocks start again from then.
    let back = call.now();
    call.core.set_sidelined(false, back);
    call.run_quiet(4_000);
    let asked = call.asked(REPROMPT_INSTRUCTIONS);
    assert!(
        asked
            .first()
            .is_some_and(|&t| close(t, back + Duration::from_secs(3))),
        "{asked:?}"
    );
}

#[test]
fn with_no_re_prompt_ten_seconds_of_nobody_flags_a_long_silence_until_the_caller_speaks() {
    use crate::call::SilenceChange;
    let mut call = Call::new(0, 0);
    call.run_quiet(15_000);
    // The greeting's last frame goes out at about 1 s: the silence starts.
    let last_greeting = Duration::from_millis(980);
    let [(flagged_at, SilenceChange::Began { since })] = call.silences[..] else {
        panic!("one flag expected: {:?}", call.silences);
    };
    assert!(close(since, last_greeting), "{since:?}");
    assert_eq!(flagged_at, since + Duration::from_secs(10));
    for _ in 0..25 {
        let frame = voiced(call.tick, 6000.0);
        call.step(&frame);
    }
    let (lowered_at, change) = call.silences[1];
    let SilenceChange::Ended {
        since: began,
        lasted,
    } = change
    else {
        panic!("the flag comes down: {change:?}");
    };
    assert_eq!(began, since);
    assert_eq!(lasted, lowered_at - since);
    assert!(
        lowered_at > Duration::from_secs(15) && lowered_at < Duration::from_millis(15_500),
        "the caller's speech lowered it at {lowered_at:?}"
    );
}

#[test]
fn the_re_prompt_answers_dead_air_before_the_long_silence_flag_would() {
    // The defaults: asked after 8 s, flagged after 10 s. The re-prompt's
    // audio is heard first, so a silent caller alone is never flagged.
    let mut call = Call::new(8, 30);
    call.run_quiet(28_000);
    assert!(call.asked(REPROMPT_INSTRUCTIONS).len() >= 2);
    assert!(call.silences.is_empty(), "{:?}", call.silences);
}
