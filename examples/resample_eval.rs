//! Measures the resampler's quality, delay and cost for several FFT sub-chunk
//! counts, to choose the default (decision record 0002).
//!
//! Run: `cargo run --release --example resample_eval`

use std::time::Instant;

use rubato::WindowFunction;
use warmline::media::analysis::{best_lag, fit_sine, lowpassed_noise};
use warmline::media::frame::{Frame, MediaTime, SampleRate};
use warmline::media::resample::{Resampler, ResamplerConfig};

const TONES: std::ops::RangeInclusive<u32> = 3..=34; // ×100 Hz

fn frames_of(rate: SampleRate, signal: &[f64]) -> Vec<Frame> {
    let n = rate.samples_per_frame();
    signal
        .chunks_exact(n)
        .enumerate()
        .map(|(i, chunk)| {
            let s: Vec<i16> = chunk.iter().map(|&x| (x * 32767.0) as i16).collect();
            Frame::from_samples(rate, MediaTime((i * n) as u64), &s).expect("exact frame")
        })
        .collect()
}

fn round_trip(mid: SampleRate, config: ResamplerConfig, input: &[Frame]) -> (Vec<f64>, usize) {
    let mut up = Resampler::with_config(SampleRate::Hz8000, mid, config).expect("up");
    let mut down = Resampler::with_config(mid, SampleRate::Hz8000, config).expect("down");
    let mut out = Vec::new();
    for f in input {
        let back = down.process(&up.process(f).expect("up")).expect("down");
        out.extend(back.samples().iter().map(|&s| f64::from(s) / 32767.0));
    }
    // Delay in 8 kHz samples: the up stage's delay is at the mid rate.
    let ratio = mid.hz() as f64 / 8000.0;
    let delay = (up.delay_samples() as f64 / ratio).round() as usize + down.delay_samples();
    (out, delay)
}

fn main() {
    println!("| pair | config | min SNR 300–3400 Hz (dB) | gain range (dB) | reported delay (ms) | measured delay (ms) | cost up+down per frame (µs) |");
    println!("|---|---|---|---|---|---|---|");
    for mid in [
        SampleRate::Hz16000,
        SampleRate::Hz24000,
        SampleRate::Hz48000,
    ] {
        let mut configs = vec![
            ResamplerConfig::Fft { sub_chunks: 1 },
            ResamplerConfig::Fft { sub_chunks: 8 },
            ResamplerConfig::Poly { points: 4 },
            ResamplerConfig::Poly { points: 8 },
        ];
        for (taps_at_8k, cutoff_percent) in [
            (12, 100),
            (16, 100),
            (20, 100),
            (24, 100),
            (32, 95),
            (40, 95),
        ] {
            for window in [WindowFunction::Blackman, WindowFunction::BlackmanHarris] {
                configs.push(ResamplerConfig::Sinc {
                    taps_at_8k,
                    cutoff_percent,
                    window,
                });
            }
        }
        for config in configs {
            let mut min_snr = f64::MAX;
            let (mut gmin, mut gmax) = (f64::MAX, f64::MIN);
            let mut reported = 0;
            for tone in TONES {
                let hz = f64::from(tone * 100);
                let x: Vec<f64> = (0..8000)
                    .map(|i| 0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin())
                    .collect();
                let (y, delay) = round_trip(mid, config, &frames_of(SampleRate::Hz8000, &x));
                reported = delay;
                let fit = fit_sine(&y[1600..], 8000.0, hz);
                min_snr = min_snr.min(fit.snr_db);
                let g = 20.0 * (fit.amplitude / 0.5).log10();
                gmin = gmin.min(g);
                gmax = gmax.max(g);
            }
            // Measured delay: cross-correlate band-limited noise.
            let noise = lowpassed_noise(0x9E37_79B9, 8000);
            let (y, _) = round_trip(mid, config, &frames_of(SampleRate::Hz8000, &noise));
            let lag = best_lag(&noise[800..7000], &y[800..], 200);
            // Cost: median of 9 runs of 500 frames up+down.
            let frames = frames_of(SampleRate::Hz8000, &noise);
            let mut up = Resampler::with_config(SampleRate::Hz8000, mid, config).expect("up");
            let mut down = Resampler::with_config(mid, SampleRate::Hz8000, config).expect("down");
            let mut runs: Vec<f64> = (0..9)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..10 {
                        for f in &frames {
                            let y = down.process(&up.process(f).expect("up")).expect("down");
                            std::hint::black_box(y);
                        }
                    }
                    t.elapsed().as_secs_f64() * 1e6 / (10 * frames.len()) as f64
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            println!(
                "| 8→{}→8 | {config:?} | {min_snr:.1} | {gmin:+.2} … {gmax:+.2} | {:.3} | {:.3} | {:.2} |",
                mid.hz() / 1000,
                reported as f64 / 8.0,
                lag as f64 / 8.0,
                runs[4]
            );
        }
    }
}
