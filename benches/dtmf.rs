//! DTMF cost: Goertzel detection on one 20 ms frame, RFC 4733 decode of one
//! packet.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::dtmf::{DtmfReceiver, InbandConfig, InbandDetector, TelephoneEvent};
use warmline::media::frame::{Frame, MediaTime, SampleRate};

fn dtmf(c: &mut Criterion) {
    let s: Vec<i16> = (0..160)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (4000.0
                * ((2.0 * std::f32::consts::PI * 770.0 * t).sin()
                    + (2.0 * std::f32::consts::PI * 1336.0 * t).sin())) as i16
        })
        .collect();
    let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(0), &s).expect("frame");
    let mut detector = InbandDetector::new(InbandConfig::default());
    c.bench_function("dtmf_inband_goertzel_20ms", |b| {
        b.iter(|| detector.push(black_box(&frame)))
    });

    let payload = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        duration: 320,
    }
    .encode();
    let mut rx = DtmfReceiver::new();
    c.bench_function("dtmf_rfc4733_decode_packet", |b| {
        b.iter(|| rx.push(1234, black_box(&payload)).expect("valid"))
    });
}

criterion_group!(benches, dtmf);
criterion_main!(benches);
