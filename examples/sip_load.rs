//! SIP load benchmark: SIPp places N concurrent calls with RTP both ways
//! against the release `warmline` binary and a loopback fake Realtime
//! server, holds them, and hangs up.
//!
//! Run: `cargo build --release && cargo run --release --example sip_load -- [CALLS] [HOLD_SECS] [RATE]`
//! (defaults: 500 calls, 120 s, 100 calls per second).
//!
//! Reports failed calls, the setup rate, CPU per call (% of one core), RSS
//! per call, and the p99 lateness of outbound RTP against its 20 ms
//! schedule. Like `examples/load.rs`, this process (and SIPp, which it
//! starts) runs in the background (`SCHED_IDLE`) and the server at normal
//! priority, so on a saturated 2-core box the server under test gets the
//! CPU it asks for.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/sip_load.rs"]
mod sip_load;
#[path = "../tests/support/sipp.rs"]
mod sipp;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;
#[path = "../tests/support/wav.rs"]
mod wav;

use std::time::Duration;

fn main() {
    let generator = load::become_background(load::Background::Idle);
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(500) as usize;
    let hold = Duration::from_secs(args.get(1).copied().unwrap_or(120));
    let rate = args.get(2).copied().unwrap_or(100) as u32;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let model = runtime.block_on(load::fake_model());
    let sip = "127.0.0.1:25060";
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let server = sip_load::start_server(binary, &model, sip, calls);
    let report = sip_load::run(&server, sip, calls, rate, hold);
    println!("generator, fake model and SIPp: {generator}; server: normal priority");
    println!("| calls | hold (s) | offered rate (cps) | failed | setup rate (cps) | CPU per call (% of a core) | RSS per call (MB) | server p99 RTP lateness (ms, bucket bound) | server p99 RTP pacing jitter (ms, bucket bound) | RTP lost | hypervisor steal |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | ≤ {} ({} packets) | ≤ {} | {} | {:.1} % |",
        report.calls,
        hold.as_secs(),
        rate,
        report.failed,
        report.setup_rate_cps,
        report.cpu_percent_per_call,
        report.rss_bytes_per_call / 1e6,
        report
            .server_p99_lateness_ms
            .map_or("?".to_owned(), |v| format!("{v}")),
        report.server_packets,
        report
            .server_p99_jitter_ms
            .map_or("?".to_owned(), |v| format!("{v}")),
        report.rtp_lost,
        100.0 * report.steal,
    );
    if report.sipp_status != 0 {
        eprintln!("SIPp exit {}: {}", report.sipp_status, report.errors);
    }
    drop(server);
}
