//! Measures both VADs, over a grid of settings, on the labelled fixtures,
//! and prints the table of decision record 0003 / docs/perf/vad.md.
//!
//! Run: `cargo run --release --example vad_eval`

#[path = "../tests/support/vad_eval.rs"]
mod vad_eval;
#[path = "../tests/support/wav.rs"]
mod wav;

use vad_eval::{evaluate, load_fixtures, Candidate, Detector};
use warmline::media::vad::{OnsetConfig, WebRtcMode};

fn main() {
    let fixtures = load_fixtures();
    let mut candidates = vec![Candidate {
        detector: Detector::CallerVadDefault,
        onset: OnsetConfig::default(),
        gate: true,
    }];
    for (min_speech_ms, hangover_ms) in [(40, 200), (60, 300)] {
        let onset = OnsetConfig {
            min_speech_ms,
            hangover_ms,
        };
        for mode in [
            WebRtcMode::Quality,
            WebRtcMode::LowBitrate,
            WebRtcMode::Aggressive,
            WebRtcMode::VeryAggressive,
        ] {
            for gate in [false, true] {
                candidates.push(Candidate {
                    detector: Detector::WebRtc(mode),
                    onset,
                    gate,
                });
            }
        }
        for threshold in [0.3, 0.5, 0.7] {
            for gate in [false, true] {
                candidates.push(Candidate {
                    detector: Detector::Earshot(threshold),
                    onset,
                    gate,
                });
            }
        }
    }
    println!("{} fixtures", fixtures.len());
    if let Ok(name) = std::env::var("VAD_PROBE") {
        for f in fixtures.iter().filter(|f| f.name.contains(&name)) {
            for c in &candidates {
                let r = vad_eval::run(*c, f);
                println!("{} {}: starts {:?}", f.name, c.label(), r.starts);
            }
        }
        return;
    }
    println!("| candidate | precision | recall | onsets ≤100 ms | delay p50 / p95 (ms) | false starts/min: noise ≥15 dB below | all noise | bursts | echo | µs/frame |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for c in candidates {
        let r = evaluate(c, &fixtures);
        println!(
            "| {} | {:.3} | {:.3} | {}/{} ({:.1} %) | {:.0} / {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            c.label(),
            r.precision,
            r.recall,
            r.onsets_within_100ms,
            r.onsets,
            100.0 * r.onset_rate(),
            r.percentile_delay(50.0),
            r.percentile_delay(95.0),
            r.false_starts_noise_15db as f64 / r.minutes_noise_15db,
            r.false_starts_noise_all as f64 / r.minutes_noise_all,
            r.false_starts_bursts as f64 / r.minutes_bursts,
            r.false_starts_echo as f64 / r.minutes_echo,
            r.ns_per_frame / 1000.0,
        );
        if std::env::var_os("VAD_EVAL_VERBOSE").is_some() {
            eprintln!("  missed: {:?}\n  noisy: {:?}", r.missed, r.noisy_files);
        }
    }
}

#[allow(dead_code)]
fn probe() {}
