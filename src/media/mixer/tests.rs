//! The room mixer in simulated time: each leg carries its own tone, and
//! Goertzel filters say which tones each listener's mix holds.
//!
//! Every tone has a whole number of cycles in one 20 ms tick at 16 kHz
//! (multiples of 50 Hz), so over one tick the tones are orthogonal: a
//! tone's Goertzel amplitude is its own amplitude, and any other tone
//! contributes exactly nothing (rounding aside).

use super::*;

const AMP: f64 = 4_000.0;
/// Heard: at least half the tone's amplitude (a full-gain tone measures
/// AMP ± rounding).
const HEARD: f64 = AMP / 2.0;
/// Not heard: below -60 dB of the tone (rounding of the other tones'
/// samples is far smaller).
const SILENT: f64 = AMP / 1_000.0;

const CALLER: LegId = LegId(1);
const AGENT: LegId = LegId(2);
const REP: LegId = LegId(3);
const MONITOR: LegId = LegId(4);
const COACH: LegId = LegId(5);

fn tone_of(leg: LegId) -> f64 {
    match leg.0 {
        1 => 400.0,
        2 => 700.0,
        3 => 1_000.0,
        4 => 1_300.0,
        5 => 1_600.0,
        _ => unreachable!("test legs are 1..=5"),
    }
}
const HOLD_HZ: f64 = 1_900.0;

fn role_of(leg: LegId) -> Role {
    match leg.0 {
        1 => Role::Caller,
        2 => Role::Agent,
        3 => Role::Rep,
        4 => Role::Monitor,
        _ => Role::Coach,
    }
}

/// One tick of a tone at `hz`, phase-continuous across ticks: sample `n`
/// of the stream is `AMP * cos(2π hz n / 16000)`. A cosine, so that every
/// tick starts at the waveform's peak: the worst moment for a leg to
/// switch on or off.
fn tone(hz: f64, tick: u64) -> Frame {
    let mut frame = Frame::silence(INTERNAL_RATE, MediaTime(tick * TICK_SAMPLES as u64));
    for (k, s) in frame.samples_mut().iter_mut().enumerate() {
        let n = tick as f64 * TICK_SAMPLES as f64 + k as f64;
        *s = (AMP * (2.0 * std::f64::consts::PI * hz * n / 16_000.0).cos()).round() as i16;
    }
    frame
}

/// Amplitude of the `hz` component over one tick (Goertzel).
fn amplitude(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len() as f64;
    let w = 2.0 * std::f64::consts::PI * hz / 16_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / n
}

fn room(legs: &[LegId], policy: RoutePolicy) -> Mixer {
    let mut m = Mixer::new(policy);
    for &leg in legs {
        m.attach(leg, role_of(leg)).expect("room for the test legs");
    }
    m
}

/// Every leg in `talking` hands in its tone (and the hold source its own
/// when `hold`), then one tick is mixed.
fn tick(m: &mut Mixer, talking: &[LegId], hold: bool) {
    let t = m.stats().ticks;
    for &leg in talking {
        m.put_frame(leg, &tone(tone_of(leg), t))
            .expect("leg in room");
    }
    if hold {
        m.put_hold(&tone(HOLD_HZ, t)).expect("16 kHz");
    }
    m.mix();
}

/// Asserts that `listener` hears exactly the tones of `heard` (and the
/// hold tone iff `hears_hold`) among `all`.
fn assert_hears(m: &Mixer, listener: LegId, all: &[LegId], heard: &[LegId], hears_hold: bool) {
    let out = m.output(listener).expect("listener in room").samples();
    for &speaker in all {
        let a = amplitude(out, tone_of(speaker));
        if heard.contains(&speaker) {
            assert!(
                a > HEARD,
                "{listener:?} should hear {speaker:?}: amplitude {a:.1}"
            );
        } else {
            assert!(
                a < SILENT,
                "{listener:?} should not hear {speaker:?}: amplitude {a:.1}"
            );
        }
    }
    let h = amplitude(out, HOLD_HZ);
    if hears_hold {
        assert!(h > HEARD, "{listener:?} should hear hold audio: {h:.1}");
    } else {
        assert!(
            h < SILENT,
            "{listener:?} should not hear hold audio: {h:.1}"
        );
    }
}

