//! Echo scenarios built from the fixtures, and the figures measured on
//! them: the agent's speech as the far end, the near end as that speech
//! delayed and attenuated (plus noise and a caller if asked), ERLE and
//! double-talk onset loss. Shared by `tests/echo_control.rs` and
//! `examples/echo_eval.rs` so every echo figure is computed one way.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name)
}

/// A fixture's samples (whole 20 ms frames).
pub fn samples(name: &str) -> Vec<i16> {
    super::wav::frames_8k(&fixture_path(name))
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect()
}

/// A fixture's label.
pub fn label(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("label");
    serde_json::from_str(&text).expect("json")
}

/// The agent's voice as nearly continuous speech: the six agent fixtures
/// cut to their labelled speech (plus 40 ms either side), one after the
/// other, repeated until `ms` long, after `lead_ms` of silence.
pub fn agent_speech(lead_ms: usize, ms: usize) -> Vec<i16> {
    let mut pieces = Vec::new();
    for i in 1..=6 {
        let s = samples(&format!("agent_0{i}.wav"));
        let l = label(&format!("agent_0{i}.json"));
        let segs = l["speech"].as_array().expect("speech");
        let start = segs[0]["start_ms"].as_u64().expect("start") as usize;
        let end = segs[segs.len() - 1]["end_ms"].as_u64().expect("end") as usize;
        let a = (start.saturating_sub(40)) * 8;
        let b = ((end + 40) * 8).min(s.len());
        pieces.push(s[a..b].to_vec());
    }
    let mut out = vec![0i16; lead_ms * 8];
    let want = (lead_ms + ms) * 8;
    'outer: loop {
        for p in &pieces {
            out.extend_from_slice(p);
            if out.len() >= want {
                break 'outer;
            }
        }
    }
    out.truncate(want);
    out.truncate(out.len() / FRAME * FRAME);
    out
}

/// `far` delayed by `delay_ms` and attenuated by `loss_db`.
pub fn echo_of(far: &[i16], delay_ms: usize, loss_db: f32) -> Vec<i16> {
    let gain = 10f32.powf(-loss_db / 20.0);
    let d = delay_ms * 8;
    (0..far.len())
        .map(|n| {
            if n < d {
                0
            } else {
                (f32::from(far[n - d]) * gain).round() as i16
            }
        })
        .collect()
}

/// `far` through a dispersive echo path, as a 2-wire hybrid returns it:
/// taps at 0, 1, 2.5 and 5 ms after `delay_ms` (0.8, −0.45, 0.3, −0.15),
/// then attenuated by `loss_db`, and quantised through μ-law as the
/// caller's codec would.
pub fn hybrid_echo_of(far: &[i16], delay_ms: usize, loss_db: f32) -> Vec<i16> {
    let gain = 10f32.powf(-loss_db / 20.0);
    let taps = [(0usize, 0.8f32), (8, -0.45), (20, 0.3), (40, -0.15)];
    let d = delay_ms * 8;
    (0..far.len())
        .map(|n| {
            let mut acc = 0.0;
            for &(k, g) in &taps {
                if n >= d + k {
                    acc += g * f32::from(far[n - d - k]);
                }
            }
            let s = (acc * gain).round().clamp(-32768.0, 32767.0) as i16;
            warmline::media::g711::ulaw_decode(warmline::media::g711::ulaw_encode(s))
        })
        .collect()
}

/// Echo whose delay changes from `first_ms` to `then_ms` at sample `at`.
pub fn echo_changing(
    far: &[i16],
    first_ms: usize,
    then_ms: usize,
    at: usize,
    loss_db: f32,
) -> Vec<i16> {
    let a = echo_of(far, first_ms, loss_db);
    let b = echo_of(far, then_ms, loss_db);
    (0..far.len())
        .map(|n| if n < at { a[n] } else { b[n] })
        .collect()
}

/// Seeded white noise at `dbfs` RMS.
pub fn white_noise(dbfs: f32, n: usize, seed: u32) -> Vec<i16> {
    let rms = 32768.0 * 10f32.powf(dbfs / 20.0);
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            // Sum of 4 uniforms: close enough to Gaussian, unit variance after scaling.
            let mut acc = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                acc += s as f32 / u32::MAX as f32 - 0.5;
            }
            (acc * rms * 1.732).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// `a + b` sample by sample, saturating; the result is as long as `a`.
pub fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    a.iter()
        .enumerate()
        .map(|(i, &x)| x.saturating_add(b.get(i).copied().unwrap_or(0)))
        .collect()
}

/// `src` placed at sample `at` in a silent track of `len` samples.
pub fn placed(src: &[i16], at: usize, len: usize) -> Vec<i16> {
    let mut out = vec![0i16; len];
    for (i, &s) in src.iter().enumerate() {
        if at + i < len {
            out[at + i] = s;
        }
    }
    out
}

/// What one run produced, frame by frame.
pub struct Run {
    pub out: Vec<i16>,
    /// The processor's near-speech verdict per frame, if it gives one.
    pub near_speech: Vec<bool>,
    /// Its delay estimate after each frame, in ms, if it gives one.
    pub delay_ms: Vec<Option<u32>>,
}

