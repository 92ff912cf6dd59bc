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

/// A loopback port free for both TCP and UDP, above the kernel's
/// ephemeral range (32768–60999 on Linux).
///
/// Picking with `bind(":0")` and dropping the socket races: until the
/// server binds it, the kernel may hand the same port to anything else
/// asking for an ephemeral one (chromedriver, a fake peer in a test
/// running beside this one), and the server then fails to start while the
/// readiness probe connects to the stranger. Ports above the range are
/// never handed out that way; tests in one binary never pick the same one
/// (a counter), and a port another process holds fails the bind check.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    const FIRST: u16 = 61_000;
    const COUNT: u64 = 4_500;
    // Tests in one binary run side by side: a counter keeps their picks
    // apart (a stride prime to COUNT visits every port), and a random
    // start per process keeps binaries from retracing each other.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish() % COUNT
    });
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + ((start + n * 997) % COUNT) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
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
    let port = free_port();
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
        // A server that exited (its port taken, a config it refused) says
        // so here rather than as a refused connection later.
        if let Ok(Some(status)) = child.try_wait() {
            panic!("warmline exited before listening on {addr}: {status}");
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The port answering is not proof it is ours: a server that lost the
    // port to another process exits at once.
    std::thread::sleep(Duration::from_millis(50));
    if let Ok(Some(status)) = child.try_wait() {
        panic!("warmline exited ({status}): something else answers on {addr}");
    }
    ServerProcess { child, addr, logs }
}
