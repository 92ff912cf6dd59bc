//! Compares warmline's delay-aligned echo suppressor (`media::echo`) with
//! the two pure-Rust ports of WebRTC's AEC3 (`aec3`, `sonora-aec3`) on the
//! echo matrix and the double-talk fixtures, and prints the figures of
//! decision record 0009 and docs/PERFORMANCE.md.
//!
//! Run: `cargo run --release --example echo_eval`
//!
//! The AEC3 ports run at 16 kHz (their lowest rate): both ends are
//! upsampled by linear interpolation and the output decimated by keeping
//! the original sample positions (an exact round trip), which costs well
//! under a microsecond per 20 ms; their CPU figure includes it.

#[path = "../tests/support/echo_sim.rs"]
mod echo_sim;
#[path = "../tests/support/wav.rs"]
mod wav;

use std::time::{Duration, Instant};

use echo_sim as sim;
use warmline::media::echo::{EchoConfig, EchoControl};

const DELAYS_MS: [usize; 5] = [20, 60, 150, 300, 500];
const LOSSES_DB: [f32; 3] = [6.0, 10.0, 20.0];

/// One echo controller under test, driven one 20 ms tick at a time.
trait Candidate {
    /// Far frame then near frame of one tick (8 kHz, 160 samples each);
    /// returns the near-speech verdict if the candidate gives one.
    fn tick(&mut self, far: &[i16], near: &mut [i16]) -> Option<bool>;
    fn delay_ms(&self) -> Option<u32>;
}

struct Warmline(EchoControl);

impl Candidate for Warmline {
    fn tick(&mut self, far: &[i16], near: &mut [i16]) -> Option<bool> {
        self.0.far_end(far);
        Some(self.0.near_end(near).near_speech)
    }
    fn delay_ms(&self) -> Option<u32> {
        self.0.delay_ms()
    }
}

/// 8 kHz int16 → 16 kHz float (int16 scale) by linear interpolation.
fn up(x: &[i16], prev: &mut f32, out: &mut [f32]) {
    for (i, &s) in x.iter().enumerate() {
        let s = f32::from(s);
        out[2 * i] = 0.5 * (*prev + s);
        out[2 * i + 1] = s;
        *prev = s;
    }
}

/// 16 kHz float (int16 scale) → 8 kHz int16 by keeping the samples that
/// `up` copied: `down(up(x)) == x` exactly, so the conversion itself
/// neither delays nor filters what the canceller leaves alone.
fn down(x: &[f32], out: &mut [i16]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = x[2 * i + 1].round().clamp(-32768.0, 32767.0) as i16;
    }
}

struct Sonora {
    bp: sonora_aec3::block_processor::BlockProcessor,
    render: sonora_aec3::block::Block,
    capture: sonora_aec3::block::Block,
    far16: [f32; 320],
    near16: [f32; 320],
    prev_far: f32,
    prev_near: f32,
}

impl Sonora {
    fn new() -> Sonora {
        let config = sonora_aec3::config::EchoCanceller3Config::default();
        Sonora {
            bp: sonora_aec3::block_processor::BlockProcessor::new(&config, 16_000, 1, 1),
            render: sonora_aec3::block::Block::new(1, 1),
            capture: sonora_aec3::block::Block::new(1, 1),
            far16: [0.0; 320],
            near16: [0.0; 320],
            prev_far: 0.0,
            prev_near: 0.0,
        }
    }
}

impl Candidate for Sonora {
    fn tick(&mut self, far: &[i16], near: &mut [i16]) -> Option<bool> {
        up(far, &mut self.prev_far, &mut self.far16);
        up(near, &mut self.prev_near, &mut self.near16);
        // Five 4 ms blocks of 64 samples at 16 kHz.
        for b in 0..5 {
            self.render
                .view_mut(0, 0)
                .copy_from_slice(&self.far16[b * 64..(b + 1) * 64]);
            self.bp.buffer_render(&self.render);
            self.capture
                .view_mut(0, 0)
                .copy_from_slice(&self.near16[b * 64..(b + 1) * 64]);
            self.bp
                .process_capture(false, false, None, &mut self.capture);
            self.near16[b * 64..(b + 1) * 64].copy_from_slice(self.capture.view(0, 0));
        }
        down(&self.near16, near);
        None
    }
    fn delay_ms(&self) -> Option<u32> {
        u32::try_from(self.bp.get_metrics().delay_ms).ok()
    }
}

