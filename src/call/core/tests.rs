use super::*;
use crate::media::frame::Frame;

const TICK: Duration = Duration::from_millis(20);

/// A pitched, vowel-like frame at about `amp` peak, its loudness rising
/// and falling four times a second like syllables (a perfectly steady tone
/// is line noise to the VAD's gate).
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

fn quiet(index: u64) -> Frame {
    Frame::silence(SampleRate::Hz8000, MediaTime(index * 160))
}

fn agent_audio(ms: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            ulaw_encode((6000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()) as i16)
        })
        .collect()
}

struct Harness {
    call: CallCore,
    sent_marks: VecDeque<(Duration, String)>,
    outputs: Vec<CallOutput>,
    played_ms: u64,
}

impl Harness {
    fn new() -> Harness {
        let mut call = CallCore::new(CallConfig::default());
        call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        call.on_stream_start(Duration::ZERO);
        Harness {
            call,
            sent_marks: VecDeque::new(),
            outputs: Vec::new(),
            played_ms: 0,
        }
    }

    fn drain(&mut self, now: Duration) {
        while let Some(out) = self.call.poll_output() {
            if let CallOutput::Audio {
                mark: Some(name), ..
            } = &out
            {
                self.sent_marks.push_back((now, name.clone()));
            }
            if out == CallOutput::ClearPlayback {
                // Twilio returns the pending marks at once on clear.
                for (_, name) in self.sent_marks.drain(..).collect::<Vec<_>>() {
                    self.call.on_mark(&name);
                }
            }
            self.outputs.push(out);
        }
    }

    /// One 20 ms step: Twilio plays what is 20 ms old and acks it, the
    /// caller frame arrives, the playout clock ticks.
    fn step(&mut self, index: u64, caller: &Frame) {
        let now = TICK * index as u32;
        while let Some((sent, _)) = self.sent_marks.front() {
            if now < *sent + TICK {
                break;
            }
            let (_, name) = self.sent_marks.pop_front().expect("front");
            self.played_ms += 20;
            self.call.on_mark(&name);
        }
        self.call.on_caller_frame(now, caller, &[0xFF; 160]);
        self.drain(now);
        self.call.on_tick(now);
        self.drain(now);
    }

    fn agent_says(&mut self, response: &str, item: &str, ms: usize) {
        self.call.on_model_event(
            Duration::ZERO,
            ModelEvent::ResponseStarted {
                response_id: response.into(),
            },
        );
        self.call.on_model_event(
            Duration::ZERO,
            ModelEvent::AudioDelta {
                response_id: response.into(),
                item_id: item.into(),
                content_index: 0,
                audio: agent_audio(ms),
            },
        );
    }
}

#[test]
fn greeting_is_requested_when_the_stream_starts() {
    let mut h = Harness::new();
    h.drain(Duration::ZERO);
    assert!(matches!(
        h.outputs.first(),
        Some(CallOutput::Model(ModelCommand::CreateResponse {
            instructions: Some(_)
        }))
    ));
}

#[test]
fn caller_speech_over_the_agent_clears_cancels_and_truncates_to_what_was_acknowledged() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 3_000);
    for i in 0..50 {
        h.step(i, &quiet(i));
    }
    assert!(h
        .outputs
        .iter()
        .all(|o| !matches!(o, CallOutput::ClearPlayback)));
    let heard_before = h.played_ms;
    // Longer than the false-interruption window: the pause becomes a
    // barge-in.
    for i in 50..100 {
        h.step(i, &voiced(i, 6000.0));
    }
    let clear_at = h
        .outputs
        .iter()
        .position(|o| *o == CallOutput::ClearPlayback)
        .expect("barge-in");
    let after = &h.outputs[clear_at..];
    assert!(after.contains(&CallOutput::Model(ModelCommand::CancelResponse)));
    let truncate = after.iter().find_map(|o| match o {
        CallOutput::Model(ModelCommand::Truncate {
            item_id,
            audio_end_ms,
            ..
        }) => Some((item_id.clone(), *audio_end_ms)),
        _ => None,
    });
    let (item, end_ms) = truncate.expect("truncate sent");
    assert_eq!(item, "item_1");
    let record = h.call.stats().barge_ins.first().expect("recorded").clone();
    // Heard = what Twilio acknowledged by the decision (not what was sent).
    assert!(
        end_ms >= heard_before && end_ms <= h.played_ms,
        "{end_ms} vs {heard_before}..{}",
        h.played_ms
    );
    assert!(
        record.reaction_ms <= 100,
        "reaction {} ms",
        record.reaction_ms
    );
    assert_eq!(
        h.call.stats().barge_ins.len(),
        1,
        "one barge-in per interruption"
    );
}

