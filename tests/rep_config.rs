//! `[[reps]]` through the real binary: `warmline check` fails while a
//! rep's token variable is unset (and, set, the variable is not taken for
//! a `WARMLINE_*` override); `/rep` is served only with reps configured,
//! and `/rep/me` wants the rep's bearer token.

mod support {
    pub mod server;
    pub mod twilio_sim;
}

use std::path::PathBuf;
use std::process::Command;

use support::twilio_sim::http_get;

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_TEST_ANA_TOKEN";

fn config_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warmline-reps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\nskills = [\"billing\"]\n\
             token_env = \"{TOKEN_VAR}\"\n\n[handoff]\nring_timeout_secs = 15\n"
        ),
    )
    .expect("write");
    file
}

#[test]
fn check_fails_while_a_rep_token_is_unset_and_passes_once_it_is_set() {
    let file = config_file("check.toml");
    let check = |token: Option<&str>| {
        let mut command = Command::new(BIN);
        command.args(["check", "--config"]).arg(&file);
        command.env_remove(TOKEN_VAR);
        if let Some(token) = token {
            command.env(TOKEN_VAR, token);
        }
        command.output().expect("run check")
    };
    let out = check(None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ana") && stderr.contains(TOKEN_VAR),
        "{stderr}"
    );
    let ok = check(Some("s3cret-token"));
    assert!(ok.status.success(), "{ok:?}");
}

#[test]
fn rep_is_served_with_reps_and_wants_the_bearer_token() {
    let file = config_file("serve.toml");
    let file = file.to_string_lossy().into_owned();
    let server = support::server::start(
        BIN,
        &[
            ("OPENAI_API_KEY", None),
            ("WARMLINE_CONFIG", Some(file.as_str())),
            (TOKEN_VAR, Some("s3cret-token")),
        ],
        false,
    );
    let page = http_get(&server.addr, "/rep");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Softphone"));
    assert_eq!(http_get(&server.addr, "/rep/rep.js").status, 200);
    assert_eq!(http_get(&server.addr, "/rep/me").status, 401);

    let plain = support::server::start(BIN, &[("OPENAI_API_KEY", None)], false);
    assert_eq!(http_get(&plain.addr, "/rep").status, 404);
    assert_eq!(http_get(&plain.addr, "/rep/ws").status, 404);
}
