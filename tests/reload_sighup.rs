//! SIGHUP to the real `warmline` binary reloads the config file: a valid
//! file's agents take over (a new version hash is logged), an invalid one
//! is refused with the reason and the server goes on serving. (That calls
//! in progress keep their version and the next call gets the new one is
//! `tests/call_records.rs`, through the function the signal calls.)

mod support {
    pub mod server;
}

use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

fn config(instructions: &str) -> String {
    format!(
        "[model]\nbackend = \"demo\"\n\n[[agents]]\nid = \"support\"\ninstructions = \"{instructions}\"\ndefault = true\n"
    )
}

fn hangup(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-s", "HUP", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s HUP");
}

/// The first log line after `skip` lines that holds every one of `words`.
fn wait_line(server: &support::server::ServerProcess, skip: usize, words: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = server
            .logs()
            .into_iter()
            .skip(skip)
            .find(|l| words.iter().all(|w| l.contains(w)))
        {
            return line;
        }
        assert!(Instant::now() < deadline, "no log line with {words:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `sha256:…` hash in a log line.
fn hash_in(line: &str) -> String {
    let at = line.find("sha256:").expect("a hash");
    line[at..at + 7 + 64].to_owned()
}

#[test]
fn sighup_reloads_a_valid_file_and_refuses_an_invalid_one_while_serving() {
    let dir = std::env::temp_dir().join(format!("warmline-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("warmline.toml");
    std::fs::write(&path, config("Answer in English.")).expect("write");
    let path_text = path.display().to_string();
    let server = support::server::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(&path_text)),
            ("OPENAI_API_KEY", None),
            (
                "WARMLINE_RECORDING__DIR",
                Some(&dir.join("rec").display().to_string()),
            ),
        ],
        true,
    );
    let first = hash_in(&wait_line(
        &server,
        0,
        &["definition version", "agent", "support"],
    ));

    std::fs::write(&path, config("Answer in Spanish.")).expect("write");
    let seen = server.logs().len();
    hangup(&server.child);
    let reloaded = wait_line(&server, seen, &["configuration reloaded"]);
    let second = hash_in(&reloaded);
    assert_ne!(
        first, second,
        "the new instructions are a new version: {reloaded}"
    );

    // A route to an agent that does not exist: refused, the old one stays.
    std::fs::write(
        &path,
        config("Answer in French.") + "\n[[routes]]\nagent = \"nobody\"\nnumber = \"+1415*\"\n",
    )
    .expect("write");
    let seen = server.logs().len();
    hangup(&server.child);
    let refused = wait_line(&server, seen, &["reload refused"]);
    assert!(
        refused.contains("nobody"),
        "the reason is logged: {refused}"
    );
    // Still serving.
    let mut tcp = std::net::TcpStream::connect(&server.addr).expect("still listening");
    use std::io::{Read, Write};
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
