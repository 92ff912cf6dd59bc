//! Runs a VAD candidate over the labelled fixtures in `fixtures/audio/` and
//! computes the figures of decision record 0003. Shared by
//! `tests/vad_fixtures.rs` and `examples/vad_eval.rs`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use warmline::media::frame::{Frame, SampleRate};
use warmline::media::resample::Resampler;
use warmline::media::vad::{
    CallerVad, CallerVadConfig, EarshotVad, GateConfig, NoiseGate, OnsetConfig, OnsetDetector,
    VadEvent, VoiceDetector, WebRtcMode, WebRtcVad,
};

/// A detector and its state-machine timing.
#[derive(Clone, Copy, Debug)]
pub enum Detector {
    WebRtc(WebRtcMode),
    Earshot(f32),
    /// The production pipeline, `CallerVad` with its default configuration.
    CallerVadDefault,
}

#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub detector: Detector,
    pub onset: OnsetConfig,
    pub gate: bool,
}

impl Candidate {
    pub fn label(&self) -> String {
        let d = match self.detector {
            Detector::WebRtc(m) => format!("webrtc-vad {m:?}"),
            Detector::Earshot(t) => format!("earshot ≥{t}"),
            Detector::CallerVadDefault => "CallerVad::default()".to_owned(),
        };
        let gate = if self.gate { " + gate" } else { "" };
        format!(
            "{d}{gate}, min {} ms, hangover {} ms",
            self.onset.min_speech_ms, self.onset.hangover_ms
        )
    }
}

#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub category: String,
    pub noise_below_speech_db: Option<f64>,
    pub speech: Vec<(u64, u64)>,
    pub frames: Vec<Frame>,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio")
}

/// Loads every labelled fixture as 20 ms 8 kHz frames.
pub fn load_fixtures() -> Vec<Fixture> {
    let dir = fixtures_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/audio exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("index.json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|json_path| {
            let label: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&json_path).expect("label"))
                    .expect("label json");
            let wav = dir.join(label["file"].as_str().expect("file"));
            let frames = super::wav::frames_8k(&wav);
            let speech = label["speech"]
                .as_array()
                .expect("speech")
                .iter()
                .map(|s| {
                    (
                        s["start_ms"].as_u64().expect("start"),
                        s["end_ms"].as_u64().expect("end"),
                    )
                })
                .collect();
            Fixture {
                name: label["file"].as_str().expect("file").to_owned(),
                category: label["category"].as_str().expect("category").to_owned(),
                noise_below_speech_db: label["noise_below_speech_db"].as_f64(),
                speech,
                frames,
            }
        })
        .collect()
}

/// Per-frame decisions and events of one candidate over one fixture.
pub struct Run {
    pub decisions: Vec<bool>,
    /// (onset ms, detected ms) of each speech start.
    pub starts: Vec<(f64, f64)>,
    pub nanos: u128,
}

pub fn run(candidate: Candidate, fixture: &Fixture) -> Run {
    let mut onset = OnsetDetector::new(candidate.onset);
    let mut gate = NoiseGate::new(GateConfig::default());
    let use_gate = candidate.gate;
    let mut decisions = Vec::with_capacity(fixture.frames.len());
    let mut starts = Vec::new();
    let mut nanos = 0u128;
    match candidate.detector {
        Detector::WebRtc(mode) => {
            let mut vad = WebRtcVad::new(mode);
            for frame in &fixture.frames {
                let t = Instant::now();
                let speech = vad.is_speech(frame).expect("8 kHz frame");
                let admitted = gate.admit(frame);
                let speech = speech && (admitted || !use_gate);
                nanos += t.elapsed().as_nanos();
                decisions.push(speech);
                if let Some(VadEvent::SpeechStarted { at, detected_at }) = onset.push(frame, speech)
                {
                    starts.push((at.0 as f64 / 8.0, detected_at.0 as f64 / 8.0));
                }
            }
        }
        Detector::CallerVadDefault => {
            let mut vad = CallerVad::new(CallerVadConfig::default());
            for frame in &fixture.frames {
                let t = Instant::now();
                let event = vad.push(frame).expect("8 kHz frame");
                nanos += t.elapsed().as_nanos();
                decisions.push(vad.last_decision());
                if let Some(VadEvent::SpeechStarted { at, detected_at }) = event {
                    starts.push((at.0 as f64 / 8.0, detected_at.0 as f64 / 8.0));
                }
            }
        }
        Detector::Earshot(threshold) => {
            let mut vad = EarshotVad::new(threshold);
            let mut up = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000).expect("8→16");
            let delay_ms = up.delay_ms();
            for frame in &fixture.frames {
                let wide = up.process(frame).expect("resample");
                let t = Instant::now();
                let speech = vad.is_speech(&wide).expect("16 kHz frame");
                let admitted = gate.admit(frame);
                let speech = speech && (admitted || !use_gate);
                nanos += t.elapsed().as_nanos();
                decisions.push(speech);
                if let Some(VadEvent::SpeechStarted { at, detected_at }) = onset.push(&wide, speech)
                {
                    starts.push((at.0 as f64 / 16.0 - delay_ms, detected_at.0 as f64 / 16.0));
                }
            }
        }
    }
    Run {
        decisions,
        starts,
        nanos,
    }
}

