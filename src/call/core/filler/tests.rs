//! The filler in simulated time: a hanging tool, the longest silence the
//! caller hears, a barge-in over the filler, the answer taking over.

use std::time::Duration;

use crate::call::{CallConfig, CallCore, CallOutput, PlaybackTracking};
use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::{ulaw_decode, ulaw_encode};
use crate::model::{ModelCommand, ModelEvent, ResponseStatus};

const TICK: Duration = Duration::from_millis(20);

fn quiet(index: u64) -> Frame {
    Frame::silence(SampleRate::Hz8000, MediaTime(index * 160))
}

/// Voiced, syllable-like caller speech (as in the core's barge-in tests).
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

/// The agent's voice: a steady 180 Hz tone, loud (the filler is soft).
fn agent_audio(ms: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            ulaw_encode((6000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()) as i16)
        })
        .collect()
}

fn peak(mulaw: &[u8]) -> i32 {
    mulaw
        .iter()
        .map(|&c| i32::from(ulaw_decode(c)).abs())
        .max()
        .unwrap_or(0)
}

/// What the caller's leg got on one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Heard {
    /// No frame, or a silent one.
    Silence,
    /// The filler (soft).
    Filler,
    /// The agent (loud).
    Agent,
}

struct Call {
    core: CallCore,
    /// One entry per tick.
    heard: Vec<Heard>,
    outputs: Vec<(Duration, CallOutput)>,
    tick: u64,
}

impl Call {
    fn new(after_ms: u64) -> Call {
        let mut config = CallConfig {
            tracking: PlaybackTracking::Released { allowance_ms: 20 },
            // This file is about tools, not silent callers.
            silence_reprompt_secs: 0,
            silence_hangup_secs: 0,
            ..CallConfig::default()
        };
        config
            .filler
            .after_per_tool
            .push(("lookup".into(), Duration::from_millis(after_ms)));
        let mut core = CallCore::new(config);
        core.on_model_event(Duration::ZERO, ModelEvent::Ready);
        core.on_stream_start(Duration::ZERO);
        Call {
            core,
            heard: Vec::new(),
            outputs: Vec::new(),
            tick: 0,
        }
    }

    fn now(&self) -> Duration {
        TICK * self.tick as u32
    }

    fn step(&mut self, caller: &Frame) {
        let now = self.now();
        self.core.on_caller_frame(now, caller, &[0xFF; 160]);
        self.core.on_tick(now);
        let mut heard = Heard::Silence;
        while let Some(out) = self.core.poll_output() {
            if let CallOutput::Audio { mulaw, .. } = &out {
                heard = match peak(mulaw) {
                    p if p > 3_000 => Heard::Agent,
                    p if p > 100 => Heard::Filler,
                    _ => Heard::Silence,
                };
            }
            self.outputs.push((now, out));
        }
        self.heard.push(heard);
        self.tick += 1;
    }