#[test]
fn late_deltas_of_the_cancelled_response_are_dropped() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 2_000);
    for i in 0..40 {
        h.step(i, &quiet(i));
    }
    for i in 40..95 {
        h.step(i, &voiced(i, 6000.0));
    }
    assert!(!h.call.stats().barge_ins.is_empty());
    h.call.on_model_event(
        Duration::ZERO,
        ModelEvent::AudioDelta {
            response_id: "resp_1".into(),
            item_id: "item_1".into(),
            content_index: 0,
            audio: agent_audio(500),
        },
    );
    assert_eq!(h.call.stats().dropped_deltas, 1);
    assert!(!h.call.agent_speaking());
}

#[test]
fn quiet_echo_of_the_agent_does_not_barge_in() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 3_000);
    // The agent plays at ~6000 peak; its echo returns 20 dB down.
    for i in 0..100 {
        h.step(i, &voiced(i, 600.0));
    }
    assert!(h.call.stats().barge_ins.is_empty());
}

#[test]
fn caller_speech_while_the_agent_is_silent_is_a_turn_not_a_barge_in() {
    let mut h = Harness::new();
    for i in 0..10 {
        h.step(i, &quiet(i));
    }
    for i in 10..40 {
        h.step(i, &voiced(i, 6000.0));
    }
    assert!(h.call.stats().barge_ins.is_empty());
    assert!(h
        .outputs
        .contains(&CallOutput::CallerTurn { started: true }));
}

#[test]
fn model_loss_plays_the_hold_tone_at_once_and_replays_the_conversation_on_reconnect() {
    let mut h = Harness::new();
    h.call.on_model_event(
        Duration::ZERO,
        ModelEvent::CallerTranscript {
            item_id: "u1".into(),
            transcript: "My bill is wrong".into(),
        },
    );
    h.call.on_model_event(
        Duration::ZERO,
        ModelEvent::AgentTranscriptDone {
            item_id: "a1".into(),
            transcript: "Let me check".into(),
        },
    );
    h.call.on_model_lost();
    h.step(1, &quiet(1));
    assert!(h.outputs.contains(&CallOutput::ReconnectModel));
    assert!(
        h.outputs.iter().any(
            |o| matches!(o, CallOutput::Audio { mulaw, .. } if mulaw.iter().any(|&b| b != 0xFF))
        ),
        "hold tone on the next tick"
    );
    h.outputs.clear();
    h.call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    h.drain(Duration::ZERO);
    match h.outputs.first() {
        Some(CallOutput::Model(ModelCommand::Replay(items))) => assert_eq!(items.len(), 2),
        other => panic!("replay first, got {other:?}"),
    }
}

#[test]
fn end_call_hangs_up_after_the_agent_finishes_its_sentence() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 400);
    h.call.on_model_event(
        Duration::ZERO,
        ModelEvent::FunctionCall {
            call_id: "c1".into(),
            name: "end_call".into(),
            arguments: "{}".into(),
        },
    );
    h.drain(Duration::ZERO);
    assert!(
        !h.outputs.contains(&CallOutput::Hangup),
        "not while the goodbye plays"
    );
    for i in 0..40 {
        h.step(i, &quiet(i));
    }
    assert!(h.outputs.contains(&CallOutput::Hangup));
}

