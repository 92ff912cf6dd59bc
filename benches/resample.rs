//! Resampling cost for one 20 ms frame, each direction the call path uses.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::resample::Resampler;

fn tone(rate: SampleRate) -> Frame {
    let n = rate.samples_per_frame();
    let s: Vec<i16> = (0..n)
        .map(|i| {
            ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / rate.hz() as f32).sin() * 8000.0)
                as i16
        })
        .collect();
    Frame::from_samples(rate, MediaTime(0), &s).expect("one frame")
}

fn resample(c: &mut Criterion) {
    let pairs = [
        (SampleRate::Hz8000, SampleRate::Hz16000),
        (SampleRate::Hz8000, SampleRate::Hz24000),
        (SampleRate::Hz24000, SampleRate::Hz8000),
        (SampleRate::Hz8000, SampleRate::Hz48000),
        (SampleRate::Hz48000, SampleRate::Hz8000),
    ];
    for (from, to) in pairs {
        let mut r = Resampler::new(from, to).expect("supported");
        let input = tone(from);
        c.bench_function(
            &format!("resample_{}k_to_{}k_20ms", from.hz() / 1000, to.hz() / 1000),
            |b| b.iter(|| r.process(black_box(&input)).expect("resamples")),
        );
    }
}

criterion_group!(benches, resample);
criterion_main!(benches);
