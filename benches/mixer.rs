//! Room mixer cost: one 20 ms tick (every leg hands in a frame, then the
//! mix of every listener) for 2, 3 and 5 legs, in the normal routing and
//! (5 legs) during a brief with hold audio.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::frame::{Frame, MediaTime};
use warmline::media::mixer::{LegId, Mixer, Role, RoutePolicy, INTERNAL_RATE, TICK_SAMPLES};

const ROLES: [Role; 5] = [
    Role::Caller,
    Role::Agent,
    Role::Rep,
    Role::Monitor,
    Role::Coach,
];

/// A speech-level tone (about -18 dBFS) so that nothing clips.
fn frame(hz: f32) -> Frame {
    let samples: Vec<i16> = (0..TICK_SAMPLES)
        .map(|n| (4_000.0 * (2.0 * std::f32::consts::PI * hz * n as f32 / 16_000.0).sin()) as i16)
        .collect();
    Frame::from_samples(INTERNAL_RATE, MediaTime(0), &samples).expect("one tick")
}

fn bench_room(c: &mut Criterion, name: &str, legs: usize, policy: RoutePolicy, hold: bool) {
    let mut m = Mixer::new(policy);
    let frames: Vec<(LegId, Frame)> = (0..legs)
        .map(|i| (LegId(i as u32), frame(400.0 + 300.0 * i as f32)))
        .collect();
    for (i, (leg, _)) in frames.iter().enumerate() {
        m.attach(*leg, ROLES[i]).expect("room");
    }
    let hold_frame = frame(1_900.0);
    // Past the attach fades: the steady state is what a call pays.
    for _ in 0..3 {
        m.mix();
    }
    c.bench_function(name, |b| {
        b.iter(|| {
            for (leg, f) in &frames {
                m.put_frame(*leg, black_box(f)).expect("in room");
            }
            if hold {
                m.put_hold(&hold_frame).expect("16 kHz");
            }
            m.mix();
            black_box(m.output(LegId(0)));
        })
    });
}

fn mixer(c: &mut Criterion) {
    bench_room(c, "mixer_tick_2_legs", 2, RoutePolicy::normal(), false);
    bench_room(c, "mixer_tick_3_legs", 3, RoutePolicy::normal(), false);
    bench_room(c, "mixer_tick_5_legs", 5, RoutePolicy::normal(), false);
    bench_room(
        c,
        "mixer_tick_5_legs_brief_hold",
        5,
        RoutePolicy::brief(),
        true,
    );
}

/// The 2:1 converters a phone leg pays per tick once its room mixes:
/// 20 ms up to 16 kHz and 20 ms down to 8 kHz (decision 0024).
fn halfband(c: &mut Criterion) {
    use warmline::media::halfband::{Downsampler2, Upsampler2};
    let input: Vec<i16> = (0..160)
        .map(|n| (4_000.0 * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 8_000.0).sin()) as i16)
        .collect();
    let mut up = Upsampler2::new();
    let mut down = Downsampler2::new();
    let mut wide = [0i16; 320];
    let mut narrow = [0i16; 160];
    c.bench_function("halfband_up_and_down_20ms", |b| {
        b.iter(|| {
            up.process(black_box(&input), &mut wide);
            down.process(&wide, &mut narrow);
            black_box(&narrow);
        })
    });
}

/// A whole mixed tick of a call's room with a rep and a monitor linked:
/// the caller's and the agent's conversions, the mix, the linked legs'
/// mixes queued (what the driver pays per tick over an AI-only call).
fn room(c: &mut Criterion) {
    use warmline::call::registry::LegRole;
    use warmline::call::room::Room;
    let (mut room, _up) = Room::new();
    let (rep, rep_port) = room.attach(LegRole::Rep, "bench").expect("room");
    let (monitor, monitor_port) = room.attach(LegRole::Monitor, "bench").expect("room");
    let caller: Vec<i16> = (0..160)
        .map(|n| (4_000.0 * (2.0 * std::f32::consts::PI * 300.0 * n as f32 / 8_000.0).sin()) as i16)
        .collect();
    let agent: Vec<i16> = caller.iter().map(|&s| s / 2).collect();
    let rep_frame = frame(700.0);
    let monitor_frame = frame(1_100.0);
    c.bench_function("room_tick_caller_agent_rep_monitor", |b| {
        b.iter(|| {
            room.caller_frame(black_box(&caller));
            room.leg_frame(rep, rep_frame.clone());
            room.leg_frame(monitor, monitor_frame.clone());
            let out = room.tick(Some(black_box(&agent)));
            black_box(&out);
            // The edges take their mixes, as they would.
            black_box(rep_port.try_next_mix());
            black_box(monitor_port.try_next_mix());
        })
    });
}

criterion_group!(benches, mixer, halfband, room);
criterion_main!(benches);