/// Categories whose `speech` labels hold speech that a VAD should find.
pub const SPEECH_CATEGORIES: [&str; 4] =
    ["caller_speech", "agent_speech", "backchannel", "overlap"];
/// Categories with no speech at all, for false starts.
pub const NOISE_CATEGORIES: [&str; 3] = ["noise", "silence", "bursts"];

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub precision: f64,
    pub recall: f64,
    pub onsets: usize,
    pub onsets_within_100ms: usize,
    pub delays_ms: Vec<f64>,
    pub false_starts_noise_15db: usize,
    pub minutes_noise_15db: f64,
    pub false_starts_noise_all: usize,
    pub minutes_noise_all: f64,
    pub false_starts_bursts: usize,
    pub minutes_bursts: f64,
    pub false_starts_echo: usize,
    pub minutes_echo: f64,
    pub ns_per_frame: f64,
    /// Noise fixtures ≥ 15 dB below speech where speech-started fired.
    pub noisy_files: Vec<String>,
    pub missed: Vec<String>,
}

impl Report {
    pub fn percentile_delay(&self, p: f64) -> f64 {
        let mut d = self.delays_ms.clone();
        if d.is_empty() {
            return f64::NAN;
        }
        d.sort_by(f64::total_cmp);
        let idx = ((p / 100.0) * (d.len() - 1) as f64).round() as usize;
        d[idx]
    }

    pub fn onset_rate(&self) -> f64 {
        self.onsets_within_100ms as f64 / self.onsets.max(1) as f64
    }
}

fn frame_is_speech(index: usize, speech: &[(u64, u64)]) -> bool {
    let (s, e) = (index as u64 * 20, index as u64 * 20 + 20);
    speech.iter().any(|&(a, b)| s.max(a) + 10 <= e.min(b))
}

pub fn evaluate(candidate: Candidate, fixtures: &[Fixture]) -> Report {
    let mut r = Report::default();
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    let mut frames = 0u64;
    for f in fixtures {
        let run = run(candidate, f);
        r.ns_per_frame += run.nanos as f64;
        frames += run.decisions.len() as u64;
        let minutes = f.frames.len() as f64 * 0.02 / 60.0;
        let framewise = SPEECH_CATEGORIES.contains(&f.category.as_str()) && f.category != "overlap"
            || NOISE_CATEGORIES.contains(&f.category.as_str());
        if framewise {
            for (i, &d) in run.decisions.iter().enumerate() {
                match (d, frame_is_speech(i, &f.speech)) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    (false, false) => {}
                }
            }
        }
        if SPEECH_CATEGORIES.contains(&f.category.as_str()) && f.category != "overlap" {
            let mut previous_end: Option<u64> = None;
            for &(onset, end) in &f.speech {
                // Only turn onsets count: at least 300 ms of non-speech
                // before them (the hangover keeps a VAD speaking through
                // shorter pauses, by design).
                let turn = previous_end.is_none_or(|p| onset >= p + 300);
                previous_end = Some(end);
                if !turn {
                    continue;
                }
                r.onsets += 1;
                let onset = onset as f64;
                let hit = run
                    .starts
                    .iter()
                    .find(|&&(at, _)| at >= onset - 100.0 && at < end as f64);
                match hit {
                    Some(&(_, detected)) => {
                        let delay = detected - onset;
                        r.delays_ms.push(delay);
                        if delay <= 100.0 {
                            r.onsets_within_100ms += 1;
                        } else {
                            r.missed
                                .push(format!("{} @{onset} ms: {delay:.0} ms late", f.name));
                        }
                    }
                    None => r.missed.push(format!("{} @{onset} ms: no start", f.name)),
                }
            }
        }
        match f.category.as_str() {
            "noise" | "silence" => {
                r.false_starts_noise_all += run.starts.len();
                r.minutes_noise_all += minutes;
                if f.noise_below_speech_db.is_none_or(|db| db >= 15.0) {
                    r.false_starts_noise_15db += run.starts.len();
                    r.minutes_noise_15db += minutes;
                    if !run.starts.is_empty() {
                        r.noisy_files.push(f.name.clone());
                    }
                }
            }
            "bursts" => {
                r.false_starts_bursts += run.starts.len();
                r.minutes_bursts += minutes;
            }
            "echo" => {
                r.false_starts_echo += run.starts.len();
                r.minutes_echo += minutes;
            }
            _ => {}
        }
    }
    r.precision = tp as f64 / (tp + fp).max(1) as f64;
    r.recall = tp as f64 / (tp + fn_).max(1) as f64;
    r.ns_per_frame /= frames.max(1) as f64;
    r
}
