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

criterion_group!(benches, mixer);
criterion_main!(benches);
