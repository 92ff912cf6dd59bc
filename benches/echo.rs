//! Echo control cost for one 20 ms tick (`far_end` + `near_end`) on real
//! agent speech with 10 dB echo 150 ms late, after the delay has settled:
//! the suppressor (`media::echo::EchoControl`), the call's echo gate
//! (`call::EchoGate`, the decision side), both together (decision 0010),
//! and both behind the time alignment (`call::EchoAlign`, decision 0042),
//! which is what a call runs per frame.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::call::{EchoAlign, EchoConfig as GateConfig, EchoGate, FarEndPlayout};
use warmline::media::echo::{EchoConfig, EchoControl};

#[path = "../tests/support/wav.rs"]
mod wav;

fn agent() -> Vec<i16> {
    let mut out = Vec::new();
    for i in 1..=6 {
        let path = format!(
            "{}/fixtures/audio/agent_0{i}.wav",
            env!("CARGO_MANIFEST_DIR")
        );
        for f in wav::frames_8k(std::path::Path::new(&path)) {
            out.extend_from_slice(f.samples());
        }
    }
    out
}

fn echo(c: &mut Criterion) {
    let far = agent();
    let d = 150 * 8;
    let near: Vec<i16> = (0..far.len())
        .map(|n| {
            if n < d {
                0
            } else {
                (f32::from(far[n - d]) * 0.316) as i16
            }
        })
        .collect();
    let frames = far.len() / 160;
    let mut ec = EchoControl::new(EchoConfig::default());
    let mut buf = [0i16; 160];
    // Settle the delay estimate first: the bench measures the steady state.
    for k in 0..frames {
        ec.far_end(&far[k * 160..(k + 1) * 160]);
        buf.copy_from_slice(&near[k * 160..(k + 1) * 160]);
        ec.near_end(&mut buf);
    }
    assert!(ec.delay_ms().is_some(), "delay never settled");
    let mut k = 0;
    c.bench_function("echo_control_tick_20ms", |b| {
        b.iter(|| {
            k = (k + 1) % frames;
            ec.far_end(black_box(&far[k * 160..(k + 1) * 160]));
            buf.copy_from_slice(&near[k * 160..(k + 1) * 160]);
            black_box(ec.near_end(black_box(&mut buf)))
        })
    });

    let mut gate = EchoGate::new(GateConfig::default());
    for k in 0..frames {
        gate.far_end(&far[k * 160..(k + 1) * 160]);
        buf.copy_from_slice(&near[k * 160..(k + 1) * 160]);
        gate.near_end(&mut buf);
    }
    c.bench_function("echo_gate_tick_20ms", |b| {
        b.iter(|| {
            k = (k + 1) % frames;
            gate.far_end(black_box(&far[k * 160..(k + 1) * 160]));
            buf.copy_from_slice(&near[k * 160..(k + 1) * 160]);
            black_box(gate.near_end(black_box(&mut buf)))
        })
    });

    let mut raw = [0i16; 160];
    c.bench_function("echo_gate_and_control_tick_20ms", |b| {
        b.iter(|| {
            k = (k + 1) % frames;
            let played = black_box(&far[k * 160..(k + 1) * 160]);
            gate.far_end(played);
            ec.far_end(played);
            raw.copy_from_slice(&near[k * 160..(k + 1) * 160]);
            buf.copy_from_slice(&raw);
            black_box(gate.near_end(black_box(&mut raw)));
            black_box(ec.near_end(black_box(&mut buf)))
        })
    });

    // One slot played and one caller frame per 20 ms of call time.
    let mut align = EchoAlign::new(FarEndPlayout::Queue);
    let mut now = std::time::Duration::ZERO;
    c.bench_function("echo_aligned_gate_and_control_tick_20ms", |b| {
        b.iter(|| {
            k = (k + 1) % frames;
            now += std::time::Duration::from_millis(20);
            align.played(now, black_box(&far[k * 160..(k + 1) * 160]));
            for played in align.caller_frame(now + std::time::Duration::from_millis(2)) {
                gate.far_end(&played);
                ec.far_end(&played);
            }
            raw.copy_from_slice(&near[k * 160..(k + 1) * 160]);
            buf.copy_from_slice(&raw);
            black_box(gate.near_end(black_box(&mut raw)));
            black_box(ec.near_end(black_box(&mut buf)))
        })
    });
}

criterion_group!(benches, echo);
criterion_main!(benches);
