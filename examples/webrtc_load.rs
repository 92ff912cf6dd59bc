//! Load benchmark for the WebRTC leg: N `/try`-style calls at once, each a
//! str0m peer (tests/support/webrtc_peer.rs) sending Opus from a recorded
//! caller phrase at 20 ms and receiving the demo agent's Opus, against the
//! release `warmline` binary.
//!
//! Run: `cargo build --release && cargo run --release --example webrtc_load -- [N] [SECONDS]`
//! (N = 50 and 20 s by default).
//!
//! Reports the server's CPU per call (% of one core) over a window after
//! every call connected, its RSS per call over the idle server, the calls
//! that failed to connect, the packets received per second per call and
//! the hypervisor steal. The generator runs at nice 19 in this process, so
//! the server under test gets the CPU it asks for.

#[path = "../tests/support/fake_realtime.rs"]
mod fake_realtime;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/twilio_sim.rs"]
mod twilio_sim;
#[path = "../tests/support/webrtc_peer.rs"]
mod webrtc_peer;

use std::time::{Duration, Instant};

/// The caller phrase, at 48 kHz (each 8 kHz sample repeated six times:
/// the content does not matter to the cost, only that it is speech-like).
fn microphone() -> Vec<i16> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/audio/caller_01.wav");
    let reader = hound::WavReader::open(path).expect("fixture");
    reader
        .into_samples::<i16>()
        .map_while(Result::ok)
        .flat_map(|s| std::iter::repeat_n(s, 6))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let generator = load::become_background(load::Background::Nice19);
    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/warmline");
    let server = server::start(binary, &[("OPENAI_API_KEY", None)], false);
    let pid = server.child.id();
    std::thread::sleep(Duration::from_secs(1));
    let (_, idle_rss) = load::cpu_and_rss(pid);

    let mic = std::sync::Arc::new(microphone());
    let started = Instant::now();
    let peers: Vec<_> = (0..calls)
        .map(|_| {
            let addr = server.addr.clone();
            let mic = mic.clone();
            // Calls arrive over the first second, as a burst would.
            std::thread::sleep(Duration::from_millis(1000 / calls.max(1) as u64));
            std::thread::spawn(move || webrtc_peer::call(&addr, &mic, seconds))
        })
        .collect();
    // Measure from 3 s in (every call connected and greeted) to 2 s before
    // the end.
    let window = Duration::from_secs_f64((seconds - 5.0).max(1.0));
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()));
    let steal_before = load::cpu_steal();
    let (cpu0, _) = load::cpu_and_rss(pid);
    std::thread::sleep(window);
    let (cpu1, rss) = load::cpu_and_rss(pid);
    let steal = load::steal_share(steal_before, load::cpu_steal());
    let reports: Vec<_> = peers.into_iter().filter_map(|p| p.join().ok()).collect();
    let failed = calls
        - reports
            .iter()
            .filter(|r| r.connected_after.is_some())
            .count();
    let rates: Vec<f64> = reports
        .iter()
        .filter_map(|r| {
            let span = r.received.last()?.as_secs_f64();
            Some(r.received.len() as f64 / span.max(0.001))
        })
        .collect();
    let min_rate = rates.iter().copied().fold(f64::MAX, f64::min);
    let mut connects: Vec<f64> = reports
        .iter()
        .filter_map(|r| Some(r.connected_after?.as_secs_f64() * 1000.0))
        .collect();
    connects.sort_by(f64::total_cmp);
    let p50 = connects
        .get(connects.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let cpu_per_call = (cpu1 - cpu0) / window.as_secs_f64() / calls as f64 * 100.0;
    let rss_per_call = rss.saturating_sub(idle_rss) as f64 / calls as f64 / 1e6;
    println!("generator: {generator}");
    println!("| calls | failed | CPU per call (% of a core) | RSS per call (MB) | connect p50 (ms) | slowest call's packets/s | steal |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {calls} | {failed} | {cpu_per_call:.3} | {rss_per_call:.3} | {p50:.0} | {min_rate:.1} | {:.1} % |",
        steal * 100.0
    );
}
