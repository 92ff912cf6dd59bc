//! The SIP load harness: SIPp places N concurrent calls with RTP both ways
//! (`tests/sipp/call_rtp.xml`, caller audio looping) against a `warmline`
//! process whose model is a loopback fake Realtime server, holds them, and
//! hangs up. Measures the server's CPU and RSS per call (from /proc), the
//! call setup rate (INVITE rate SIPp sustained with every call answered),
//! and the p99 lateness of the server's outbound RTP against its 20 ms
//! schedule (its `warmline_playout_lateness_seconds` histogram, which
//! times every packet a SIP leg sends, silence included). Shared by
//! `examples/sip_load.rs` (the benchmark) and `tests/sip_load_smoke.rs`.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{
    cpu_and_rss, parse_buckets, server_launcher, watch_window, LatenessWindow, JITTER, LATENESS,
};
use super::server::ServerProcess;
use super::twilio_sim::{http_get, metric};

/// Figures of one SIP load run.
#[derive(Debug)]
pub struct SipLoadReport {
    pub calls: usize,
    pub successful: u64,
    pub failed: u64,
    pub setup_rate_cps: f64,
    pub cpu_percent_per_call: f64,
    pub rss_bytes_per_call: f64,
    pub server_p99_lateness_ms: Option<f64>,
    pub server_p99_jitter_ms: Option<f64>,
    pub server_packets: u64,
    /// The hypervisor's steal over the window, as a share of CPU time.
    pub steal: f64,
    pub rtp_lost: f64,
    pub sipp_status: i32,
    pub errors: String,
}

/// Starts `binary` with SIP on `sip` and a port range wide enough for
/// `calls`, answering with the OpenAI backend pointed at `model_url`.
pub fn start_server(binary: &str, model_url: &str, sip: &str, calls: usize) -> ServerProcess {
    let max = (30_000 + calls * 2 + 200).min(65_000).to_string();
    let max_calls = (calls + 100).to_string();
    let launcher = server_launcher();
    let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
    super::server::start_with(
        &launcher,
        binary,
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-load")),
            ("WARMLINE_SIP__ENABLED", Some("true")),
            ("WARMLINE_SIP__LISTEN", Some(sip)),
            ("WARMLINE_SIP__RTP_PORT_MIN", Some("30000")),
            ("WARMLINE_SIP__RTP_PORT_MAX", Some(&max)),
            ("WARMLINE_SIP__MAX_CALLS", Some(&max_calls)),
        ],
        false,
    )
}

/// (successful, failed) calls from the last line of a SIPp `-trace_stat`
/// file (semicolon-separated, a header line naming the columns).
fn sipp_call_counts(csv: &str) -> Option<(u64, u64)> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let column = |name: &str| -> Option<u64> {
        let i = header.iter().position(|h| h.trim() == name)?;
        last.get(i)?.trim().parse().ok()
    };
    Some((column("SuccessfulCall(C)")?, column("FailedCall(C)")?))
}

fn gauge(addr: &str, series: &str) -> f64 {
    metric(&http_get(addr, "/metrics").body, series).unwrap_or(0.0)
}

