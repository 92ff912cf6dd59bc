//! docs/openapi.yaml describes every `/api/v1` route (issue 16):
//!
//! - the routes in the source (`.route("/api/v1/…", get(…))`) and the
//!   operations in the file are the same set, both ways;
//! - each documented operation reaches a route of the assembled server
//!   (the admin layer answers 401 before the handler, where an unknown
//!   path would get the router's 404);
//! - schemathesis (PyPI) runs against the file and the live server with a
//!   fixed seed and a capped number of examples: no server error, no
//!   response outside the schema.

mod support {
    pub mod server;
    pub mod twilio_sim;
}

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::server::AUTH;
use support::twilio_sim::{connect_stream, signed_webhook, stream_of, SimCall};

const ADMIN: &str = "openapi-test-admin";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (method, path) of every operation in docs/openapi.yaml. The file is
/// ours, so a line-based reading is enough: paths are indented two
/// spaces under `paths:`, methods four.
fn documented() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml"))
            .expect("docs/openapi.yaml");
    let mut ops = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if METHODS.contains(&m) {
                ops.insert((m.to_owned(), path.clone().expect("a method under a path")));
            }
        }
    }
    ops
}

/// (method, path) of every `.route("/api/v1…", method(…)…)` in src/.
fn routed() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }
    let mut sources = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut sources,
    );
    let mut ops = BTreeSet::new();
    for source in &sources {
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(\"/api/v1") {
            rest = &rest[at + ".route(\"".len()..];
            let end = rest.find('"').expect("a closing quote");
            let path = rest[..end].to_owned();
            // The method router: up to the route's closing parenthesis.
            let mut depth = 1;
            let mut close = 0;
            for (i, c) in rest[end..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = end + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let methods = &rest[end..close];
            for m in METHODS {
                if methods.contains(&format!("{m}(")) {
                    ops.insert((m.to_owned(), path.clone()));
                }
            }
        }
    }
    ops
}

#[test]
fn every_api_route_is_in_openapi_yaml_and_every_operation_there_is_routed() {
    let documented = documented();
    let routed = routed();
    assert!(
        routed.len() >= 9,
        "the scan found too few routes: {routed:?}"
    );
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes not in docs/openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "operations in docs/openapi.yaml with no route: {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_documented_operation_reaches_a_route_of_the_assembled_server() {
    warmline::tls::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("warmline-openapi-{}", std::process::id()));
    let mut config = warmline::config::Config::default();
    config.store.data_dir = dir.clone();
    let secrets = warmline::config::Secrets::from_env([(
        "WARMLINE_ADMIN_TOKEN".to_owned(),
        ADMIN.to_owned(),
    )]);
    let app = warmline::app::build(&config, &secrets, warmline::http::AppState::new())
        .expect("the app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(warmline::http::serve(
        listener,
        app.router,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let id = "0192f1a0-0000-7000-8000-000000000000";
    for (method, path) in documented() {
        let url = format!("http://{addr}{}", path.replace("{id}", id));
        let request = match method.as_str() {
            "get" => http.get(&url),
            "post" => http.post(&url),
            "delete" => http.delete(&url),
            other => panic!("no test for {other}"),
        };
        let status = request.send().await.expect("answers").status().as_u16();
        assert_eq!(
            status, 401,
            "{method} {path}: not behind the admin layer, or not routed"
        );
    }
    let status = http
        .get(format!("http://{addr}/api/v1/nothing-here"))
        .send()
        .await
        .expect("answers")
        .status()
        .as_u16();
    assert_eq!(status, 404);
    if let Some(store) = app.store {
        store.close(Duration::from_secs(5));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_schema() {
    warmline::tls::install_crypto_provider();
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_ADMIN_TOKEN", Some(ADMIN)),
        ],
        false,
    );
    // One short call that the caller ends, so the history has a record.
    let answer = signed_webhook(&server.addr, AUTH, "CA_openapi");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (stream_url, call_token) = stream_of(&answer.body);
    let ws = connect_stream(&stream_url, AUTH, None)
        .await
        .expect("upgrade accepted");
    let mut call = SimCall::start(ws, "CA_openapi", &call_token).await;
    call.stream(&vec![0xFF; 8 * 2_500]).await;
    let _ = call.ws.close(None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = reqwest::Client::new()
            .get(format!("http://{}/api/v1/calls?state=ended", server.addr))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .unwrap_or_default();
        if listed.contains("CA_openapi") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not stored: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml");
    // Its cache (.schemathesis/) goes to a temp dir, not the repository.
    let output = std::process::Command::new("schemathesis")
        .current_dir(std::env::temp_dir())
        .arg("run")
        .arg(&schema)
        .args(["--url", &format!("http://{}", server.addr)])
        .args(["-H", &format!("Authorization: Bearer {ADMIN}")])
        .args(["--seed", "20261204", "--max-examples", "25"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
        ])
        // The event streams run until the call (or the process) ends.
        .args(["--exclude-path-regex", "events$"])
        .args(["--request-timeout", "5"])
        .args(["--no-color"])
        .output()
        .expect("schemathesis runs (scripts/install-deps installs it from tests/oracles/requirements.txt)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(report.contains("passed"), "{report}");
    drop(server);
}
