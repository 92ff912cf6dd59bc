//! The recorder's CPU cost per call (issue 16): N recorded calls, each
//! handing the recorder two 20 ms frames (caller and heard) per 20 ms in
//! real time for S seconds, as the call drivers do; measures the CPU time
//! of the `recorder` writer thread and of the thread playing the drivers'
//! side (the taps' `try_send`), from /proc/self/task/*/schedstat, and the
//! hypervisor's steal from /proc/stat.
//!
//! `cargo run --release --example recorder_cost -- [calls] [seconds]`
//! (defaults: 200 calls, 60 s). Files go to a temporary directory, deleted
//! afterwards.

use std::time::{Duration, Instant};

use warmline::call::recording::CallRecorder;
use warmline::call::tools::CallIdentity;
use warmline::recording::{Recorder, RecorderSettings};

/// CPU time of a thread, ns (schedstat's first field).
fn thread_cpu_ns(task: &str) -> u64 {
    std::fs::read_to_string(format!("{task}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0)
}

/// The task directory of this process's thread named `name`.
fn task_named(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .map(|e| e.path().display().to_string())
        .find(|task| {
            std::fs::read_to_string(format!("{task}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

/// (steal, total) clock ticks of the machine, from /proc/stat (as
/// tests/support/load.rs reads them).
fn cpu_steal() -> (u64, u64) {
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

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let dir = std::env::temp_dir().join(format!("warmline-recorder-cost-{}", std::process::id()));
    let recorder = Recorder::start(RecorderSettings {
        dir: dir.clone(),
        retention_days: 0,
    })
    .expect("recorder");
    let writer = (0..100)
        .find_map(|_| {
            task_named("recorder").or_else(|| {
                std::thread::sleep(Duration::from_millis(10));
                None
            })
        })
        .expect("the recorder thread");
    let steal_before = cpu_steal();
    let writer_before = thread_cpu_ns(&writer);
    // Kept here: the writer thread lives as long as the recorder.
    let shared = recorder.clone();
    let driver = std::thread::Builder::new()
        .name("drivers".into())
        .spawn(move || {
            let self_task = "/proc/thread-self".to_owned();
            let before = thread_cpu_ns(&self_task);
            let mut taps: Vec<_> = (0..calls)
                .map(|i| {
                    shared
                        .start(&CallIdentity::mint("bench", &i.to_string(), "", ""))
                        .expect("a tap")
                })
                .collect();
            // Speech-like μ-law bytes (not silence, which compresses nothing
            // anyway: the writer's cost does not depend on the content).
            let frame: Vec<u8> = (0..160u32).map(|i| (i * 37 % 256) as u8).collect();
            let start = Instant::now();
            let frames = seconds * 50;
            for n in 0..frames {
                let due = start + Duration::from_millis(20 * n);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let at = Duration::from_millis(20 * n);
                for tap in &mut taps {
                    tap.caller(at, &frame);
                    tap.heard(at, &frame);
                }
            }
            let dropped: u64 = taps.iter().map(|t| t.dropped()).sum();
            drop(taps);
            (thread_cpu_ns(&self_task) - before, dropped)
        })
        .expect("driver thread");
    let (driver_ns, dropped) = driver.join().expect("drivers");
    // Let the writer finish every file (it polls every 500 ms at most).
    std::thread::sleep(Duration::from_secs(2));
    let writer_ns = thread_cpu_ns(&writer).saturating_sub(writer_before);
    drop(recorder);
    let steal = {
        let after = cpu_steal();
        let total = after.1.saturating_sub(steal_before.1).max(1) as f64;
        after.0.saturating_sub(steal_before.0) as f64 / total
    };
    let written = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "wav"))
                .count()
        })
        .unwrap_or(0);
    let per_call = |ns: u64| ns as f64 / 1e9 / seconds as f64 / calls as f64 * 100.0;
    println!("calls: {calls}, seconds: {seconds}, recordings written: {written}, frames dropped: {dropped}");
    println!(
        "recorder thread: {:.3} s CPU = {:.4} % of a core per call",
        writer_ns as f64 / 1e9,
        per_call(writer_ns)
    );
    println!(
        "taps (driver side): {:.3} s CPU = {:.4} % of a core per call",
        driver_ns as f64 / 1e9,
        per_call(driver_ns)
    );
    println!("steal: {:.1} %", steal * 100.0);
    let _ = std::fs::remove_dir_all(&dir);
}