struct Aec3Crate {
    pipeline: aec3::pipelines::linear::LinearPipeline,
    far16: [f32; 320],
    near16: [f32; 320],
    out16: [f32; 320],
    prev_far: f32,
    prev_near: f32,
}

impl Aec3Crate {
    fn new() -> Result<Aec3Crate, String> {
        let format = aec3::nodes::audio::AudioFormat::ten_ms(16_000, 1);
        let pipeline = aec3::pipelines::linear::builder(format, format)
            .enable_noise_suppression(false)
            .enable_high_pass_filter(false)
            .enable_gain_controller2(false)
            .enable_post_filter(false)
            .build()
            .map_err(|e| format!("{e:?}"))?;
        Ok(Aec3Crate {
            pipeline,
            far16: [0.0; 320],
            near16: [0.0; 320],
            out16: [0.0; 320],
            prev_far: 0.0,
            prev_near: 0.0,
        })
    }
}

impl Candidate for Aec3Crate {
    fn tick(&mut self, far: &[i16], near: &mut [i16]) -> Option<bool> {
        up(far, &mut self.prev_far, &mut self.far16);
        up(near, &mut self.prev_near, &mut self.near16);
        // This crate takes floats in ±1.0 and 10 ms frames.
        for x in self.far16.iter_mut().chain(self.near16.iter_mut()) {
            *x /= 32768.0;
        }
        for h in 0..2 {
            let r = h * 160..(h + 1) * 160;
            self.pipeline
                .handle_render_frame(&self.far16[r.clone()])
                .expect("render frame");
            let produced = self
                .pipeline
                .process_capture_frame(&self.near16[r.clone()], &mut self.out16[r.clone()])
                .expect("capture frame");
            if !produced {
                self.out16[r].fill(0.0);
            }
        }
        for x in self.out16.iter_mut() {
            *x *= 32768.0;
        }
        down(&self.out16, near);
        None
    }
    fn delay_ms(&self) -> Option<u32> {
        None
    }
}

struct Totals {
    busy: Duration,
    frames: u64,
}

fn run(c: &mut dyn Candidate, far: &[i16], near: &[i16], t: &mut Totals) -> sim::Run {
    sim::run(far, near, |f, n| {
        let start = Instant::now();
        let ns = c.tick(f, n);
        t.busy += start.elapsed();
        t.frames += 1;
        (ns.unwrap_or(false), c.delay_ms())
    })
}

fn cpu_steal() -> (u64, u64) {
    // As tests/support/load.rs: steal and total ticks from /proc/stat.
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    (
        fields.get(7).copied().unwrap_or(0),
        fields.iter().take(8).sum(),
    )
}

/// The candidate's output latency in samples: the lag at which its output
/// best matches a caller talking with no far end at all.
fn latency(make: &dyn Fn() -> Box<dyn Candidate>) -> usize {
    let caller = sim::samples("caller_01.wav");
    let silence = vec![0i16; caller.len()];
    let mut t = Totals {
        busy: Duration::ZERO,
        frames: 0,
    };
    let mut c = make();
    let r = run(c.as_mut(), &silence, &caller, &mut t);
    let a: Vec<f64> = caller.iter().map(|&s| f64::from(s)).collect();
    let b: Vec<f64> = r.out.iter().map(|&s| f64::from(s)).collect();
    warmline::media::analysis::best_lag(&a, &b, 400)
}

/// `run.out` moved `lag` samples earlier, so that it lines up with its input.
fn align(mut r: sim::Run, lag: usize) -> sim::Run {
    if lag > 0 {
        r.out.drain(..lag);
        r.out.extend(std::iter::repeat_n(0, lag));
    }
    r
}