/// Runs past the attach fade so that gains are steady.
fn settle(m: &mut Mixer, talking: &[LegId], hold: bool) {
    for _ in 0..3 {
        tick(m, talking, hold);
    }
}

#[test]
fn normally_everyone_hears_everyone_but_themselves() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    settle(&mut m, &legs, true);
    assert_hears(&m, CALLER, &legs, &[AGENT, REP], false);
    assert_hears(&m, AGENT, &legs, &[CALLER, REP], false);
    assert_hears(&m, REP, &legs, &[CALLER, AGENT], false);
}

#[test]
fn a_monitor_hears_everyone_and_is_heard_by_no_one() {
    let legs = [CALLER, AGENT, REP, MONITOR];
    let mut m = room(&legs, RoutePolicy::normal());
    settle(&mut m, &legs, false);
    assert_hears(&m, MONITOR, &legs, &[CALLER, AGENT, REP], false);
    assert_hears(&m, CALLER, &legs, &[AGENT, REP], false);
    assert_hears(&m, AGENT, &legs, &[CALLER, REP], false);
    assert_hears(&m, REP, &legs, &[CALLER, AGENT], false);
}

#[test]
fn a_coach_hears_everyone_and_only_the_rep_hears_the_coach() {
    let legs = [CALLER, AGENT, REP, MONITOR, COACH];
    let mut m = room(&legs, RoutePolicy::normal());
    settle(&mut m, &legs, false);
    assert_hears(&m, COACH, &legs, &[CALLER, AGENT, REP], false);
    assert_hears(&m, REP, &legs, &[CALLER, AGENT, COACH], false);
    assert_hears(&m, CALLER, &legs, &[AGENT, REP], false);
    assert_hears(&m, AGENT, &legs, &[CALLER, REP], false);
    assert_hears(&m, MONITOR, &legs, &[CALLER, AGENT, REP], false);
}

#[test]
fn during_a_brief_the_caller_hears_hold_audio_and_only_the_rep_hears_the_agent() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    settle(&mut m, &legs, true);
    m.set_policy(RoutePolicy::brief());
    settle(&mut m, &legs, true);
    assert_hears(&m, CALLER, &legs, &[], true);
    assert_hears(&m, REP, &legs, &[AGENT], false);
    assert_hears(&m, AGENT, &legs, &[REP], false);
    // And back: the brief is over, the rep takes the call.
    m.set_policy(RoutePolicy::normal());
    settle(&mut m, &legs, true);
    assert_hears(&m, CALLER, &legs, &[AGENT, REP], false);
}

#[test]
fn a_brief_with_supervisors_keeps_them_hearing_everyone() {
    let legs = [CALLER, AGENT, REP, MONITOR, COACH];
    let mut m = room(&legs, RoutePolicy::brief());
    settle(&mut m, &legs, true);
    assert_hears(&m, CALLER, &legs, &[], true);
    assert_hears(&m, REP, &legs, &[AGENT, COACH], false);
    assert_hears(&m, MONITOR, &legs, &[CALLER, AGENT, REP], false);
    assert_hears(&m, COACH, &legs, &[CALLER, AGENT, REP], false);
}

#[test]
fn routing_is_data_a_hand_built_table_is_honoured() {
    // A whisper to the agent only: the rep talks to the AI, the caller
    // does not hear it, everything else normal.
    let mut policy = RoutePolicy::normal();
    policy.set(Role::Caller, Speaker::Role(Role::Rep), false);
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, policy);
    settle(&mut m, &legs, false);
    assert_hears(&m, CALLER, &legs, &[AGENT], false);
    assert_hears(&m, AGENT, &legs, &[CALLER, REP], false);
}

#[test]
fn a_muted_leg_is_heard_by_no_one_but_still_hears() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    m.set_muted(REP, true).expect("rep in room");
    settle(&mut m, &legs, false);
    assert_hears(&m, CALLER, &legs, &[AGENT], false);
    assert_hears(&m, AGENT, &legs, &[CALLER], false);
    assert_hears(&m, REP, &legs, &[CALLER, AGENT], false);
}