/// Runs `calls` calls placed at `rate` per second, each held `hold`.
pub fn run(
    server: &ServerProcess,
    sip: &str,
    calls: usize,
    rate: u32,
    hold: Duration,
) -> SipLoadReport {
    let pid = server.child.id();
    let (_, rss_before) = cpu_and_rss(pid);
    let dir = super::sipp::workdir();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/call_rtp.xml");
    let n = calls.to_string();
    let r = rate.to_string();
    let d = hold.as_millis().to_string();
    let local = "127.0.0.1";
    let started = Instant::now();
    let sipp = Command::new("sipp")
        .current_dir(&dir)
        .args(["-sf", scenario, sip])
        .args(["-i", local, "-mi", local, "-p", "0", "-mp", "40000"])
        .args(["-m", &n, "-l", &n, "-r", &r, "-rp", "1000", "-d", &d])
        .args([
            "-nostdin",
            "-trace_err",
            "-timeout_error",
            "-timeout",
            "600",
        ])
        .args(["-max_socket", "4096"])
        // Per-second statistics: the call counts, even if SIPp does not
        // exit (SIPp 3.6 was seen to hang after its last call, 1 run in 8).
        .args(["-trace_stat", "-stf", "stats.csv", "-fd", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp runs (scripts/install-deps installs sip-tester)");
    // Setup: until every call is up (or the hold would be over).
    let mut setup_done = None;
    while started.elapsed() < hold {
        let active = gauge(&server.addr, "warmline_calls_active{ingress=\"sip\"}");
        if active as usize >= calls {
            setup_done = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = setup_done.unwrap_or_else(|| started.elapsed());
    // Steady state: the middle of the hold.
    std::thread::sleep(Duration::from_secs(1));
    let (cpu0, _) = cpu_and_rss(pid);
    let t0 = Instant::now();
    let window = hold
        .saturating_sub(setup + Duration::from_secs(3))
        .max(Duration::from_secs(1));
    let (before, after, steal) = watch_window(&server.addr, window, Duration::from_secs(10));
    let (cpu1, rss_during) = cpu_and_rss(pid);
    let elapsed = t0.elapsed().as_secs_f64();
    // Every call ends at about setup + hold; give SIPp a minute beyond.
    let exit_deadline = Instant::now() + setup + Duration::from_secs(60);
    let mut sipp = sipp;
    let mut hung = false;
    while sipp.try_wait().ok().flatten().is_none() {
        if Instant::now() > exit_deadline {
            hung = true;
            let _ = sipp.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = sipp.wait_with_output().expect("sipp exits");
    let lateness_window = LatenessWindow::between(
        &parse_buckets(&before, LATENESS),
        &parse_buckets(&after, LATENESS),
    );
    let jitter_window = LatenessWindow::between(
        &parse_buckets(&before, JITTER),
        &parse_buckets(&after, JITTER),
    );
    let packets = lateness_window.frames();
    let p99 = lateness_window.p99_ms();
    let p99_jitter = jitter_window.p99_ms();
    eprintln!(
        "{calls} SIP calls, server RTP lateness: {}",
        lateness_window.shares()
    );
    eprintln!(
        "{calls} SIP calls, server RTP pacing jitter: {}",
        jitter_window.shares()
    );
    let mut errors = String::from_utf8_lossy(&output.stderr).into_owned();
    let (mut ok, mut failed) = (0u64, 0u64);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("_errors.log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                errors.push_str(&text.chars().take(2_000).collect::<String>());
            }
        }
    }
    // The last statistics line has the cumulative counts; SIPp's exit
    // status (0 only when every call succeeded) backs it up.
    let status = output.status.code().unwrap_or(-1);
    let counts = std::fs::read_to_string(dir.join("stats.csv"))
        .ok()
        .and_then(|csv| sipp_call_counts(&csv));
    eprintln!("SIPp statistics (successful, failed): {counts:?}, exit status {status}");
    match counts {
        Some((successful, failed_calls)) => {
            ok = successful;
            failed = failed_calls + (calls as u64).saturating_sub(successful + failed_calls);
        }
        None if status == 0 => ok = calls as u64,
        None => failed = calls as u64,
    }
    if hung {
        errors.push_str("SIPp did not exit a minute after its last call and was killed; counts are from its statistics file\n");
    }
    let metrics = http_get(&server.addr, "/metrics").body;
    let _ = std::fs::remove_dir_all(&dir);
    let built_late = metric(&metrics, "warmline_rtp_built_late_total").unwrap_or(0.0);
    let sent = metric(&metrics, "warmline_rtp_packets_sent_total").unwrap_or(0.0);
    eprintln!(
        "RTP packets built after their slot (worker a frame behind): {built_late} of {sent} sent ({:.3} %)",
        100.0 * built_late / sent.max(1.0)
    );
    SipLoadReport {
        calls,
        successful: ok,
        failed,
        setup_rate_cps: calls as f64 / setup.as_secs_f64().max(0.001),
        cpu_percent_per_call: (cpu1 - cpu0) / elapsed * 100.0 / calls as f64,
        rss_bytes_per_call: rss_during.saturating_sub(rss_before) as f64 / calls as f64,
        server_p99_lateness_ms: p99,
        server_p99_jitter_ms: p99_jitter,
        server_packets: packets,
        steal,
        rtp_lost: metric(&metrics, "warmline_rtp_packets_lost_total").unwrap_or(0.0),
        sipp_status: status,
        errors,
    }
}
