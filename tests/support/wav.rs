//! Reads a fixture WAV (8 kHz mono PCM16) as consecutive 20 ms frames.

#![allow(dead_code)]

use std::path::Path;

use warmline::media::frame::{Frame, MediaTime, SampleRate};

/// The whole 20 ms frames of an 8 kHz mono 16-bit WAV file.
pub fn frames_8k(path: &Path) -> Vec<Frame> {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("16-bit sample"))
        .collect();
    samples
        .chunks_exact(160)
        .enumerate()
        .map(|(i, c)| {
            Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), c)
                .expect("160 samples")
        })
        .collect()
}

/// An audio fixture (`fixtures/audio/{name}`) as μ-law bytes, as a model
/// or Twilio would carry it.
pub fn fixture_mulaw(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    frames_8k(&path)
        .iter()
        .flat_map(|f| {
            f.samples()
                .iter()
                .map(|&s| warmline::media::g711::ulaw_encode(s))
        })
        .collect()
}
