//! A headless Chromium page script (tests/oracles/*.py, Selenium with
//! chromedriver) driving the supervisor's desk: started with the server's
//! address, the admin token and the artifact directory; it reports one
//! JSON object per line on stdout and waits for "go" on stdin where the
//! Rust test checks the server's side before the next step.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
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
            if let Some(report) = self.try_next() {
                return report;
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

/// Starts `tests/oracles/<script>` on the server at `addr` with the admin
/// token `admin`, saving screenshots under `dir`, with `extra` arguments.
pub fn open(script: &str, addr: &str, admin: &str, dir: &Path, extra: &[&str]) -> (Page, Child) {
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