#[test]
fn rollover_waits_for_silence_then_replays_without_a_hold_tone() {
    let mut h = Harness::new();
    h.call.on_model_event(
        Duration::ZERO,
        ModelEvent::AgentTranscriptDone {
            item_id: "a1".into(),
            transcript: "Hi".into(),
        },
    );
    h.agent_says("resp_1", "item_1", 200);
    assert!(!h.call.on_model_rollover(), "not while the agent speaks");
    for i in 0..30 {
        h.step(i, &quiet(i));
    }
    h.outputs.clear();
    assert!(h.call.on_model_rollover());
    h.drain(Duration::ZERO);
    assert_eq!(h.outputs, vec![CallOutput::ReconnectModel]);
    h.step(31, &quiet(31));
    assert!(
        h.outputs
            .iter()
            .all(|o| !matches!(o, CallOutput::Audio { .. })),
        "no hold tone on a rollover"
    );
    h.outputs.clear();
    h.call.on_model_event(Duration::ZERO, ModelEvent::Ready);
    h.drain(Duration::ZERO);
    assert!(
        matches!(h.outputs.first(), Some(CallOutput::Model(ModelCommand::Replay(items))) if items.len() == 1)
    );
    assert_eq!(
        h.call.stats().reconnects,
        0,
        "a rollover is not a reconnect"
    );
}

