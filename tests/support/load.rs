//! The load harness: N simulated Twilio calls with real-time 20 ms pacing
//! against a `warmline` process talking to a loopback fake Realtime server.
//! Measures the server's CPU and RSS per call (from /proc) and the lateness
//! of outbound frames against their 20 ms schedule. Shared by
//! `examples/load.rs` (the benchmark) and `tests/load_smoke.rs`.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::fake_realtime::{self, FakeConfig};
use super::twilio_sim::{connect_stream, http_get, signed_webhook, stream_of};

pub use super::server::ServerProcess;
use super::server::AUTH;

/// Starts `binary` against the model at `model_url`, at normal priority
/// whatever this (background) process runs at.
pub fn start_server(binary: &str, model_url: &str) -> ServerProcess {
    let launcher = server_launcher();
    let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
    super::server::start_with(
        &launcher,
        binary,
        &[
            ("WARMLINE_MODEL__OPENAI_URL", Some(model_url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-load")),
        ],
        false,
    )
}

/// How far a benchmark's own process (the generator and the fake model)
/// steps back from the server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// `SCHED_IDLE`: runs only on CPU time no normal thread wants, and is
    /// preempted at once when one wakes up. Right when the generator's
    /// work fits in what the server leaves (SIPp and the fake model at 500
    /// SIP calls). Under nice 19 instead, the kernel's EEVDF scheduler
    /// still let the generator hold a core for a few ms at a time while
    /// the server waited (measured: 16 % of a media worker's time runnable
    /// but waiting, up to 12 ms at once).
    Idle,
    /// Nice 19: for a generator that needs a real share of the box (500
    /// simulated Twilio WebSocket clients), which `SCHED_IDLE` starves
    /// outright (measured: a 2.7 s median client lateness and a third of
    /// the frames never sent).
    Nice19,
}

/// Puts this process in the background before it starts any thread (its
/// threads, and the SIPp it starts, inherit it). Returns how the
/// generator runs, for the report.
pub fn become_background(how: Background) -> &'static str {
    let pid = std::process::id().to_string();
    let quiet = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if how == Background::Idle && quiet("chrt", &["--idle", "-p", "0", &pid]) {
        "SCHED_IDLE"
    } else if quiet("renice", &["-n", "19", "-p", &pid]) {
        "nice 19"
    } else {
        "normal priority (could not lower it)"
    }
}

/// How to start the server at normal priority (`SCHED_OTHER`, nice 0)
/// from this process, whatever [`become_background`] did.
pub fn server_launcher() -> Vec<String> {
    if own_policy() == SCHED_IDLE {
        return ["chrt", "--other", "0"].map(String::from).to_vec();
    }
    match own_nice() {
        n if n > 0 => vec!["nice".into(), "-n".into(), (-n).to_string()],
        _ => Vec::new(),
    }
}

const SCHED_IDLE: u32 = 5;

/// Field `number` (1-based, as proc(5) counts) of a `/proc/.../stat`
/// file, parsed; `None` if unreadable. Counting starts after the command
/// name, which may hold spaces.
fn stat_field<T: std::str::FromStr>(path: &str, number: usize) -> Option<T> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    // `after` starts at field 3.
    after
        .split_whitespace()
        .nth(number.checked_sub(3)?)?
        .parse()
        .ok()
}

/// This thread's scheduling policy (field 41), `SCHED_OTHER` if unknown.
fn own_policy() -> u32 {
    stat_field("/proc/thread-self/stat", 41).unwrap_or(0)
}

/// This thread's nice value (field 19), 0 if unknown.
pub fn own_nice() -> i32 {
    stat_field("/proc/thread-self/stat", 19).unwrap_or(0)
}

/// The nice value of process `pid`, 0 if unknown.
pub fn nice_of(pid: u32) -> i32 {
    stat_field(&format!("/proc/{pid}/stat"), 19).unwrap_or(0)
}

/// CPU seconds (user + system) and RSS bytes of a process, from /proc.
pub fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    let clk = 100.0; // USER_HZ on Linux
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks / clk, rss_kb * 1024)
}

