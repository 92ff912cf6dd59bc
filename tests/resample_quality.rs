//! The resampler keeps telephone-band tones clean through a round trip and
//! reports a delay that matches what it does.

use warmline::media::analysis::{best_lag, fit_sine, lowpassed_noise};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::resample::Resampler;

fn to_frames(signal: &[f64]) -> Vec<Frame> {
    signal
        .chunks_exact(160)
        .enumerate()
        .map(|(i, c)| {
            let s: Vec<i16> = c.iter().map(|&x| (x * 32767.0).round() as i16).collect();
            Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), &s)
                .expect("160 samples")
        })
        .collect()
}

/// Runs 8 kHz audio through 8→mid→8 and returns the output and the two
/// resamplers' reported delays in ms.
fn round_trip(mid: SampleRate, input: &[f64]) -> (Vec<f64>, f64, f64) {
    let mut up = Resampler::new(SampleRate::Hz8000, mid).expect("up");
    let mut down = Resampler::new(mid, SampleRate::Hz8000).expect("down");
    let mut out = Vec::with_capacity(input.len());
    for frame in to_frames(input) {
        let back = down
            .process(&up.process(&frame).expect("up"))
            .expect("down");
        out.extend(back.samples().iter().map(|&s| f64::from(s) / 32767.0));
    }
    (out, up.delay_ms(), down.delay_ms())
}

fn tone(hz: f64) -> Vec<f64> {
    (0..8000)
        .map(|i| 0.5 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin())
        .collect()
}

fn assert_band_survives(mid: SampleRate) {
    for hz in (300..=3400).step_by(100) {
        let (out, _, _) = round_trip(mid, &tone(f64::from(hz)));
        // Skip the first 200 ms: the filters start from silence.
        let fit = fit_sine(&out[1600..], 8000.0, f64::from(hz));
        let gain_db = 20.0 * (fit.amplitude / 0.5).log10();
        assert!(
            fit.snr_db >= 40.0,
            "8→{mid}→8 at {hz} Hz: SNR {:.1} dB",
            fit.snr_db
        );
        assert!(
            gain_db.abs() <= 1.0,
            "8→{mid}→8 at {hz} Hz: gain {gain_db:.2} dB"
        );
    }
}

#[test]
fn telephone_band_tones_keep_40_db_snr_through_8_24_8() {
    assert_band_survives(SampleRate::Hz24000);
}

#[test]
fn telephone_band_tones_keep_40_db_snr_through_8_48_8() {
    assert_band_survives(SampleRate::Hz48000);
}

#[test]
fn telephone_band_tones_keep_40_db_snr_through_8_16_8() {
    assert_band_survives(SampleRate::Hz16000);
}

#[test]
fn every_stage_reports_at_most_3_ms_and_the_round_trip_delay_is_what_it_reports() {
    // Low-passed noise so the cross-correlation has one clear peak.
    let noise = lowpassed_noise(0x2545_F491, 8000);
    for mid in [
        SampleRate::Hz16000,
        SampleRate::Hz24000,
        SampleRate::Hz48000,
    ] {
        let (out, up_ms, down_ms) = round_trip(mid, &noise);
        assert!(up_ms <= 3.0, "8→{mid}: {up_ms} ms");
        assert!(down_ms <= 3.0, "{mid}→8: {down_ms} ms");
        let measured_ms = best_lag(&noise[800..7000], &out[800..], 100) as f64 / 8.0;
        let reported_ms = up_ms + down_ms;
        assert!(
            (measured_ms - reported_ms).abs() <= 0.25,
            "8→{mid}→8: measured {measured_ms} ms, reported {reported_ms} ms"
        );
    }
}
