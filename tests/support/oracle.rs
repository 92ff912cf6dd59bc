//! Runs a Python oracle script from tests/oracles/ with JSON on stdin.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `tests/oracles/{script}` with `input` on stdin.
pub fn run(script: &str, input: &serde_json::Value) -> Output {
    let path = format!("{}/tests/oracles/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/install-deps installs the oracle packages)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write cases");
    child.wait_with_output().expect("oracle finishes")
}

/// Runs the script, requires success, and parses its JSON answer.
pub fn answer(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let out = run(script, input);
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}
