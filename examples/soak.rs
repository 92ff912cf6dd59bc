//! Soak (issue 19): N simulated Twilio calls at once for M minutes against
//! the release `warmline` binary and a loopback fake Realtime model, with
//! churn: each of the N slots places calls of 30 to 90 s back to back, so
//! call set-up and tear-down run all the time, not only the steady state.
//!
//! Run: `cargo build --release --bin warmline --example soak &&
//! target/release/examples/soak [N] [MINUTES]` (200 calls, 30 minutes by
//! default).
//!
//! Every 30 s it samples the server's RSS, its open file descriptors
//! (`/proc/<pid>/fd`) and its threads, and prints a row. At the end it
//! compares the RSS of the last five minutes with minutes 5 to 10 (after
//! warm-up: allocator pools, the records database's page cache and the
//! tokio workers have grown to their working size), and the descriptors
//! likewise; both must stay flat (RSS within 5 %, descriptors within the
//! calls in flight). The generator runs at nice 19 in this process.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the server is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

/// One sample of the server process.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    rss: u64,
    fds: usize,
    threads: usize,
    ended: u64,
    failed: u64,
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn main() {
    // Before the runtime exists, so every generator thread inherits it.
    let generator = load::become_background(load::Background::Nice19);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(generator));
}

async fn run(generator: &str) {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(200) as usize;
    let minutes = args.get(1).copied().unwrap_or(30);
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let model = load::fake_model().await;
    let server = load::start_server(binary, &model);
    let pid = server.child.id();
    let addr = server.addr.clone();
    println!(
        "soak: {calls} calls at once for {minutes} min, calls of 30–90 s back to back; \
         server pid {pid}, generator {generator}"
    );
    let steal_before = load::cpu_steal();
    let began = Instant::now();
    let stop_at = began + Duration::from_secs(minutes * 60);
    let ended = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut slots = Vec::with_capacity(calls);
    for slot in 0..calls {
        let (addr, ended, failed, errors) =
            (addr.clone(), ended.clone(), failed.clone(), errors.clone());
        slots.push(tokio::spawn(async move {
            // Spread the first calls over 20 s (100 set-ups a second is
            // the server's measured rate; this stays well under it).
            tokio::time::sleep(Duration::from_millis(slot as u64 * 20_000 / calls as u64)).await;
            let mut n = 0u64;
            loop {
                let length = Duration::from_secs(30 + (slot as u64 * 7 + n * 13) % 61);
                if Instant::now() + length > stop_at {
                    break;
                }
                let index = slot * 1_000_000 + n as usize;
                let result = load::one_call(addr.clone(), index, length).await;
                ended.fetch_add(1, Ordering::Relaxed);
                if !result.ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                    if let (Some(e), Ok(mut all)) = (result.error, errors.lock()) {
                        if all.len() < 20 {
                            all.push(format!("call {index}: {e}"));
                        }
                    }
                }
                n += 1;
            }
        }));
    }
    println!("| at | RSS (MB) | fds | threads | calls ended | failed |");
    println!("|---|---|---|---|---|---|");
    let mut samples = Vec::new();
    while Instant::now() < stop_at {
        tokio::time::sleep(SAMPLE_EVERY.min(stop_at.saturating_duration_since(Instant::now())))
            .await;
        let (_, rss) = load::cpu_and_rss(pid);
        let sample = Sample {
            at: began.elapsed(),
            rss,
            fds: open_fds(pid),
            threads: threads(pid),
            ended: ended.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
        };
        println!(
            "| {:.1} min | {:.1} | {} | {} | {} | {} |",
            sample.at.as_secs_f64() / 60.0,
            sample.rss as f64 / 1e6,
            sample.fds,
            sample.threads,
            sample.ended,
            sample.failed
        );
        samples.push(sample);
    }
    for slot in slots {
        let _ = slot.await;
    }
    let steal = load::steal_share(steal_before, load::cpu_steal());
    let window = |from: f64, to: f64| -> Vec<Sample> {
        samples
            .iter()
            .filter(|s| {
                let m = s.at.as_secs_f64() / 60.0;
                m >= from && m <= to
            })
            .copied()
            .collect()
    };
    let total = minutes as f64;
    let (early, late) = (window(5.0, 10.0), window(total - 5.0, total));
    let rss_early = median(early.iter().map(|s| s.rss).collect());
    let rss_late = median(late.iter().map(|s| s.rss).collect());
    let fds_early = median(early.iter().map(|s| s.fds as u64).collect());
    let fds_late = median(late.iter().map(|s| s.fds as u64).collect());
    let drift = if rss_early > 0 {
        (rss_late as f64 - rss_early as f64) / rss_early as f64 * 100.0
    } else {
        0.0
    };
    println!(
        "\nRSS median {:.1} MB (minutes 5–10) → {:.1} MB (last 5): {drift:+.2} %; \
         fds {fds_early} → {fds_late}; calls ended {}, failed {}; steal {:.1} %",
        rss_early as f64 / 1e6,
        rss_late as f64 / 1e6,
        ended.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        steal * 100.0
    );
    if let Ok(errors) = errors.lock() {
        for e in errors.iter() {
            println!("  {e}");
        }
    }
    let flat = drift.abs() <= 5.0 && fds_late <= fds_early + calls as u64 / 10;
    println!(
        "{}",
        if flat {
            "flat: RSS within 5 % and no descriptor growth"
        } else {
            "NOT flat"
        }
    );
}
