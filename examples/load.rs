//! Load benchmark: N simulated Twilio calls with real-time 20 ms pacing
//! against the release `warmline` binary and a loopback fake Realtime
//! server, at N = 100, 250 and 500 (or the counts given).
//!
//! Run: `cargo build --release && cargo run --release --example load -- [N ...]`
//! Reports CPU per call (% of one core), RSS per call and the p50/p99
//! lateness of outbound frames against their 20 ms schedule.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;

use std::time::Duration;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![100, 250, 500]
    } else {
        counts
    };
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let model = load::fake_model().await;
    println!("| calls | failed | CPU per call (% of a core) | RSS per call (MB) | outbound lateness p50 / p99 (ms) |");
    println!("|---|---|---|---|---|");
    for n in counts {
        let server = load::start_server(binary, &model);
        let report = load::run(&server, n, Duration::from_secs(20)).await;
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.1} / {:.1} |",
            report.calls,
            report.failed,
            report.cpu_percent_per_call,
            report.rss_bytes_per_call / 1e6,
            report.p50_lateness_ms,
            report.p99_lateness_ms
        );
        if !report.errors.is_empty() {
            eprintln!("  errors: {:?}", report.errors);
        }
        drop(server);
    }
}