#[test]
fn a_leg_with_no_frame_this_tick_is_silent_and_the_others_still_mix() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    settle(&mut m, &legs, false);
    // The agent's frame is late this tick.
    tick(&mut m, &[CALLER, REP], false);
    assert_hears(&m, CALLER, &legs, &[REP], false);
    assert_hears(&m, REP, &legs, &[CALLER], false);
    assert_hears(&m, AGENT, &legs, &[CALLER, REP], false);
    assert_eq!(m.stats().missing_frames, 1);
    // Next tick it is back, at full level (no fade: its gain never moved).
    tick(&mut m, &legs, false);
    assert_hears(&m, CALLER, &legs, &[AGENT, REP], false);
    // A room where nobody handed in anything mixes silence.
    tick(&mut m, &[], false);
    for leg in legs {
        assert!(m.output(leg).expect("in room").is_digital_silence());
    }
}

/// The largest sample-to-sample step of a sine of amplitude `amp` at `hz`
/// sampled at 16 kHz: `2 amp sin(π hz / fs)`.
fn tone_max_step(hz: f64) -> f64 {
    2.0 * AMP * (std::f64::consts::PI * hz / 16_000.0).sin()
}

/// The bound a fade must keep: the tone's own largest step, plus what a
/// linear gain ramp over one tick can add per sample (AMP / FADE_SAMPLES),
/// plus 2 LSB of rounding. A hard switch at the waveform's peak steps by
/// AMP, far above it (see the next test).
fn click_bound(hz: f64) -> f64 {
    tone_max_step(hz) + AMP / FADE_SAMPLES as f64 + 2.0
}

fn max_step(samples: &[i16]) -> f64 {
    samples
        .windows(2)
        .map(|w| (f64::from(w[1]) - f64::from(w[0])).abs())
        .fold(0.0, f64::max)
}

#[test]
fn the_click_bound_would_catch_a_hard_switch() {
    // 400 Hz at 16 kHz: own step ≈ 628, bound ≈ 642; switching on at the
    // start of a tick (the cosine's peak) steps by 4000.
    let hz = tone_of(CALLER);
    let mut cut: Vec<i16> = vec![0; TICK_SAMPLES];
    cut.extend_from_slice(tone(hz, 1).samples());
    assert!(max_step(&cut) > 4.0 * click_bound(hz));
}

/// The stream `listener` hears over `ticks` ticks while `talking` talk,
/// with `change` applied to the mixer before tick `at`.
fn hear_through(
    m: &mut Mixer,
    listener: LegId,
    talking: &[LegId],
    ticks: u64,
    at: u64,
    change: impl Fn(&mut Mixer),
) -> Vec<i16> {
    let mut heard = Vec::new();
    for t in 0..ticks {
        if t == at {
            change(m);
        }
        let present: Vec<LegId> = talking
            .iter()
            .copied()
            .filter(|&l| m.legs().any(|(id, _)| id == l))
            .collect();
        tick(m, &present, false);
        heard.extend_from_slice(m.output(listener).expect("listener stays").samples());
    }
    heard
}

#[test]
fn attaching_mid_tone_adds_no_step_above_the_tones_own() {
    // The caller hears silence, then the rep (1000 Hz) joins while its
    // tone is mid-cycle; the caller's stream must not click.
    let mut m = room(&[CALLER], RoutePolicy::normal());
    let heard = hear_through(&mut m, CALLER, &[REP], 6, 3, |m| {
        m.attach(REP, Role::Rep).expect("room");
    });
    let hz = tone_of(REP);
    assert!(
        max_step(&heard) <= click_bound(hz),
        "step {} > bound {}",
        max_step(&heard),
        click_bound(hz)
    );
    // …and the rep is at full level once the fade is done.
    assert!(amplitude(&heard[4 * TICK_SAMPLES..5 * TICK_SAMPLES], hz) > AMP - 2.0);
}

#[test]
fn detaching_mid_tone_adds_no_step_above_the_tones_own() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    let heard = hear_through(&mut m, CALLER, &legs, 6, 3, |m| {
        m.detach(REP).expect("rep in room");
    });
    // The caller hears the agent (700 Hz) throughout and the rep (1000 Hz)
    // fading out; the sum's own step is bounded by the sum of the tones'.
    let bound = tone_max_step(tone_of(AGENT)) + click_bound(tone_of(REP));
    assert!(
        max_step(&heard) <= bound,
        "step {} > {bound}",
        max_step(&heard)
    );
    let after = &heard[4 * TICK_SAMPLES..5 * TICK_SAMPLES];
    assert!(amplitude(after, tone_of(REP)) < SILENT);
    assert!(amplitude(after, tone_of(AGENT)) > AMP - 2.0);
    assert!(m.output(REP).is_none(), "its slot is reused or gone");
}

