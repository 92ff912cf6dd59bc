//! Load benchmark: N simulated Twilio calls with real-time 20 ms pacing
//! against the release `warmline` binary and a loopback fake Realtime
//! server, at N = 100, 250 and 500 (or the counts given).
//!
//! Run: `cargo build --release && cargo run --release --example load -- [N ...]`
//!
//! Reports CPU per call (% of one core), RSS per call, the p50/p99
//! lateness of outbound frames as the simulated Twilio side receives them,
//! and the server's own p99 (its `warmline_playout_lateness_seconds`
//! histogram over the window, as a bucket bound).
//!
//! The generator and the fake model share the box with the server, so
//! this process lowers itself to nice 19 before it starts any thread
//! (`SCHED_IDLE` would starve 500 WebSocket clients outright), and starts
//! the server at normal priority: on a saturated box the server under test
//! gets the CPU it asks for, and what starves is the generator (whose
//! client-side lateness then includes its own delays).

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;

use std::time::Duration;

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
    println!("generator and fake model: {generator}; server: normal priority (nice shown per run)");
    println!("| calls | failed | CPU per call (% of a core) | RSS per call (MB) | lateness at the client p50 / p99 (ms) | server p99 lateness (ms, bucket bound) | server p99 pacing jitter (ms, bucket bound) | hypervisor steal |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in counts {
        let server = load::start_server(binary, &model);
        let server_nice = load::nice_of(server.child.id());
        let report = load::run(&server, n, Duration::from_secs(20)).await;
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.1} / {:.1} | ≤ {} ({} frames; server nice {server_nice}) | ≤ {} | {:.1} % |",
            report.calls,
            report.failed,
            report.cpu_percent_per_call,
            report.rss_bytes_per_call / 1e6,
            report.p50_lateness_ms,
            report.p99_lateness_ms,
            report
                .server_p99_lateness_ms
                .map_or("?".to_owned(), |v| format!("{v}")),
            report.server_frames,
            report
                .server_p99_jitter_ms
                .map_or("?".to_owned(), |v| format!("{v}")),
            100.0 * report.steal,
        );
        if !report.errors.is_empty() {
            eprintln!("  errors: {:?}", report.errors);
        }
        drop(server);
    }
}
