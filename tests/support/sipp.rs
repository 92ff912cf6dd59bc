//! Runs the real SIPp (Debian's `sip-tester`) against the `warmline`
//! binary: starts the server with its SIP listener on a free port and its
//! own RTP port range, prepares SIPp's working directory (caller audio as
//! raw μ-law, SIPp's RFC 2833 capture of digit 9) and runs a scenario
//! from `tests/sipp/`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

use super::server::ServerProcess;

/// A server with SIP.
pub struct SipServer {
    pub server: ServerProcess,
    /// `127.0.0.1:port`.
    pub sip: String,
    pub rtp_range: (u16, u16),
}

/// A distinct RTP range per server in this process (200 ports).
fn rtp_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = (std::process::id() as u16 % 37 + NEXT.fetch_add(1, Ordering::Relaxed) * 37) % 140;
    let min = 20_000 + slot * 200;
    (min, min + 198)
}

/// Starts `binary` with SIP on a free port, plus `env`.
pub fn start(binary: &str, env: &[(&str, Option<&str>)]) -> SipServer {
    let sip = format!("127.0.0.1:{}", super::server::free_port());
    let (min, max) = rtp_range();
    let (min_s, max_s) = (min.to_string(), max.to_string());
    let mut all: Vec<(&str, Option<&str>)> = vec![
        ("WARMLINE_SIP__ENABLED", Some("true")),
        ("WARMLINE_SIP__LISTEN", Some(&sip)),
        ("WARMLINE_SIP__RTP_PORT_MIN", Some(&min_s)),
        ("WARMLINE_SIP__RTP_PORT_MAX", Some(&max_s)),
        ("OPENAI_API_KEY", None),
    ];
    all.extend_from_slice(env);
    let server = super::server::start(binary, &all, std::env::var("SIP_ECHO").is_ok());
    SipServer {
        server,
        sip,
        rtp_range: (min, max),
    }
}

/// SIPp's working directory for one run: `caller.ul` (a caller fixture as
/// raw μ-law; SIPp 3.6 reads no WAV header) and `dtmf_9.pcap`.
pub fn workdir() -> PathBuf {
    static N: AtomicU16 = AtomicU16::new(0);
    let dir = std::env::temp_dir().join(format!(
        "warmline-sipp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("workdir");
    let mut audio = super::wav::fixture_mulaw("caller_03.wav");
    audio.extend(std::iter::repeat_n(0xFFu8, 8_000));
    std::fs::write(dir.join("caller.ul"), audio).expect("caller audio");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("fixtures/dtmf/dtmf_2833_9.pcap"),
        dir.join("dtmf_9.pcap"),
    )
    .expect("dtmf capture");
    dir
}

/// What a SIPp run reported.
#[derive(Debug)]
pub struct SippOutcome {
    /// SIPp's exit status: 0 when every call succeeded.
    pub status: i32,
    /// Its error log and stderr, for assertion messages.
    pub errors: String,
}

impl SippOutcome {
    pub fn passed(&self) -> bool {
        self.status == 0
    }
}

/// Runs `tests/sipp/<scenario>.xml` against `target` (`ip:port`).
pub fn run(scenario: &str, target: &str, args: &[&str]) -> SippOutcome {
    run_text(&scenario_text(scenario), target, args)
}

/// The text of `tests/sipp/<scenario>.xml`, to run a variant of it.
pub fn scenario_text(scenario: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(format!("{scenario}.xml"));
    std::fs::read_to_string(&file).expect("scenario exists")
}

/// Runs the scenario `text` against `target` (`ip:port`).
pub fn run_text(text: &str, target: &str, args: &[&str]) -> SippOutcome {
    let dir = workdir();
    let file = dir.join("scenario.xml");
    std::fs::write(&file, text).expect("scenario written");
    let local_port = super::server::free_port().to_string();
    let media_port = {
        // An even port whose successor is free too.
        let p = super::server::free_port();
        (p & !1).to_string()
    };
    let output = Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(&file)
        .arg(target)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &local_port])
        .args([
            "-mp",
            &media_port,
            "-nostdin",
            "-trace_err",
            "-timeout_error",
        ])
        .args(args)
        .output()
        .expect("sipp runs (scripts/install-deps installs sip-tester)");
    let mut errors = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with("_errors.log") {
                errors.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    SippOutcome {
        status: output.status.code().unwrap_or(-1),
        errors,
    }
}