#[test]
fn model_round_trip_runs_from_the_callers_turn_end_to_the_answers_first_frame() {
    let mut h = Harness::new();
    for i in 0..10 {
        h.step(i, &quiet(i));
    }
    for i in 10..40 {
        h.step(i, &voiced(i, 6000.0));
    }
    // Silence until the VAD ends the turn (its hangover), then 200 ms more
    // before the model answers.
    let mut i = 40;
    while !h
        .outputs
        .contains(&CallOutput::CallerTurn { started: false })
    {
        h.step(i, &quiet(i));
        i += 1;
        assert!(i < 200, "the turn never ended");
    }
    let turn_end = TICK * (i - 1) as u32;
    for _ in 0..10 {
        h.step(i, &quiet(i));
        i += 1;
    }
    h.agent_says("resp_1", "item_1", 400);
    h.step(i, &quiet(i));
    let answered = TICK * i as u32;
    let figures: Vec<&CallFigure> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            CallOutput::Figure(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(
        figures,
        vec![
            &CallFigure::FirstAudio(answered),
            &CallFigure::ModelRoundTrip(answered - turn_end)
        ]
    );
    assert_eq!(answered - turn_end, Duration::from_millis(220));
    assert_eq!(h.call.stats().round_trips, vec![Duration::from_millis(220)]);
}

#[test]
fn on_an_rtp_leg_barge_in_stops_audio_within_a_frame_and_truncates_to_the_audio_sent() {
    // An RTP leg: no marks; what our pacer released is what left.
    let mut call = CallCore::new(CallConfig {
        tracking: PlaybackTracking::Released { allowance_ms: 20 },
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
            audio: agent_audio(3_000),
        },
    );
    let mut audio_at: Vec<Duration> = Vec::new();
    let mut decided: Option<Duration> = None;
    let mut truncated: Option<u64> = None;
    for i in 0..110u64 {
        let now = TICK * i as u32;
        let frame = if i < 50 { quiet(i) } else { voiced(i, 6000.0) };
        call.on_caller_frame(now, &frame, &[0xFF; 160]);
        call.on_tick(now);
        while let Some(out) = call.poll_output() {
            match out {
                CallOutput::Audio { mark, .. } => {
                    assert_eq!(mark, None, "an RTP leg gets no marks");
                    audio_at.push(now);
                }
                CallOutput::BargeIn(record) => decided = Some(record.decided_at),
                CallOutput::Model(ModelCommand::Truncate { audio_end_ms, .. }) => {
                    truncated = Some(audio_end_ms)
                }
                _ => {}
            }
        }
    }
    let decided = decided.expect("the caller barged in");
    let last = *audio_at.last().expect("the agent spoke");
    // The last agent packet leaves no later than one frame after the
    // decision (here: at the decision tick, before it is taken).
    assert!(
        last <= decided + TICK,
        "last audio {last:?}, decision {decided:?}"
    );
    assert!(audio_at.iter().all(|&t| t <= decided + TICK));
    let sent_ms = audio_at.len() as u64 * 20;
    let end_ms = truncated.expect("truncate sent");
    // What the caller heard: what left, less the far end's one-frame buffer.
    assert!(
        end_ms.abs_diff(sent_ms) <= 20,
        "audio_end_ms {end_ms} vs {sent_ms} ms sent"
    );
}

#[test]
fn a_zero_false_interruption_window_cancels_at_the_pause_and_a_short_sound_resumes_by_default() {
    for (window, expect_cancel) in [(0, true), (700, false)] {
        let mut config = CallConfig::default();
        config.turn.false_interruption_timeout_ms = window;
        let mut h = Harness::new();
        h.call = CallCore::new(config);
        h.call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        h.call.on_stream_start(Duration::ZERO);
        h.agent_says("resp_1", "item_1", 4_000);
        for i in 0..50 {
            h.step(i, &quiet(i));
        }
        // 240 ms of speech-like sound, then quiet.
        for i in 50..62 {
            h.step(i, &voiced(i, 6000.0));
        }
        for i in 62..100 {
            h.step(i, &quiet(i));
        }
        let cancelled = h
            .outputs
            .contains(&CallOutput::Model(ModelCommand::CancelResponse));
        assert_eq!(cancelled, expect_cancel, "window {window} ms");
        assert_eq!(h.call.stats().pauses, 1, "window {window} ms");
        assert_eq!(
            h.call.stats().false_interruptions.len(),
            usize::from(!expect_cancel),
            "window {window} ms"
        );
    }
}

#[test]
fn a_models_speech_started_without_caller_sound_is_ignored_and_with_it_pauses() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 4_000);
    for i in 0..40 {
        h.step(i, &quiet(i));
        // The model's VAD hears the agent's echo every 200 ms.
        if i % 10 == 5 {
            h.call.on_model_event(
                TICK * i as u32,
                ModelEvent::SpeechStarted {
                    audio_start_ms: i * 20,
                },
            );
        }
    }
    h.drain(TICK * 40);
    assert_eq!(h.call.stats().pauses, 0, "the model's VAD paused the agent");
    assert_eq!(h.call.stats().model_speech_ignored, 4);
    assert!(!h.outputs.iter().any(|o| matches!(
        o,
        CallOutput::ClearPlayback | CallOutput::Model(ModelCommand::CancelResponse)
    )));
    // Voiced caller sound, then the model's speech-started: an input that
    // warmline's own tests back.
    h.step(40, &voiced(40, 6000.0));
    h.step(41, &voiced(41, 6000.0));
    h.call.on_model_event(
        TICK * 41,
        ModelEvent::SpeechStarted {
            audio_start_ms: 800,
        },
    );
    h.drain(TICK * 41);
    assert_eq!(h.call.stats().pauses, 1);
    assert!(h.outputs.contains(&CallOutput::ClearPlayback));
}

