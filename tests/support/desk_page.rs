//! Driving `/dashboard` from a test: tests/oracles/dashboard.py (headless
//! Chromium through chromedriver) reports each step as a JSON line; these
//! read them, and read the server's side through the admin API.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The page's reports, one JSON line each, read on a thread.
pub struct Page {
    pub lines: mpsc::Receiver<String>,
    stdin: ChildStdin,
}

impl Page {
    /// The next report, waiting up to `secs`.
    pub async fn next(&mut self, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match self.lines.try_recv() {
                Ok(line) => return serde_json::from_str(&line).expect("a JSON report"),
                Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
                Err(mpsc::TryRecvError::Empty) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page reported nothing"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A report if one is waiting.
    pub fn try_next(&mut self) -> Option<Value> {
        match self.lines.try_recv() {
            Ok(line) => Some(serde_json::from_str(&line).expect("a JSON report")),
            Err(mpsc::TryRecvError::Disconnected) => panic!("the page script stopped"),
            Err(mpsc::TryRecvError::Empty) => None,
        }
    }

    /// Lets the script take its next step.
    pub fn go(&mut self) {
        writeln!(self.stdin, "go").expect("the page script reads");
    }
}

/// Starts tests/oracles/dashboard.py on the server at `addr`, with
/// `extra` arguments (the coach mode).
pub fn open_page(
    addr: &str,
    admin: &str,
    dir: &Path,
    extra: &[&str],
) -> (Page, std::process::Child) {
    open_script("dashboard.py", addr, admin, dir, extra)
}

/// Starts `tests/oracles/<script>` on the server at `addr` with the admin
/// token `admin`, saving screenshots under `dir`, with `extra` arguments.
pub fn open(
    script: &str,
    addr: &str,
    admin: &str,
    dir: &Path,
    extra: &[&str],
) -> (Page, std::process::Child) {
    open_script(script, addr, admin, dir, extra)
}

/// Starts tests/oracles/`script` (a desk script taking the same arguments:
/// the server's URL, the admin token, the artifact directory, `extra`).
pub fn open_script(
    script: &str,
    addr: &str,
    admin: &str,
    dir: &Path,
    extra: &[&str],
) -> (Page, std::process::Child) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(admin)
        .arg(dir)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with selenium (scripts/install-deps)");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let stdin = child.stdin.take().expect("stdin");
    (Page { lines, stdin }, child)
}

/// Mean power of the received audio over a run of `getStats()` samples.
pub fn power(samples: &Value) -> (f64, f64) {
    let samples: Vec<&Value> = samples
        .as_array()
        .map(|s| s.iter().filter(|s| s["energy"].is_f64()).collect())
        .unwrap_or_default();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return (0.0, 0.0);
    };
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap_or(0.0);
    let duration = f(last, "duration") - f(first, "duration");
    let energy = f(last, "energy") - f(first, "energy");
    (energy / duration.max(1e-3), duration)
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("1970")
        .as_secs_f64()
}

pub async fn live_call(http: &reqwest::Client, addr: &str, admin: &str, id: &str) -> Value {
    let answer = http
        .get(format!("http://{addr}/api/v1/calls/{id}"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("the API answers");
    answer.json().await.expect("JSON")
}

/// `GET /api/v1/audit` (as the admin token) once it holds `n` entries
/// (at most 5 s).
pub async fn wait_for_audit(
    http: &reqwest::Client,
    addr: &str,
    admin: &str,
    n: usize,
) -> Vec<Value> {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer: Value = http
            .get(format!("http://{addr}/api/v1/audit?limit=50"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let entries = answer["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= n || tokio::time::Instant::now() > until {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first tool call of ended call `id`, once the store has it (at most
/// 5 s).
pub async fn wait_for_record(http: &reqwest::Client, addr: &str, admin: &str, id: &str) -> Value {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let call = live_call(http, addr, admin, id).await;
        if call["state"] == "ended" || tokio::time::Instant::now() > until {
            return call["tool_calls"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seconds since 1970 of an RFC 3339 UTC time as the API writes it.
pub fn chrono_secs(at: &str) -> f64 {
    let at: jiff::Timestamp = at.parse().expect("RFC 3339");
    at.as_millisecond() as f64 / 1000.0
}

/// 10 s at 48 kHz: 400 ms of a 1100 Hz tone, 400 ms of quiet (bursts, so
/// the browser's noise suppression does not learn the tone as noise).
pub fn write_microphone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..480_000u32 {
        let on = (i / 19_200) % 2 == 0;
        let t = f64::from(i) / 48_000.0;
        let s = if on {
            10_000.0 * (2.0 * std::f64::consts::PI * 1_100.0 * t).sin()
        } else {
            0.0
        };
        w.write_sample(s as i16).expect("write");
    }
    w.finalize().expect("finalize");
}
