//! Pacer cost: one tick releasing one 20 ms frame (with the push that fed it).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::frame::SampleRate;
use warmline::media::pacer::{Pacer, PacerConfig, SourceId};

fn pacer(c: &mut Criterion) {
    let audio = [100i16; 160];
    let mut p = Pacer::new(PacerConfig::new(SampleRate::Hz8000));
    let mut tick: u32 = 0;
    c.bench_function("pacer_push_and_tick_20ms", |b| {
        b.iter(|| {
            p.push(SourceId(1), black_box(&audio)).expect("room");
            let t = p.poll(Duration::from_millis(20) * tick);
            tick += 1;
            black_box(t)
        })
    });
}

criterion_group!(benches, pacer);
criterion_main!(benches);
