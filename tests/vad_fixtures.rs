//! The default caller VAD on the labelled fixtures meets the bar:
//! at least 95 % of turn onsets detected within 100 ms, and no speech-started
//! on steady noise 15 dB or more below speech.

mod support {
    pub mod vad_eval;
    pub mod wav;
}

use support::vad_eval::{evaluate, load_fixtures, Candidate, Detector};
use warmline::media::vad::OnsetConfig;

fn default_report() -> support::vad_eval::Report {
    let fixtures = load_fixtures();
    assert!(fixtures.len() >= 60, "fixtures missing: {}", fixtures.len());
    evaluate(
        Candidate {
            detector: Detector::CallerVadDefault,
            onset: OnsetConfig::default(),
            gate: true,
        },
        &fixtures,
    )
}

#[test]
fn default_vad_detects_95_percent_of_onsets_within_100_ms() {
    let r = default_report();
    assert!(r.onsets >= 50, "too few labelled onsets: {}", r.onsets);
    assert!(
        r.onset_rate() >= 0.95,
        "{}/{} onsets within 100 ms; missed {:?}",
        r.onsets_within_100ms,
        r.onsets,
        r.missed
    );
}

#[test]
fn default_vad_never_starts_on_noise_15_db_below_speech() {
    let r = default_report();
    assert!(r.minutes_noise_15db > 1.0);
    assert_eq!(r.false_starts_noise_15db, 0, "fired on {:?}", r.noisy_files);
}

#[test]
fn default_vad_keeps_frame_precision_and_recall_above_0_9() {
    let r = default_report();
    assert!(
        r.precision >= 0.9 && r.recall >= 0.9,
        "P {:.3} R {:.3}",
        r.precision,
        r.recall
    );
}
