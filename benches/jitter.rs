//! Jitter buffer cost: push one 20 ms packet and pop one frame.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::jitter::{JitterBuffer, JitterConfig, Playout, RtpPacket};

fn jitter(c: &mut Criterion) {
    let payload = [0x55u8; 160];
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut seq: u64 = 0;
    c.bench_function("jitter_push_pop_20ms", |b| {
        b.iter(|| {
            let now = Duration::from_millis(seq * 20);
            jb.push(
                RtpPacket {
                    sequence: seq as u16,
                    timestamp: (seq * 160) as u32,
                    ssrc: 1,
                    marker: false,
                    payload: black_box(&payload),
                },
                now,
            )
            .expect("20 ms");
            seq += 1;
            matches!(jb.pop(now), Playout::Frame { .. })
        })
    });
}

criterion_group!(benches, jitter);
criterion_main!(benches);