/// Feeds `far` and `near` frame by frame through `process(far, near)`,
/// which works on the near frame in place and returns (near speech,
/// delay estimate).
pub fn run(
    far: &[i16],
    near: &[i16],
    mut process: impl FnMut(&[i16], &mut [i16]) -> (bool, Option<u32>),
) -> Run {
    let frames = far.len().min(near.len()) / FRAME;
    let mut out = Vec::with_capacity(frames * FRAME);
    let mut near_speech = Vec::with_capacity(frames);
    let mut delay_ms = Vec::with_capacity(frames);
    let mut buf = [0i16; FRAME];
    for k in 0..frames {
        buf.copy_from_slice(&near[k * FRAME..(k + 1) * FRAME]);
        let (ns, d) = process(&far[k * FRAME..(k + 1) * FRAME], &mut buf);
        out.extend_from_slice(&buf);
        near_speech.push(ns);
        delay_ms.push(d);
    }
    Run {
        out,
        near_speech,
        delay_ms,
    }
}

fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
}

/// RMS level of `x` in dBFS (−100 for silence).
pub fn dbfs(x: &[i16]) -> f64 {
    let e = energy(x) / x.len().max(1) as f64;
    if e <= 0.0 {
        -100.0
    } else {
        (10.0 * (e / (32768.0f64 * 32768.0)).log10()).max(-100.0)
    }
}

/// ERLE in dB, `10·log10(Σ echo² / Σ out²)` over the frames (from
/// `from_frame` on) whose echo is above −50 dBFS: how far the echo that was
/// there came down. With no caller, `out` is all residual echo.
pub fn erle_db(echo: &[i16], out: &[i16], from_frame: usize) -> f64 {
    let (mut e_in, mut e_out) = (0.0, 0.0);
    for k in from_frame..out.len() / FRAME {
        let r = k * FRAME..(k + 1) * FRAME;
        if dbfs(&echo[r.clone()]) > -50.0 {
            e_in += energy(&echo[r.clone()]);
            e_out += energy(&out[r]);
        }
    }
    10.0 * (e_in / e_out.max(1.0)).log10()
}

/// Double-talk figures of one caller onset.
#[derive(Clone, Copy, Debug)]
pub struct Onset {
    /// From the labelled onset to the end of the first frame with
    /// near speech at or after it, in ms (None: never).
    pub detect_ms: Option<u32>,
    /// From the first 10 ms block at or after the labelled onset in which
    /// the caller is at least as loud as the echo under it, to the end of
    /// the first near-speech frame at or after that block, in ms.
    pub audible_detect_ms: Option<u32>,
    /// Caller energy lost in the first 200 ms after the onset, in dB: per
    /// 10 ms block, the output projected on the clean caller.
    pub loss_db: f64,
    /// 10 ms blocks in the first 200 ms whose caller audio (above
    /// −50 dBFS) was cut by more than 6 dB, in ms.
    pub suppressed_ms: u32,
}

/// Measures a caller onset at sample `onset` given the clean caller and
/// echo tracks and the processor's output and per-frame near-speech verdicts.
pub fn onset_figures(caller: &[i16], echo: &[i16], run: &Run, onset: usize) -> Onset {
    let detect_from = |at: usize| {
        (at / FRAME..run.near_speech.len())
            .find(|&k| run.near_speech[k])
            .map(|k| (((k + 1) * FRAME).saturating_sub(at) / 8) as u32)
    };
    let detect_ms = detect_from(onset);
    let audible = (0..)
        .map(|b| onset + b * 80)
        .take_while(|&a| a + 80 <= caller.len())
        .find(|&a| energy(&caller[a..a + 80]) >= energy(&echo[a..a + 80]));
    let audible_detect_ms = audible.and_then(detect_from);
    let (mut kept, mut total) = (0.0, 0.0);
    let mut suppressed_ms = 0;
    for b in 0..20 {
        let r = onset + b * 80..onset + (b + 1) * 80;
        if r.end > run.out.len() {
            break;
        }
        // The caller audio kept in this block: the output's projection on
        // the clean caller. A suppressor's gain g keeps g²; a canceller that
        // removes only the echo keeps all of it.
        let e_c = energy(&caller[r.clone()]);
        let dot: f64 = run.out[r.clone()]
            .iter()
            .zip(&caller[r.clone()])
            .map(|(&o, &c)| f64::from(o) * f64::from(c))
            .sum();
        let g2 = if e_c > 0.0 {
            (dot.max(0.0).powi(2) / (e_c * e_c)).min(1.0)
        } else {
            1.0
        };
        kept += g2 * e_c;
        total += e_c;
        if dbfs(&caller[r]) > -50.0 && g2 < 0.25 {
            suppressed_ms += 10;
        }
    }
    Onset {
        detect_ms,
        audible_detect_ms,
        loss_db: if total > 0.0 {
            -10.0 * (kept / total).log10()
        } else {
            0.0
        },
        suppressed_ms,
    }
}

/// The caller fixtures at normal level (−26 dBFS or louder), as barge-in
/// tests count them, with their first labelled onset in ms.
pub fn normal_level_callers() -> Vec<(String, usize)> {
    (1..=24)
        .filter_map(|i| {
            let l = label(&format!("caller_{i:02}.json"));
            if l["speech_level_dbfs"].as_f64().expect("level") < -26.0 {
                return None;
            }
            let onset = l["speech"][0]["start_ms"].as_u64().expect("onset") as usize;
            Some((format!("caller_{i:02}.wav"), onset))
        })
        .collect()
}

/// The p-th percentile (0–100) of `v`, nearest rank.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}