#[test]
fn starting_a_brief_mid_tone_fades_the_agent_out_of_the_callers_ear() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    // Only the agent talks: the caller's stream goes from the agent's tone
    // to silence (no hold frame handed in) with one fade.
    let heard = hear_through(&mut m, CALLER, &[AGENT], 6, 3, |m| {
        m.set_policy(RoutePolicy::brief());
    });
    assert!(max_step(&heard) <= click_bound(tone_of(AGENT)));
    assert!(amplitude(&heard[4 * TICK_SAMPLES..5 * TICK_SAMPLES], tone_of(AGENT)) < SILENT);
}

#[test]
fn a_detached_leg_frees_its_slot_for_the_next_attach() {
    let mut m = Mixer::default();
    for i in 0..MAX_LEGS as u32 {
        m.attach(LegId(100 + i), Role::Monitor).expect("room");
    }
    assert_eq!(
        m.attach(LegId(1), Role::Caller),
        Err(MixerError::RoomFull {
            leg: LegId(1),
            max: MAX_LEGS
        })
    );
    m.detach(LegId(100)).expect("in room");
    // Still fading out: its id is taken, its slot too.
    assert_eq!(
        m.attach(LegId(100), Role::Caller),
        Err(MixerError::AlreadyAttached(LegId(100)))
    );
    m.mix();
    m.attach(LegId(1), Role::Caller).expect("the slot is free");
    assert_eq!(m.legs().count(), MAX_LEGS);
}

#[test]
fn frames_at_another_rate_and_unknown_legs_are_refused() {
    let mut m = room(&[CALLER], RoutePolicy::normal());
    let narrow = Frame::silence(SampleRate::Hz8000, MediaTime(0));
    assert_eq!(
        m.put_frame(CALLER, &narrow),
        Err(MixerError::WrongRate {
            expected: INTERNAL_RATE,
            got: SampleRate::Hz8000
        })
    );
    assert_eq!(m.put_hold(&narrow).map_err(|_| ()), Err(()));
    let wide = Frame::silence(INTERNAL_RATE, MediaTime(0));
    assert_eq!(
        m.put_frame(AGENT, &wide),
        Err(MixerError::UnknownLeg(AGENT))
    );
    assert_eq!(m.detach(AGENT), Err(MixerError::UnknownLeg(AGENT)));
}

#[test]
fn loud_talkers_saturate_instead_of_wrapping() {
    let legs = [CALLER, AGENT, REP];
    let mut m = room(&legs, RoutePolicy::normal());
    let loud = Frame::from_samples(INTERNAL_RATE, MediaTime(0), &[30_000; TICK_SAMPLES])
        .expect("one frame");
    let quiet = Frame::from_samples(INTERNAL_RATE, MediaTime(0), &[-30_000; TICK_SAMPLES])
        .expect("one frame");
    for _ in 0..2 {
        m.put_frame(AGENT, &loud).expect("in room");
        m.put_frame(REP, &loud).expect("in room");
        m.put_frame(CALLER, &quiet).expect("in room");
        m.mix();
    }
    assert!(m
        .output(CALLER)
        .expect("in room")
        .samples()
        .iter()
        .all(|&s| s == i16::MAX));
    // The agent hears +30000 − 30000: the bus's i32 sum is exact.
    assert!(m.output(AGENT).expect("in room").is_digital_silence());
}

#[test]
fn mixes_are_stamped_with_the_tick_media_time() {
    let mut m = room(&[CALLER, AGENT], RoutePolicy::normal());
    m.mix();
    m.mix();
    assert_eq!(
        m.output(CALLER).expect("in room").timestamp(),
        MediaTime(TICK_SAMPLES as u64)
    );
    assert_eq!(m.output(CALLER).expect("in room").rate(), INTERNAL_RATE);
}
