//! The real binary: starts with the embedded defaults, logs where it listens,
//! answers /healthz, exits cleanly on SIGTERM; `check` rejects unknown keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_warmline");

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn serve_logs_its_address_answers_healthz_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(BIN)
        .env("WARMLINE_SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("WARMLINE_SIP__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("WARMLINE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn warmline");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("warmline logs its listen address");
        if let Some(rest) = line.split("http=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    let response = http_get(&addr, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn check_accepts_the_example_and_rejects_an_unknown_key_with_name_and_line() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/warmline.example.toml");
    let ok = Command::new(BIN)
        .args(["check", "--config", example])
        .output()
        .expect("run check");
    assert!(ok.status.success(), "{ok:?}");

    let dir = std::env::temp_dir().join(format!("warmline-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nhttp_listen = \"127.0.0.1:8080\"\n\n[media]\nvad_hangover = 200\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .expect("run check");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vad_hangover") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[test]
fn check_rejects_a_tool_whose_named_variable_is_not_set_naming_tool_and_variable() {
    let dir = std::env::temp_dir().join(format!("warmline-check-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join("tools.toml");
    std::fs::write(
        &file,
        "[[tools]]\nname = \"lookup_order\"\ndescription = \"Look up an order.\"\n\
         kind = \"webhook\"\nurl = \"https://tools.example.com/orders\"\n\
         secret_env = \"WARMLINE_TEST_ORDERS_SECRET\"\n",
    )
    .expect("write");
    let check = |secret: Option<&str>| {
        let mut command = Command::new(BIN);
        command.args(["check", "--config"]).arg(&file);
        command.env_remove("WARMLINE_TEST_ORDERS_SECRET");
        if let Some(secret) = secret {
            command.env("WARMLINE_TEST_ORDERS_SECRET", secret);
        }
        command.output().expect("run check")
    };
    let out = check(None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lookup_order") && stderr.contains("WARMLINE_TEST_ORDERS_SECRET"),
        "{stderr}"
    );
    // Set, the variable is the tool's key: not an unknown override.
    let ok = check(Some("whsec_x"));
    assert!(ok.status.success(), "{ok:?}");
}

#[test]
fn version_flag_prints_the_crate_version() {
    let out = Command::new(BIN).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