/// What one call saw.
#[derive(Debug, Default)]
pub struct CallResult {
    pub ok: bool,
    pub error: Option<String>,
    pub frames_received: usize,
    /// Lateness of each received frame against first + k·20 ms, in µs.
    pub lateness_us: Vec<u64>,
}

/// One simulated Twilio call for `duration`.
pub async fn one_call(addr: String, index: usize, duration: Duration) -> CallResult {
    let call_sid = format!("CA_load_{index}");
    let addr2 = addr.clone();
    let sid2 = call_sid.clone();
    let answer =
        match tokio::task::spawn_blocking(move || signed_webhook(&addr2, AUTH, &sid2)).await {
            Ok(a) if a.status == 200 => a,
            Ok(a) => {
                return CallResult {
                    error: Some(format!("webhook {}", a.status)),
                    ..Default::default()
                }
            }
            Err(e) => {
                return CallResult {
                    error: Some(e.to_string()),
                    ..Default::default()
                }
            }
        };
    let (url, token) = stream_of(&answer.body);
    let ws = match connect_stream(&url, AUTH, None).await {
        Ok(ws) => ws,
        Err(status) => {
            return CallResult {
                error: Some(format!("upgrade {status}")),
                ..Default::default()
            }
        }
    };
    let (mut tx, mut rx) = ws.split();
    let sid = format!("MZ{index}");
    let start = json!({"event":"start","sequenceNumber":"1","streamSid":sid,
        "start":{"streamSid":sid,"accountSid":"AC0","callSid":call_sid,"tracks":["inbound"],
                 "customParameters":{"call_token":token},
                 "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}});
    if tx.send(Message::text(start.to_string())).await.is_err() {
        return CallResult {
            error: Some("start".into()),
            ..Default::default()
        };
    }
    let silence = base64::engine::general_purpose::STANDARD.encode([0xFFu8; 160]);
    let mut result = CallResult::default();
    let mut first: Option<Instant> = None;
    let began = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ts = 0u64;
    let mut pending_marks: Vec<String> = Vec::new();
    while began.elapsed() < duration {
        tokio::select! {
            _ = ticker.tick() => {
                let media = json!({"event":"media","streamSid":sid,"media":{"track":"inbound","chunk":"1","timestamp":ts.to_string(),"payload":silence}});
                ts += 20;
                if tx.send(Message::text(media.to_string())).await.is_err() {
                    result.error = Some("send failed".into());
                    return result;
                }
                // Twilio echoes a mark once its audio has played: here, a tick later.
                for name in pending_marks.drain(..) {
                    let mark = json!({"event":"mark","streamSid":sid,"mark":{"name":name}});
                    let _ = tx.send(Message::text(mark.to_string())).await;
                }
            }
            frame = rx.next() => {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        // Cheap classification: the generator shares the
                        // box with the server, so it must not spend a JSON
                        // tree on each of the 50 frames a second per call.
                        let text = text.as_str();
                        let event = if text.starts_with(r#"{"event":"media""#) {
                            Some("media")
                        } else if text.starts_with(r#"{"event":"mark""#) {
                            Some("mark")
                        } else {
                            None
                        };
                        match event {
                            Some("media") => {
                                let now = Instant::now();
                                let first = *first.get_or_insert(now);
                                let due = first + Duration::from_millis(20) * result.frames_received as u32;
                                result.lateness_us.push(now.saturating_duration_since(due).as_micros() as u64);
                                result.frames_received += 1;
                            }
                            Some("mark") => {
                                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                                pending_marks.push(v["mark"]["name"].as_str().unwrap_or("").to_owned());
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => {
                        result.error = Some("server closed the stream".into());
                        return result;
                    }
                }
            }
        }
    }
    let _ = tx
        .send(Message::text(
            json!({"event":"stop","streamSid":sid}).to_string(),
        ))
        .await;
    result.ok = result.frames_received > 0;
    if !result.ok {
        result.error = Some("no audio received".into());
    }
    result
}

/// Figures of one load run.
#[derive(Debug)]
pub struct LoadReport {
    pub calls: usize,
    pub failed: usize,
    pub cpu_percent_per_call: f64,
    pub rss_bytes_per_call: f64,
    pub p50_lateness_ms: f64,
    pub p99_lateness_ms: f64,
    /// The server's own figure: p99 of `warmline_playout_lateness_seconds`
    /// over the measurement window, as the upper bound of its bucket.
    pub server_p99_lateness_ms: Option<f64>,
    /// The same for the pacing jitter (spacing of consecutive frames
    /// against 20 ms), as the upper bound of its bucket.
    pub server_p99_jitter_ms: Option<f64>,
    /// Frames the server timed in the window.
    pub server_frames: u64,
    /// The hypervisor's steal over the window, as a share of CPU time.
    pub steal: f64,
    pub errors: Vec<String>,
}

/// The fake model for load: one long answer per response (60 s of audio),
/// streamed faster than real time.
pub async fn fake_model() -> String {
    let audio: Vec<u8> = (0..60 * 8_000)
        .map(|i| warmline::media::g711::ulaw_encode(((i as f32 * 0.07).sin() * 3_000.0) as i16))
        .collect();
    let (url, _record) = fake_realtime::start(FakeConfig {
        audio,
        drop_connection_after_deltas: None,
        delta_interval: Duration::from_millis(100),
        record_events: false,
        server_vad: false,
    })
    .await;
    url
}

/// The server's lateness histogram.
pub const LATENESS: &str = "warmline_playout_lateness_seconds";
/// The server's pacing-jitter histogram.
pub const JITTER: &str = "warmline_playout_jitter_seconds";

/// The machine's CPU time stolen by the hypervisor and the total, in
/// clock ticks, from the `cpu` line of /proc/stat.
pub fn cpu_steal() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice;
    // guest time is already inside user.
    let total = fields.iter().take(8).sum();
    (fields.get(7).copied().unwrap_or(0), total)
}

/// Steal as a share of the CPU time between two [`cpu_steal`] readings.
pub fn steal_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1).max(1) as f64;
    after.0.saturating_sub(before.0) as f64 / total
}

/// Waits out a measurement window in `slice`-long parts, printing each
/// part's lateness and jitter (share within 5 ms, p99 bucket) and the
/// hypervisor's steal, so a noisy neighbour shows in the record. Returns
/// the `/metrics` bodies at the start and end and the window's steal share.
pub fn watch_window(addr: &str, window: Duration, slice: Duration) -> (String, String, f64) {
    let first = http_get(addr, "/metrics").body;
    let steal0 = cpu_steal();
    let end = std::time::Instant::now() + window;
    let mut last = first.clone();
    let mut last_steal = steal0;
    let mut part = 0;
    while std::time::Instant::now() < end {
        std::thread::sleep(slice.min(end.saturating_duration_since(std::time::Instant::now())));
        let now = http_get(addr, "/metrics").body;
        let steal = cpu_steal();
        let lateness = LatenessWindow::between(
            &parse_buckets(&last, LATENESS),
            &parse_buckets(&now, LATENESS),
        );
        let jitter =
            LatenessWindow::between(&parse_buckets(&last, JITTER), &parse_buckets(&now, JITTER));
        part += 1;
        eprintln!(
            "  part {part}: {} frames, lateness ≤5 ms {:.4} (p99 ≤ {:?} ms), jitter ≤5 ms {:.4} (p99 ≤ {:?} ms), steal {:.1} %",
            lateness.frames(),
            lateness.share_within(0.005),
            lateness.p99_ms(),
            jitter.share_within(0.005),
            jitter.p99_ms(),
            100.0 * steal_share(last_steal, steal),
        );
        last = now;
        last_steal = steal;
    }
    (first, last, steal_share(steal0, last_steal))
}

/// The cumulative buckets of histogram `metric` in a `/metrics` body:
/// (upper bound in seconds, count), `+Inf` last.
pub fn parse_buckets(body: &str, metric: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{metric}_bucket{{le=\"");
    body.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|l| {
            let (le, rest) = l.split_once('"')?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The server's lateness histogram over a measurement window.
pub struct LatenessWindow {
    /// Cumulative (upper bound in seconds, count) over the window.
    pub buckets: Vec<(f64, u64)>,
}

impl LatenessWindow {
    /// The difference of two scrapes.
    pub fn between(before: &[(f64, u64)], after: &[(f64, u64)]) -> LatenessWindow {
        let buckets = after
            .iter()
            .map(|&(le, n)| {
                let b = before.iter().find(|x| x.0 == le).map_or(0, |x| x.1);
                (le, n.saturating_sub(b))
            })
            .collect();
        LatenessWindow { buckets }
    }

    /// Frames counted.
    pub fn frames(&self) -> u64 {
        self.buckets.last().map_or(0, |b| b.1)
    }

    /// The upper bound of the bucket holding the 99th percentile, in ms.
    pub fn p99_ms(&self) -> Option<f64> {
        let frames = self.frames();
        self.buckets
            .iter()
            .find(|b| b.1 as f64 >= 0.99 * frames as f64)
            .filter(|_| frames > 0)
            .map(|b| b.0 * 1000.0)
    }

    /// The share of frames within `bound` seconds (a bucket bound).
    pub fn share_within(&self, bound: f64) -> f64 {
        let frames = self.frames().max(1) as f64;
        self.buckets
            .iter()
            .find(|(le, _)| (*le - bound).abs() < 1e-9)
            .map_or(0.0, |(_, n)| *n as f64 / frames)
    }

    /// The share of frames at or under each bound, for the record.
    pub fn shares(&self) -> String {
        let frames = self.frames().max(1) as f64;
        self.buckets
            .iter()
            .filter(|(le, _)| le.is_finite())
            .map(|(le, n)| format!("≤{}ms {:.3}", le * 1000.0, *n as f64 / frames))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs `calls` calls for `duration` (measured over the middle of it).
pub async fn run(server: &ServerProcess, calls: usize, duration: Duration) -> LoadReport {
    let pid = server.child.id();
    let (_, rss_before) = cpu_and_rss(pid);
    let mut handles = Vec::with_capacity(calls);
    for i in 0..calls {
        let addr = server.addr.clone();
        handles.push(tokio::spawn(one_call(addr, i, duration)));
        // Ramp up over about a second, as real traffic does.
        tokio::time::sleep(Duration::from_millis((1_000 / calls.max(1)) as u64)).await;
    }
    // Measure the steady state: skip a second for greetings to start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu0, _) = cpu_and_rss(pid);
    let t0 = Instant::now();
    let window = duration
        .saturating_sub(Duration::from_secs(3))
        .max(Duration::from_secs(1));
    let addr = server.addr.clone();
    let (scrape0, scrape1, steal) =
        tokio::task::spawn_blocking(move || watch_window(&addr, window, Duration::from_secs(5)))
            .await
            .unwrap_or_default();
    let (cpu1, rss_during) = cpu_and_rss(pid);
    let elapsed = t0.elapsed().as_secs_f64();
    let lateness_window = LatenessWindow::between(
        &parse_buckets(&scrape0, LATENESS),
        &parse_buckets(&scrape1, LATENESS),
    );
    let jitter_window = LatenessWindow::between(
        &parse_buckets(&scrape0, JITTER),
        &parse_buckets(&scrape1, JITTER),
    );
    let server_frames = lateness_window.frames();
    let server_p99_lateness_ms = lateness_window.p99_ms();
    let server_p99_jitter_ms = jitter_window.p99_ms();
    eprintln!(
        "{calls} calls, server lateness: {}",
        lateness_window.shares()
    );
    eprintln!(
        "{calls} calls, server pacing jitter: {}",
        jitter_window.shares()
    );
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap_or_default());
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    let mut lateness: Vec<u64> = results
        .iter()
        .flat_map(|r| r.lateness_us.iter().copied())
        .collect();
    lateness.sort_unstable();
    let pct = |p: f64| {
        lateness
            .get(((lateness.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    LoadReport {
        calls,
        failed,
        cpu_percent_per_call: (cpu1 - cpu0) / elapsed * 100.0 / calls as f64,
        rss_bytes_per_call: rss_during.saturating_sub(rss_before) as f64 / calls as f64,
        p50_lateness_ms: pct(0.50),
        p99_lateness_ms: pct(0.99),
        server_p99_lateness_ms,
        server_p99_jitter_ms,
        server_frames,
        steal,
        errors: results
            .iter()
            .filter_map(|r| r.error.clone())
            .take(5)
            .collect(),
    }
}
