//! VAD cost for one 20 ms frame of real speech from the fixtures.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::frame::{Frame, SampleRate};
use warmline::media::resample::Resampler;
use warmline::media::vad::{
    CallerVad, CallerVadConfig, EarshotVad, VoiceDetector, WebRtcMode, WebRtcVad,
};

#[path = "../tests/support/wav.rs"]
mod wav;

fn speech_frames() -> Vec<Frame> {
    wav::frames_8k(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/audio/caller_01.wav"
    )))
}

fn vad(c: &mut Criterion) {
    let frames = speech_frames();
    let mut up = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000).expect("8→16");
    let wide: Vec<Frame> = frames
        .iter()
        .map(|f| up.process(f).expect("resample"))
        .collect();

    let mut webrtc = WebRtcVad::new(WebRtcMode::Aggressive);
    let mut i = 0;
    c.bench_function("webrtc_vad_8k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            webrtc.is_speech(black_box(&frames[i])).expect("8 kHz")
        })
    });
    let mut earshot = EarshotVad::new(0.5);
    c.bench_function("earshot_16k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % wide.len();
            earshot.is_speech(black_box(&wide[i])).expect("16 kHz")
        })
    });
    let mut pipeline = CallerVad::new(CallerVadConfig::default());
    c.bench_function("caller_vad_default_8k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            pipeline.push(black_box(&frames[i])).expect("8 kHz")
        })
    });
}

criterion_group!(benches, vad);
criterion_main!(benches);
