//! G.711 cost for one 20 ms frame (160 samples).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::g711::{decode_frame, encode_frame, ulaw_to_alaw, Law};

fn speechlike() -> Frame {
    let s: Vec<i16> = (0..160)
        .map(|i| ((i as f32 * 0.37).sin() * 6000.0 + (i as f32 * 1.3).sin() * 2000.0) as i16)
        .collect();
    Frame::from_samples(SampleRate::Hz8000, MediaTime(0), &s).expect("160 samples")
}

fn g711(c: &mut Criterion) {
    let frame = speechlike();
    let mut payload = [0u8; 160];
    encode_frame(Law::Ulaw, &frame, &mut payload).expect("8 kHz");
    c.bench_function("ulaw_decode_20ms", |b| {
        b.iter(|| decode_frame(Law::Ulaw, black_box(&payload), MediaTime(0)))
    });
    c.bench_function("ulaw_encode_20ms", |b| {
        let mut out = [0u8; 160];
        b.iter(|| encode_frame(Law::Ulaw, black_box(&frame), &mut out))
    });
    c.bench_function("alaw_encode_20ms", |b| {
        let mut out = [0u8; 160];
        b.iter(|| encode_frame(Law::Alaw, black_box(&frame), &mut out))
    });
    c.bench_function("ulaw_to_alaw_20ms", |b| {
        b.iter(|| black_box(&payload).map(ulaw_to_alaw))
    });
}

criterion_group!(benches, g711);
criterion_main!(benches);
