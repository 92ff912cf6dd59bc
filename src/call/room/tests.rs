//! The room in simulated time: tones on every leg, one `tick` per 20 ms,
//! and Goertzel filters to say who hears which tone.

use super::*;
use crate::media::frame::SampleRate;

const A: f64 = 6_000.0;
const CALLER_HZ: f64 = 400.0;
const AGENT_HZ: f64 = 1_000.0;
const LINKED_HZ: f64 = 2_000.0;
const HOLD_HZ: f64 = 3_000.0;

fn tone(hz: f64, rate: f64, n: usize, tick: u64) -> Vec<i16> {
    let start = tick as usize * n;
    (start..start + n)
        .map(|i| (A * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()) as i16)
        .collect()
}

fn tone8(hz: f64, tick: u64) -> Vec<i16> {
    tone(hz, 8_000.0, 160, tick)
}

fn frame16(hz: f64, tick: u64) -> Frame {
    Frame::from_samples(
        SampleRate::Hz16000,
        MediaTime(0),
        &tone(hz, 16_000.0, 320, tick),
    )
    .expect("one frame")
}

/// The amplitude of `hz` in `x` (sampled at `rate`).
fn level(x: &[i16], hz: f64, rate: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let p = 2.0 * std::f64::consts::PI * hz * i as f64 / rate;
        re += f64::from(s) * p.cos();
        im += f64::from(s) * p.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

fn hears(x: &[i16], hz: f64, rate: f64) -> bool {
    level(x, hz, rate) > A / 4.0
}

fn silent_to(x: &[i16], hz: f64, rate: f64) -> bool {
    level(x, hz, rate) < A / 100.0
}

/// What each listener got over ticks 10..20 (past the fades).
struct Heard {
    caller: Vec<i16>,
    hearing: Vec<i16>,
    linked: Vec<Vec<i16>>,
}

/// Runs `ticks` ticks with the caller, the agent and each linked leg
/// sending their tones (the linked legs all send `LINKED_HZ`).
fn run(room: &mut Room, ports: &[LegPort], ticks: u64) -> Heard {
    let mut heard = Heard {
        caller: Vec::new(),
        hearing: Vec::new(),
        linked: vec![Vec::new(); ports.len()],
    };
    for t in 0..ticks {
        room.caller_frame(&tone8(CALLER_HZ, t));
        for p in ports {
            room.leg_frame(p.id(), frame16(LINKED_HZ, t));
        }
        let agent = tone8(AGENT_HZ, t);
        let out = room.tick(Some(&agent));
        let keep = t >= ticks - 10;
        if keep {
            heard.caller.extend_from_slice(&out.caller);
            heard
                .hearing
                .extend_from_slice(&out.hearing.unwrap_or([0; 160]));
        }
        for (i, p) in ports.iter().enumerate() {
            let mix = p.try_next_mix().expect("a mix every tick");
            if keep {
                heard.linked[i].extend_from_slice(mix.samples());
            }
        }
    }
    heard
}

#[test]
fn an_ai_only_room_does_not_mix() {
    let (room, _up) = Room::new();
    assert!(!room.mixing());
    assert_eq!(room.stats().mixed_ticks, 0);
}

#[test]
fn a_monitor_hears_caller_and_agent_and_is_heard_by_nobody() {
    let (mut room, _up) = Room::new();
    let (_, monitor) = room.attach(LegRole::Monitor, "test").expect("room");
    assert!(room.mixing());
    let heard = run(&mut room, std::slice::from_ref(&monitor), 20);
    assert!(hears(&heard.linked[0], CALLER_HZ, 16_000.0));
    assert!(hears(&heard.linked[0], AGENT_HZ, 16_000.0));
    assert!(silent_to(&heard.caller, LINKED_HZ, 8_000.0));
    assert!(silent_to(&heard.hearing, LINKED_HZ, 8_000.0));
    // The caller and the agent still hear each other, not themselves.
    assert!(hears(&heard.caller, AGENT_HZ, 8_000.0));
    assert!(silent_to(&heard.caller, CALLER_HZ, 8_000.0));
    assert!(hears(&heard.hearing, CALLER_HZ, 8_000.0));
    assert!(silent_to(&heard.hearing, AGENT_HZ, 8_000.0));
}

#[test]
fn a_rep_is_heard_by_the_caller_and_by_the_agent() {
    let (mut room, _up) = Room::new();
    let (_, rep) = room.attach(LegRole::Rep, "test").expect("room");
    let heard = run(&mut room, std::slice::from_ref(&rep), 20);
    assert!(hears(&heard.caller, LINKED_HZ, 8_000.0));
    assert!(hears(&heard.hearing, LINKED_HZ, 8_000.0));
    assert!(hears(&heard.linked[0], CALLER_HZ, 16_000.0));
    assert!(hears(&heard.linked[0], AGENT_HZ, 16_000.0));
}

#[test]
fn in_the_brief_the_caller_hears_hold_and_the_rep_hears_the_agent() {
    let (mut room, _up) = Room::new();
    let (_, rep) = room.attach(LegRole::Rep, "test").expect("room");
    room.set_policy(RoutePolicy::brief());
    let clip: Vec<i16> = tone(HOLD_HZ, 16_000.0, 16_000, 0);
    room.set_hold(Some(Box::new(LoopedClip::new_16k(clip.into()))));
    let heard = run(&mut room, std::slice::from_ref(&rep), 20);
    assert!(hears(&heard.caller, HOLD_HZ, 8_000.0));
    assert!(silent_to(&heard.caller, AGENT_HZ, 8_000.0));
    assert!(silent_to(&heard.caller, LINKED_HZ, 8_000.0));
    assert!(hears(&heard.linked[0], AGENT_HZ, 16_000.0));
    assert!(silent_to(&heard.linked[0], CALLER_HZ, 16_000.0));
    // The agent hears the rep, not the caller.
    assert!(hears(&heard.hearing, LINKED_HZ, 8_000.0));
    assert!(silent_to(&heard.hearing, CALLER_HZ, 8_000.0));
}

#[test]
fn a_muted_rep_is_heard_by_nobody_but_still_hears() {
    let (mut room, _up) = Room::new();
    let (id, rep) = room.attach(LegRole::Rep, "test").expect("room");
    room.set_muted(id, true).expect("in the room");
    let heard = run(&mut room, std::slice::from_ref(&rep), 20);
    assert!(silent_to(&heard.caller, LINKED_HZ, 8_000.0));
    assert!(hears(&heard.linked[0], AGENT_HZ, 16_000.0));
}

#[test]
fn a_detached_agent_leaves_the_caller_with_the_rep() {
    let (mut room, _up) = Room::new();
    let (_, rep) = room.attach(LegRole::Rep, "test").expect("room");
    room.detach_agent(std::time::Duration::from_secs(1))
        .expect("the agent was in");
    assert_eq!(
        room.detach_agent(std::time::Duration::ZERO),
        Err(RoomError::AgentAbsent)
    );
    let heard = run(&mut room, std::slice::from_ref(&rep), 20);
    // The agent's frames (the core would send none) are not mixed.
    assert!(silent_to(&heard.caller, AGENT_HZ, 8_000.0));
    assert!(hears(&heard.caller, LINKED_HZ, 8_000.0));
    assert!(heard.hearing.iter().all(|&s| s == 0));
    assert!(room.summary().iter().all(|l| l.role != LegRole::Agent));
    room.attach_agent().expect("it was out");
    let heard = run(&mut room, std::slice::from_ref(&rep), 20);
    assert!(hears(&heard.caller, AGENT_HZ, 8_000.0));
}

#[test]
fn caller_and_agent_legs_cannot_be_linked_nor_the_caller_detached() {
    let (mut room, _up) = Room::new();
    assert!(matches!(
        room.attach(LegRole::Agent, "test"),
        Err(RoomError::NotLinkable(_))
    ));
    assert_eq!(room.detach(CALLER), Err(RoomError::CallerStays));
    assert_eq!(room.detach(LegId(9)), Err(RoomError::UnknownLeg(9)));
    for _ in 0..MAX_LEGS - 2 {
        room.attach(LegRole::Monitor, "test").expect("room");
    }
    assert!(matches!(
        room.attach(LegRole::Monitor, "test"),
        Err(RoomError::RoomFull { .. })
    ));
}

/// The largest step between consecutive samples.
fn max_step(x: &[i16]) -> i32 {
    x.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

#[test]
fn engaging_and_disengaging_the_mixer_mid_tone_adds_no_click() {
    // The caller hears the agent's tone: 10 ticks direct (the driver
    // passes the agent's frames as they are), a monitor attaches (the room
    // engages), 10 ticks mixed, it detaches (the room fades it out, then
    // disengages), 10 ticks direct again.
    let (mut room, _up) = Room::new();
    let mut stream: Vec<i16> = Vec::new();
    let mut monitor = None;
    let mut engaged_at = None;
    let mut disengaged_at = None;
    for t in 0..40u64 {
        let agent = tone8(AGENT_HZ, t);
        if t == 10 {
            monitor = Some(room.attach(LegRole::Monitor, "test").expect("room").0);
        }
        if t == 20 {
            room.detach(monitor.expect("attached"))
                .expect("in the room");
        }
        if room.mixing() {
            engaged_at.get_or_insert(t);
            let out = room.tick(Some(&agent));
            stream.extend_from_slice(&out.caller);
            if !room.mixing() {
                disengaged_at = Some(t);
            }
        } else {
            stream.extend_from_slice(&agent);
        }
    }
    assert_eq!(engaged_at, Some(10));
    assert!(
        disengaged_at.is_some_and(|t| t > 20 && t < 24),
        "{disengaged_at:?}"
    );
    assert_eq!(room.stats().engaged, 1);
    // The tone's own largest step, plus what linear ramps over a tick can
    // add: the crossfade's two (A/160 each) and one more because the
    // mixer's fade reaches the caller through the downsampler, 1.4 ms
    // after the direct path's; plus rounding.
    let own = 2.0 * A * (std::f64::consts::PI * AGENT_HZ / 8_000.0).sin();
    let bound = (own + 3.0 * A / 160.0 + 4.0) as i32;
    let step = max_step(&stream);
    assert!(step <= bound, "largest step {step} over the bound {bound}");
    // A hard switch from the direct to the mixed path would jump by the
    // converters' delay (up and down: 46 samples at 16 kHz, 23 at 8 kHz)
    // of the tone: this bound would catch it.
    let delayed: Vec<i16> = (0..320)
        .map(|i| {
            (A * (2.0 * std::f64::consts::PI * AGENT_HZ * (i as f64 - 23.0) / 8_000.0).sin()) as i16
        })
        .collect();
    let direct = tone(AGENT_HZ, 8_000.0, 320, 0);
    let hard: Vec<i16> = direct[..160]
        .iter()
        .chain(&delayed[160..])
        .copied()
        .collect();
    assert!(max_step(&hard) > bound, "{} vs {bound}", max_step(&hard));
}

#[test]
fn a_coach_is_heard_by_the_rep_only_and_a_hand_built_table_is_honoured() {
    use crate::media::mixer::Speaker;
    const COACH_HZ: f64 = HOLD_HZ;
    let (mut room, _up) = Room::new();
    let (rep_id, rep) = room.attach(LegRole::Rep, "test").expect("room");
    let (coach_id, _coach) = room.attach(LegRole::Coach, "test").expect("room");
    // Ticks 0..20 in the normal table, 20..40 in a hand-built one; what
    // the caller, the agent and the rep got over the last 10 of each.
    let mut heard: Vec<(Vec<i16>, Vec<i16>, Vec<i16>)> = Vec::new();
    for t in 0..40u64 {
        if t == 20 {
            // A whisper to the AI: only the coach speaks, to the agent.
            let mut whisper = RoutePolicy::silent();
            whisper.set(Role::Agent, Speaker::Role(Role::Coach), true);
            room.set_policy(whisper);
        }
        if t % 20 == 10 {
            heard.push(Default::default());
        }
        room.caller_frame(&tone8(CALLER_HZ, t));
        room.leg_frame(rep_id, frame16(LINKED_HZ, t));
        room.leg_frame(coach_id, frame16(COACH_HZ, t));
        let out = room.tick(Some(&tone8(AGENT_HZ, t)));
        let rep_mix = rep.try_next_mix().expect("a mix every tick");
        if let Some((caller, hearing, rep_heard)) = heard.last_mut().filter(|_| t % 20 >= 10) {
            caller.extend_from_slice(&out.caller);
            hearing.extend_from_slice(&out.hearing.unwrap_or([0; 160]));
            rep_heard.extend_from_slice(rep_mix.samples());
        }
    }
    let (caller, hearing, rep_heard) = &heard[0];
    assert!(
        hears(rep_heard, COACH_HZ, 16_000.0),
        "the rep hears the coach"
    );
    assert!(silent_to(caller, COACH_HZ, 8_000.0), "the caller does not");
    assert!(silent_to(hearing, COACH_HZ, 8_000.0), "nor does the agent");
    assert!(
        hears(caller, LINKED_HZ, 8_000.0),
        "the caller hears the rep"
    );
    let (caller, hearing, rep_heard) = &heard[1];
    assert!(
        hears(hearing, COACH_HZ, 8_000.0),
        "the agent hears the coach"
    );
    assert!(silent_to(hearing, LINKED_HZ, 8_000.0), "not the rep");
    assert!(silent_to(hearing, CALLER_HZ, 8_000.0), "not the caller");
    assert!(rms16(caller) < 50.0, "the caller hears nobody");
    assert!(rms16(rep_heard) < 50.0, "the rep hears nobody");
}

fn rms16(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn a_frame_standing_in_a_reps_queue_is_given_back_in_a_pause_not_in_speech() {
    let (mut room, _up) = Room::new();
    let (_, rep) = room.attach(LegRole::Rep, "test").expect("room");
    // A burst leaves one frame standing: two before the first tick, then
    // one per tick; 2 s of speech, then a pause.
    room.leg_frame(rep.id(), frame16(LINKED_HZ, 0));
    for t in 0..200u64 {
        let frame = if t < 100 {
            frame16(LINKED_HZ, t + 1)
        } else {
            Frame::silence(INTERNAL_RATE, MediaTime(0))
        };
        room.leg_frame(rep.id(), frame);
        room.caller_frame(&tone8(CALLER_HZ, t));
        room.tick(None);
        if t < 100 {
            assert_eq!(
                room.stats().trimmed_frames,
                0,
                "speech is never cut (tick {t})"
            );
            assert_eq!(room.linked[0].queue.len(), 1, "the frame stands (tick {t})");
        }
    }
    assert_eq!(room.stats().trimmed_frames, 1);
    assert!(
        room.linked[0].queue.is_empty(),
        "each frame now goes out on the tick after it came"
    );
    assert_eq!(room.stats().late_frames, 0);
}
