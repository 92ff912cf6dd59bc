//! Warm transfer with a SIPp caller over RTP (issue 14, decision 0029):
//! the real `warmline` binary with SIP, SIPp streaming a caller's speech
//! (tests/sipp/wait_for_bye.xml), a scripted Realtime model that escalates
//! on its first response, and a rep's softphone peer
//! (tests/support/rep_phone.rs). The rep rings, accepts, is bridged and
//! hears the caller's speech; the rep hangs up and warmline sends the
//! BYE the scenario waits for.

mod support {
    pub mod fake_tool_model;
    pub mod rep_phone;
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::time::{Duration, Instant};

use serde_json::json;
use support::rep_phone::{rms, Finish, RepPhone};

const BIN: &str = env!("CARGO_BIN_EXE_warmline");
const TOKEN_VAR: &str = "WARMLINE_REP_WT_SIP_TOKEN";
const TOKEN: &str = "rep-token-sip-3e8a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_caller_is_handed_to_a_rep_and_gets_a_bye_when_the_rep_hangs_up() {
    let (url, seen) = support::fake_tool_model::start_once_with_audio(
        "escalate_to_human",
        json!({"reason": "wants a person"}),
        Vec::new(),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("warmline-wt-sip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let config = dir.join("reps.toml");
    std::fs::write(
        &config,
        format!(
            "[[reps]]\nid = \"ana\"\nname = \"Ana Ruiz\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [handoff]\nwrap_up_secs = 0\n"
        ),
    )
    .expect("config");
    let server = support::sipp::start(
        BIN,
        &[
            ("WARMLINE_CONFIG", config.to_str()),
            (TOKEN_VAR, Some(TOKEN)),
            ("WARMLINE_MODEL__OPENAI_URL", Some(&url)),
            ("WARMLINE_MODEL__BACKEND", Some("openai")),
            ("OPENAI_API_KEY", Some("sk-test-fake")),
        ],
    );
    let addr = server.server.addr.clone();
    let mut rep = tokio::task::spawn_blocking(move || RepPhone::login(&addr, TOKEN))
        .await
        .expect("login");
    let sip = server.sip.clone();
    let caller = tokio::task::spawn_blocking(move || {
        let outcome = support::sipp::run("wait_for_bye", &sip, &["-m", "1", "-timeout", "40"]);
        (outcome, Instant::now())
    });
    let talk = tokio::task::spawn_blocking(move || {
        let ring = rep.wait_for("ring", Duration::from_secs(15));
        assert_eq!(ring["card"]["reason"], "wants a person", "{ring}");
        let call_id = ring["card"]["call_id"]
            .as_str()
            .expect("call id")
            .to_owned();
        rep.accept_and_talk(
            &call_id,
            &[0i16; 960],
            Finish::HangUp(Duration::from_secs(3)),
            Duration::from_secs(25),
        )
    })
    .await
    .expect("the rep ran");
    let (outcome, bye_at) = caller.await.expect("sipp ran");
    let logs = server.server.logs();
    let tail = logs[logs.len().saturating_sub(40)..].join("\n");
    assert!(outcome.passed(), "{}\n{tail}", outcome.errors);

    let bridged = talk
        .bridged_at
        .unwrap_or_else(|| panic!("never bridged\n{tail}"));
    let hung_up = talk.finished_at.expect("the rep hung up");
    assert_eq!(talk.ended.as_deref(), Some("rep_hung_up"));
    // The BYE came from the rep's hang-up, not from anything earlier.
    assert!(bye_at >= hung_up, "SIPp finished before the rep hung up");
    // The rep heard the caller's speech (SIPp loops caller_03 and 1 s of
    // silence) once bridged.
    let loud = talk
        .heard
        .iter()
        .filter(|(at, f)| *at >= bridged && *at < hung_up && rms(f) > 300.0)
        .count();
    assert!(
        loud >= 25,
        "{loud} loud frames of the caller at the rep\n{tail}"
    );
    let output = seen.lock().expect("lock").outputs[0].1.clone();
    assert!(output.contains("connected"), "{output}");
    println!(
        "the rep's audio connected in {:?}; {loud} loud frames of the SIPp caller heard by \
         the rep; SIPp done (BYE answered) {:?} after the hang-up",
        talk.connected_after,
        bye_at - hung_up
    );
}