    fn run_quiet(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            let frame = quiet(self.tick);
            self.step(&frame);
        }
    }

    /// The model says `ms` of audio, then calls `lookup`; returns when.
    fn agent_calls_the_tool(&mut self, ms: usize) -> Duration {
        let now = self.now();
        let events = [
            ModelEvent::ResponseStarted {
                response_id: "resp_1".into(),
            },
            ModelEvent::AudioDelta {
                response_id: "resp_1".into(),
                item_id: "item_1".into(),
                content_index: 0,
                audio: agent_audio(ms),
            },
            ModelEvent::AudioDone {
                response_id: "resp_1".into(),
                item_id: "item_1".into(),
            },
            ModelEvent::FunctionCall {
                call_id: "call_1".into(),
                name: "lookup".into(),
                arguments: "{}".into(),
            },
            ModelEvent::ResponseDone {
                response_id: "resp_1".into(),
                status: ResponseStatus::Completed,
            },
        ];
        for event in events {
            self.core.on_model_event(now, event);
        }
        now
    }

    fn answer(&mut self, ms: usize) {
        let now = self.now();
        for event in [
            ModelEvent::ResponseStarted {
                response_id: "resp_2".into(),
            },
            ModelEvent::AudioDelta {
                response_id: "resp_2".into(),
                item_id: "item_2".into(),
                content_index: 0,
                audio: agent_audio(ms),
            },
        ] {
            self.core.on_model_event(now, event);
        }
    }

    fn first(&self, what: Heard, from_tick: u64) -> Option<u64> {
        self.heard
            .iter()
            .enumerate()
            .skip(from_tick as usize)
            .find(|(_, h)| **h == what)
            .map(|(i, _)| i as u64)
    }

    /// The longest run of silent ticks in `from..to`, in ms.
    fn longest_silence_ms(&self, from: u64, to: u64) -> u64 {
        let mut longest = 0;
        let mut run = 0;
        for h in &self.heard[from as usize..to as usize] {
            if *h == Heard::Silence {
                run += 20;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        longest
    }
}

#[test]
fn a_hanging_tool_gets_the_filler_within_filler_after_ms_and_never_1_5_s_of_silence() {
    let mut call = Call::new(700);
    call.run_quiet(200);
    let called = call.agent_calls_the_tool(0);
    let called_tick = call.tick;
    // The tool hangs for 10 s.
    call.run_quiet(10_000);
    let run_tool = call
        .outputs
        .iter()
        .any(|(_, o)| matches!(o, CallOutput::RunTool { name, .. } if name == "lookup"));
    assert!(run_tool, "the tool is handed to the sidecar");
    let first = call
        .first(Heard::Filler, called_tick)
        .expect("the caller hears a filler");
    let started = TICK * first as u32 - called;
    assert!(
        started <= Duration::from_millis(740),
        "filler started {started:?} after the tool call"
    );
    let longest = call.longest_silence_ms(first, call.tick);
    assert!(longest < 1_500, "longest silence {longest} ms");
    // Nor before the filler: the tool call's own wait.
    assert!(call.longest_silence_ms(called_tick, call.tick) < 1_500);
    // Filler audio is not the agent's: no first-audio or round-trip
    // figure, no item played.
    assert_eq!(call.core.stats().first_audio_after, None);
}

#[test]
fn the_answer_takes_over_from_the_filler_at_a_frame_boundary_and_the_result_reaches_the_model() {
    let mut call = Call::new(300);
    call.run_quiet(100);
    call.agent_calls_the_tool(400);
    call.run_quiet(3_000);
    assert!(call.heard.contains(&Heard::Filler));
    call.core.on_tool_result("call_1", r#"{"ok":true}"#);
    // The result goes to the model (which then answers).
    let output = std::iter::from_fn(|| call.core.poll_output()).find(|o| {
        matches!(o, CallOutput::Model(ModelCommand::FunctionOutput { call_id, .. }) if call_id == "call_1")
    });
    assert!(output.is_some(), "function_call_output sent");
    // The model takes 400 ms to answer: the filler goes on meanwhile.
    call.run_quiet(400);
    let answer_tick = call.tick;
    call.answer(1_000);
    call.run_quiet(1_200);
    let after = &call.heard[answer_tick as usize..];
    // The very next frame is the answer; no filler after it.
    assert_eq!(after[0], Heard::Agent, "{:?}", &after[..5]);
    assert!(!after.contains(&Heard::Filler));
    // Once the answer is over the filler does not come back.
    call.run_quiet(4_000);
    assert!(!call.heard[answer_tick as usize..].contains(&Heard::Filler));
}

#[test]
fn a_quick_tool_gets_no_filler() {
    let mut call = Call::new(700);
    call.agent_calls_the_tool(0);
    call.run_quiet(400);
    call.core.on_tool_result("call_1", "{}");
    call.run_quiet(3_000);
    assert!(!call.heard.contains(&Heard::Filler));
}

#[test]
fn a_barge_in_over_the_filler_stops_it_within_the_barge_in_bounds_and_truncates_nothing() {
    let mut call = Call::new(700);
    call.agent_calls_the_tool(0);
    call.run_quiet(2_000);
    assert!(call.heard.contains(&Heard::Filler));
    let onset_tick = call.tick;
    // The caller talks for a second and a half.
    for _ in 0..75 {
        let frame = voiced(call.tick, 6000.0);
        call.step(&frame);
    }
    let record = call
        .core
        .stats()
        .barge_ins
        .first()
        .cloned()
        .expect("a barge-in over the filler");
    // The core's barge-in bound (tests.rs): paused within 100 ms of the
    // caller's onset, and no audio a frame after the decision.
    assert!(
        record.reaction_ms <= 100,
        "reaction {} ms",
        record.reaction_ms
    );
    assert_eq!(
        record.truncated_item, None,
        "the filler is not agent speech"
    );
    let decided_tick = (record.decided_at.as_millis() / 20) as usize;
    assert!(
        call.heard[decided_tick + 1..]
            .iter()
            .all(|h| *h == Heard::Silence),
        "audio after the barge-in: {:?}",
        &call.heard[decided_tick..]
    );
    assert!(call.outputs.iter().all(|(t, o)| !matches!(
        o,
        CallOutput::Model(ModelCommand::Truncate { .. })
            | CallOutput::Model(ModelCommand::CancelResponse)
    ) || *t < TICK * onset_tick as u32));
    // The tool result still reaches the model.
    call.core.on_tool_result("call_1", r#"{"ok":true}"#);
    let delivered = std::iter::from_fn(|| call.core.poll_output())
        .any(|o| matches!(o, CallOutput::Model(ModelCommand::FunctionOutput { .. })));
    assert!(delivered);
}

#[test]
fn the_filler_waits_for_the_agent_to_finish_its_sentence() {
    let mut call = Call::new(300);
    let called_tick = call.tick;
    // "Let me look that up" lasts 1.5 s, longer than filler_after_ms.
    call.agent_calls_the_tool(1_500);
    call.run_quiet(3_000);
    let agent_end = call
        .heard
        .iter()
        .rposition(|h| *h == Heard::Agent)
        .expect("agent");
    let filler = call.first(Heard::Filler, called_tick).expect("filler") as usize;
    assert!(
        filler > agent_end,
        "filler at {filler}, agent until {agent_end}"
    );
    assert!(
        filler - agent_end <= 2,
        "a gap of {} ticks",
        filler - agent_end
    );
}

#[test]
fn a_configured_prompt_plays_first_then_the_working_pattern() {
    let prompt: Vec<i16> = (0..4_000)
        .map(|i| ((i as f32 / 8.0).sin() * 1_000.0) as i16)
        .collect();
    let mut call = Call::new(200);
    call.core.config.filler.prompt = Some(std::sync::Arc::new(prompt));
    call.agent_calls_the_tool(0);
    call.run_quiet(3_000);
    let first = call.first(Heard::Filler, 0).expect("filler") as usize;
    // 500 ms of prompt without a gap, then the pattern's pips.
    assert!(call.heard[first..first + 25]
        .iter()
        .all(|h| *h == Heard::Filler));
    assert!(call.longest_silence_ms(first as u64, call.tick) < 1_500);
    assert!(call.heard[first + 25..].contains(&Heard::Filler));
}

#[test]
fn on_a_marking_leg_the_filler_carries_no_mark_and_is_never_counted_as_heard() {
    let mut call = Call::new(300);
    call.core.config.tracking = PlaybackTracking::Marks;
    call.agent_calls_the_tool(400);
    // Twilio echoes every mark 20 ms after its frame.
    let mut marks: Vec<(u64, String)> = Vec::new();
    for _ in 0..100 {
        let frame = quiet(call.tick);
        let from = call.outputs.len();
        call.step(&frame);
        for (_, out) in &call.outputs[from..] {
            if let CallOutput::Audio { mark: Some(m), .. } = out {
                marks.push((call.tick, m.clone()));
            }
        }
        while let Some((_, m)) = marks.first().filter(|(t, _)| *t < call.tick).cloned() {
            call.core.on_mark(&m);
            marks.remove(0);
        }
    }
    assert!(call.heard.contains(&Heard::Filler));
    let agent_frames = call.heard.iter().filter(|h| **h == Heard::Agent).count();
    let marked = call
        .outputs
        .iter()
        .filter(|(_, o)| matches!(o, CallOutput::Audio { mark: Some(_), .. }))
        .count();
    assert_eq!(marked, agent_frames, "only the agent's frames are marked");
    let item = call.core.playback.items.front().expect("the agent's item");
    assert_eq!(item.heard_ms, 400, "heard: the agent's 400 ms, no filler");
}
