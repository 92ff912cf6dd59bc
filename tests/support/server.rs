//! Starts the real `warmline` binary for a test on a free loopback port,
//! with Twilio signing on, and stops it when dropped.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many of the server's latest log lines a test can read back.
const KEPT_LOG_LINES: usize = 20_000;

/// The auth token every test server and simulated Twilio share.
pub const AUTH: &str = "test-auth-token";

/// A running server process; killed on drop.
pub struct ServerProcess {
    pub child: Child,
    pub addr: String,
    logs: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// The server's latest log lines (stdout), oldest first.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` with `env` added (a `None` value removes the variable),
/// echoes its log lines to the test output when `echo` is set, and waits
/// until it accepts connections.
pub fn start(binary: &str, env: &[(&str, Option<&str>)], echo: bool) -> ServerProcess {
    start_with(&[], binary, env, echo)
}

/// [`start`], with the binary run through `launcher` (e.g. `nice -n -19`).
pub fn start_with(
    launcher: &[&str],
    binary: &str,
    env: &[(&str, Option<&str>)],
    echo: bool,
) -> ServerProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .env("WARMLINE_SERVER__HTTP_LISTEN", &addr)
        .env("WARMLINE_TWILIO__PUBLIC_BASE_URL", format!("http://{addr}"))
        .env("TWILIO_AUTH_TOKEN", AUTH)
        .env_remove("WARMLINE_CONFIG")
        .env("RUST_LOG", if echo { "info" } else { "warn" })
        // Tests run servers side by side: SIP (port 5060 by default) only
        // where a test asks for it.
        .env("WARMLINE_SIP__ENABLED", "false")
        // Each server keeps its call records in a directory of its own
        // (SQLite), unless the test says otherwise.
        .env(
            "WARMLINE_STORE__DATA_DIR",
            std::env::temp_dir().join(format!("warmline-test-data-{}-{port}", std::process::id())),
        )
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let mut child = command.spawn().expect("spawn warmline");
    let stdout = child.stdout.take().expect("stdout");
    let logs = Arc::new(Mutex::new(VecDeque::new()));
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if echo {
                println!("server: {line}");
            }
            if let Ok(mut kept) = kept.lock() {
                if kept.len() == KEPT_LOG_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    ServerProcess { child, addr, logs }
}
