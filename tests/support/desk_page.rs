//! Drives the supervisor's desk (`/dashboard`) through a Python script in
//! tests/oracles/ that runs headless Chromium with selenium: the script
//! prints one JSON report per step on stdout and waits for a line `go` on
//! stdin where the Rust test checks the server's side before the next
//! step.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

    /// Lets the script take its next step.
    pub fn go(&mut self) {
        writeln!(self.stdin, "go").expect("the page script reads");
    }
}

/// Starts tests/oracles/`script` on the server at `addr` with the admin
/// `token`, saving its screenshots in `dir`, with `extra` arguments.
pub fn open_page(
    script: &str,
    addr: &str,
    token: &str,
    dir: &Path,
    extra: &[&str],
) -> (Page, std::process::Child) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(token)
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

/// Seconds since 1970 of an RFC 3339 UTC time as the API writes it.
pub fn chrono_secs(at: &str) -> f64 {
    let at: jiff::Timestamp = at.parse().expect("RFC 3339");
    at.as_millisecond() as f64 / 1000.0
}