fn evaluate(name: &str, make: &dyn Fn() -> Box<dyn Candidate>) {
    let lag = latency(make);
    let mut t = Totals {
        busy: Duration::ZERO,
        frames: 0,
    };
    // The echo matrix: 5 s of agent speech, no caller.
    let far = sim::agent_speech(300, 5000);
    let mut erles = Vec::new();
    let mut false_frames = 0;
    let mut delay_cells = String::new();
    println!(
        "\n## {name}\n\nOutput latency: {lag} samples ({:.1} ms); outputs are aligned by it before \
         measuring.\n\nERLE (dB) by delay × loss, no caller:\n",
        lag as f64 / 8.0
    );
    println!("| delay | 6 dB | 10 dB | 20 dB |\n|---|---|---|---|");
    for d in DELAYS_MS {
        let mut row = format!("| {d} ms |");
        for loss in LOSSES_DB {
            let near = sim::echo_of(&far, d, loss);
            let mut c = make();
            let r = align(run(c.as_mut(), &far, &near, &mut t), lag);
            let erle = sim::erle_db(&near, &r.out, 0);
            // Converged part only (after 2 s), for the adaptive filters.
            let erle_late = sim::erle_db(&near, &r.out, 100);
            row += &format!(" {erle:.1} ({erle_late:.1}) |");
            erles.push(erle);
            false_frames += r.near_speech.iter().filter(|&&n| n).count();
            if let Some(Some(est)) = r.delay_ms.last() {
                delay_cells += &format!("{d}→{est} ");
            }
        }
        println!("{row}");
    }
    let erle_min = erles.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "\n(whole 5.3 s clip; in brackets from 2 s on.) ERLE min {erle_min:.1} dB, median {:.1} dB; \
         near-speech frames on echo alone: {false_frames}; final delay estimates: {delay_cells}",
        sim::percentile(&erles, 50.0)
    );

    // Double-talk: 23 normal-level callers over 10 dB echo 150 ms late.
    let at = 2500 * 8;
    let (mut loss, mut supp, mut detect) = (Vec::new(), Vec::new(), Vec::new());
    for (file, onset_ms) in sim::normal_level_callers() {
        let caller = sim::samples(&file);
        let far = sim::agent_speech(300, (at + caller.len()) / 8);
        let echo = sim::echo_of(&far, 150, 10.0);
        let track = sim::placed(&caller, at, echo.len());
        let near = sim::mix(&echo, &track);
        let mut c = make();
        let r = align(run(c.as_mut(), &far, &near, &mut t), lag);
        let o = sim::onset_figures(&track, &echo, &r, at + onset_ms * 8);
        loss.push(o.loss_db);
        supp.push(f64::from(o.suppressed_ms));
        if let Some(a) = o
            .audible_detect_ms
            .filter(|_| r.near_speech.iter().any(|&n| n))
        {
            detect.push(f64::from(a));
        }
    }
    println!(
        "\nDouble-talk (23 callers, 10 dB echo at 150 ms): energy lost in the first 200 ms \
         p50 {:.2} dB, p95 {:.2} dB, max {:.2} dB; caller audio cut by > 6 dB p50 {} ms, p95 {} ms",
        sim::percentile(&loss, 50.0),
        sim::percentile(&loss, 95.0),
        sim::percentile(&loss, 100.0),
        sim::percentile(&supp, 50.0),
        sim::percentile(&supp, 95.0),
    );
    if !detect.is_empty() {
        println!(
            "near_speech after the caller is as loud as the echo: p50 {} ms, p95 {} ms, max {} ms",
            sim::percentile(&detect, 50.0),
            sim::percentile(&detect, 95.0),
            sim::percentile(&detect, 100.0)
        );
    }
    println!(
        "\nCPU: {:.2} µs per 20 ms tick (mean over {} ticks, wall clock of the tick call)",
        t.busy.as_secs_f64() * 1e6 / t.frames.max(1) as f64,
        t.frames
    );
}

fn main() {
    let steal_before = cpu_steal();
    println!("# echo_eval");
    evaluate("warmline media::echo (delay-aligned suppressor)", &|| {
        Box::new(Warmline(EchoControl::new(EchoConfig::default())))
    });
    evaluate("sonora-aec3 0.2 BlockProcessor (AEC3, 16 kHz)", &|| {
        Box::new(Sonora::new())
    });
    match Aec3Crate::new() {
        Ok(_) => evaluate("aec3 0.4 linear pipeline, AEC3 only (16 kHz)", &|| {
            Box::new(Aec3Crate::new().expect("built once already"))
        }),
        Err(e) => println!("\n## aec3 0.4\n\ncould not build the pipeline: {e}"),
    }
    let steal_after = cpu_steal();
    let total = steal_after.1.saturating_sub(steal_before.1).max(1) as f64;
    println!(
        "\nsteal during the run: {:.1} %",
        100.0 * steal_after.0.saturating_sub(steal_before.0) as f64 / total
    );
}