#[test]
fn a_polite_end_cuts_the_agent_plays_the_prompt_then_hangs_up() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 2_000);
    for i in 0..10 {
        h.step(i, &quiet(i));
    }
    h.outputs.clear();
    // 400 ms of a loud tone: 20 frames.
    let prompt: Vec<i16> = (0..3_200)
        .map(|i| (8_000.0 * (2.0 * std::f32::consts::PI * 400.0 * i as f32 / 8_000.0).sin()) as i16)
        .collect();
    h.call.end_with_prompt(Some(&prompt));
    h.drain(TICK * 10);
    assert_eq!(h.outputs.first(), Some(&CallOutput::ClearPlayback));
    // The model is left: what it still says is not played.
    h.agent_says("resp_2", "item_2", 1_000);
    for i in 10..60 {
        h.step(i, &quiet(i));
    }
    let hangup = h
        .outputs
        .iter()
        .position(|o| *o == CallOutput::Hangup)
        .expect("hangs up after the prompt");
    let frames = h.outputs[..hangup]
        .iter()
        .filter(|o| matches!(o, CallOutput::Audio { .. }))
        .count();
    assert!(
        (20..=21).contains(&frames),
        "the prompt's 20 frames, got {frames}"
    );
    assert_eq!(
        h.outputs
            .iter()
            .filter(|o| **o == CallOutput::Hangup)
            .count(),
        1
    );
}

#[test]
fn a_polite_end_without_a_prompt_hangs_up_at_once() {
    let mut h = Harness::new();
    h.agent_says("resp_1", "item_1", 2_000);
    h.step(0, &quiet(0));
    h.outputs.clear();
    h.call.end_with_prompt(None);
    h.drain(TICK);
    assert_eq!(
        h.outputs,
        vec![CallOutput::ClearPlayback, CallOutput::Hangup]
    );
}

#[test]
fn the_caller_talking_over_the_closing_prompt_does_not_cut_it() {
    let mut h = Harness::new();
    // 3 s, like the agent's voice in the barge-in tests: 150 frames.
    let prompt: Vec<i16> = (0..24_000)
        .map(|i| (6_000.0 * (2.0 * std::f32::consts::PI * 180.0 * i as f32 / 8_000.0).sin()) as i16)
        .collect();
    h.call.end_with_prompt(Some(&prompt));
    for i in 0..50 {
        h.step(i, &quiet(i));
    }
    for i in 50..70 {
        h.step(i, &voiced(i, 6000.0));
    }
    for i in 70..200 {
        h.step(i, &quiet(i));
    }
    assert!(
        !h.outputs
            .iter()
            .any(|o| matches!(o, CallOutput::BargeIn(_))),
        "no barge-in on the closing prompt"
    );
    let hangup = h
        .outputs
        .iter()
        .position(|o| *o == CallOutput::Hangup)
        .expect("hangs up after the prompt");
    let frames = h.outputs[..hangup]
        .iter()
        .filter(|o| matches!(o, CallOutput::Audio { .. }))
        .count();
    assert!(frames >= 150, "the whole prompt plays: {frames} frames");
}

#[test]
fn end_of_turn_fallback_ms_sets_how_long_a_turn_waits_for_the_models_own_end_of_turn() {
    let answered_at = |fallback_ms| {
        let mut config = CallConfig::default();
        config.turn.end_of_turn_fallback_ms = fallback_ms;
        let mut h = Harness::new();
        h.call = CallCore::new(config);
        h.call.on_model_event(Duration::ZERO, ModelEvent::Ready);
        // A model with turn detection of its own (it reports speech), which
        // never says the turn ended: warmline answers after the fallback.
        h.call.on_model_event(
            Duration::ZERO,
            ModelEvent::SpeechStarted { audio_start_ms: 0 },
        );
        for i in 0..10 {
            h.step(i, &quiet(i));
        }
        for i in 10..40 {
            h.step(i, &voiced(i, 6000.0));
        }
        for i in 40..200 {
            h.step(i, &quiet(i));
            let answered = h
                .outputs
                .contains(&CallOutput::Model(ModelCommand::CreateResponse {
                    instructions: None,
                }));
            if answered {
                return i;
            }
        }
        panic!("the turn was never answered with a {fallback_ms} ms fallback");
    };
    let (quick, slow) = (answered_at(400), answered_at(1_200));
    // 800 ms more of fallback is 40 more frames before the answer.
    assert_eq!(slow - quick, 40, "answered at frame {quick} and {slow}");
}
