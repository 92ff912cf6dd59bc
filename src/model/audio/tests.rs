use super::*;

const PCM24K: AudioFormat = AudioFormat::Pcm16 { rate: 24_000 };

fn sine_24k_bytes(hz: f64, amplitude: f64, ms: usize) -> Vec<u8> {
    (0..ms * 24)
        .flat_map(|i| {
            let t = i as f64 / 24_000.0;
            ((amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16).to_le_bytes()
        })
        .collect()
}

fn decode_in_pieces(bytes: &[u8], sizes: &[usize]) -> Vec<i16> {
    let mut decoder = Decoder::new(PCM24K).expect("24 kHz");
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        decoder.decode(&rest[..n], &mut out);
        rest = &rest[n..];
        i += 1;
    }
    decoder.finish(&mut out);
    out
}

#[test]
fn pcm24k_deltas_split_anywhere_decode_to_the_same_8k_samples() {
    let bytes = sine_24k_bytes(1_000.0, 8_000.0, 1_000);
    let whole = decode_in_pieces(&bytes, &[bytes.len()]);
    // Odd sizes split samples between deltas, and no delta is a frame.
    let pieces = decode_in_pieces(&bytes, &[1, 777, 3_001, 960, 13]);
    assert_eq!(whole, pieces);
}

#[test]
fn pcm24k_decodes_the_whole_stream_at_the_right_level_and_pitch() {
    let bytes = sine_24k_bytes(1_000.0, 8_000.0, 1_010);
    let out = decode_in_pieces(&bytes, &[4_800]);
    let delay = Resampler::new(SampleRate::Hz24000, SampleRate::Hz8000)
        .expect("builds")
        .delay_samples();
    // 1010 ms in, 1010 ms plus the filter delay out: nothing held back.
    assert_eq!(out.len(), 8 * 1_010 + delay);
    // Fit a 1 kHz sine of any phase (the filter delay is fractional) away
    // from the edges: the level is kept and the residue is far below it.
    let w = 2.0 * std::f64::consts::PI * 1_000.0 / 8_000.0;
    let span = 400..7_600;
    let count = span.len() as f64;
    let (mut sin_part, mut cos_part) = (0.0f64, 0.0f64);
    for n in span.clone() {
        sin_part += f64::from(out[n]) * (w * n as f64).sin();
        cos_part += f64::from(out[n]) * (w * n as f64).cos();
    }
    let (a, b) = (2.0 * sin_part / count, 2.0 * cos_part / count);
    let amplitude = (a * a + b * b).sqrt();
    assert!(
        (amplitude - 8_000.0).abs() < 8_000.0 * 0.05,
        "level {amplitude:.0}"
    );
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for n in span {
        let fit = a * (w * n as f64).sin() + b * (w * n as f64).cos();
        signal += fit * fit;
        error += (f64::from(out[n]) - fit).powi(2);
    }
    let snr_db = 10.0 * (signal / error).log10();
    assert!(snr_db > 40.0, "SNR {snr_db:.1} dB");
}

#[test]
fn the_8k_caller_goes_out_as_24k_pcm_one_frame_per_frame() {
    let mut encoder = Encoder::new(PCM24K).expect("24 kHz");
    let mut out = Vec::new();
    encoder.encode(&[1_000; 160], &mut out);
    assert_eq!(out.len(), 960, "480 samples of 16 bits");
    encoder.encode(&[1_000; 100], &mut out);
    assert_eq!(out.len(), 960, "a partial frame waits");
    encoder.encode(&[1_000; 60], &mut out);
    assert_eq!(out.len(), 1_920);
}

#[test]
fn g711_converts_sample_by_sample() {
    let mut encoder = Encoder::new(AudioFormat::Pcmu).expect("pcmu");
    let mut bytes = Vec::new();
    encoder.encode(&[0, 1_000, -1_000], &mut bytes);
    assert_eq!(bytes.len(), 3);
    let mut decoder = Decoder::new(AudioFormat::Pcmu).expect("pcmu");
    let mut pcm = Vec::new();
    decoder.decode(&bytes, &mut pcm);
    assert_eq!(pcm.len(), 3);
    assert!(pcm[1] > 900 && pcm[2] < -900, "{pcm:?}");
}

#[test]
fn unsupported_pcm_rates_are_refused() {
    assert!(matches!(
        Decoder::new(AudioFormat::Pcm16 { rate: 11_025 }),
        Err(ModelAudioError::UnsupportedRate(11_025))
    ));
}
