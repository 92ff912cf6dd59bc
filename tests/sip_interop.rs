//! SIPp, a real SIP peer, against the real `warmline` binary and its
//! offline demo agent: a call with RTP both ways, DTMF that ends the call
//! from our side, CANCEL before the answer, hold and resume, an OPTIONS
//! ping, and a digest challenge. Scenarios live in `tests/sipp/`.

mod support {
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use support::sipp;
use support::twilio_sim::{http_get, metric};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

/// `/metrics` once `series` shows up (or after two seconds).
fn metrics_once(addr: &str, series: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let body = http_get(addr, "/metrics").body;
        if metric(&body, series).is_some() || std::time::Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_call_with_rtp_both_ways_gets_the_demo_agent_and_ends_with_the_callers_bye() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run(
        "call_rtp",
        &server.sip,
        &["-m", "1", "-d", "5000", "-timeout", "30"],
    );
    assert!(outcome.passed(), "{outcome:?}");
    // The call's media figures are recorded as its task winds down.
    let metrics = metrics_once(&server.server.addr, "warmline_rtp_packets_received_total");
    let m = |s: &str| metric(&metrics, s).unwrap_or(-1.0);
    assert_eq!(
        m("warmline_calls_started_total{ingress=\"sip\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(m("warmline_first_audio_seconds_count"), 1.0);
    // The agent's frames left on the pacer's clock. The caller talks over
    // the greeting (the fixture loops), so the agent is interrupted: at
    // least half a second of agent audio, and a barge-in.
    assert!(
        m("warmline_playout_lateness_seconds_count") >= 25.0,
        "{metrics}"
    );
    assert!(m("warmline_barge_ins_total") >= 1.0, "{metrics}");
    assert!(
        m("warmline_rtp_packets_received_total") >= 200.0,
        "{metrics}"
    );
    assert!(m("warmline_rtp_packets_sent_total") >= 200.0, "{metrics}");
}

#[test]
fn rfc_4733_digit_9_makes_the_demo_agent_say_goodbye_and_warmline_sends_bye() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run("dtmf_end_call", &server.sip, &["-m", "1", "-timeout", "30"]);
    assert!(outcome.passed(), "{outcome:?}");
}

#[test]
fn cancel_before_the_answer_gets_200_then_487() {
    let server = sipp::start(BINARY, &[("WARMLINE_SIP__ANSWER_DELAY_MS", Some("5000"))]);
    let outcome = sipp::run(
        "cancel_before_answer",
        &server.sip,
        &["-m", "1", "-timeout", "20"],
    );
    assert!(outcome.passed(), "{outcome:?}");
    let metrics = http_get(&server.server.addr, "/metrics").body;
    // The pre-warmed call was torn down: nothing is left running.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let metrics = if metric(&metrics, "warmline_calls_active{ingress=\"sip\"}") == Some(0.0) {
        metrics
    } else {
        http_get(&server.server.addr, "/metrics").body
    };
    assert_eq!(
        metric(&metrics, "warmline_calls_active{ingress=\"sip\"}"),
        Some(0.0),
        "{metrics}"
    );
}

#[test]
fn a_reinvite_to_sendonly_is_answered_recvonly_and_sendrecv_resumes() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run("hold_resume", &server.sip, &["-m", "1", "-timeout", "30"]);
    assert!(outcome.passed(), "{outcome:?}");
}

#[test]
fn an_options_ping_gets_200_with_allow_and_accept() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run("options_ping", &server.sip, &["-m", "1", "-timeout", "10"]);
    assert!(outcome.passed(), "{outcome:?}");
}

#[test]
fn a_digest_trunk_challenges_with_401_and_admits_the_right_credentials() {
    let config = std::env::temp_dir().join(format!("warmline-digest-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[[sip.trunks]]\nname = \"carrier\"\nallow = [\"127.0.0.0/8\"]\n\
         digest_username = \"carrier\"\ndigest_password_env = \"TEST_TRUNK_PASSWORD\"\n\
         # SIPp 3.6 reads only the first challenge and knows only MD5.\n\
         digest_algorithms = [\"MD5\"]\n",
    )
    .expect("config");
    let path = config.to_string_lossy().into_owned();
    let server = sipp::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(&path)),
            ("TEST_TRUNK_PASSWORD", Some("s3cret-pass")),
        ],
    );
    let outcome = sipp::run("digest_auth", &server.sip, &["-m", "1", "-timeout", "20"]);
    let _ = std::fs::remove_file(&config);
    assert!(outcome.passed(), "{outcome:?}");
}

#[test]
fn the_same_call_works_over_tcp() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run(
        "call_rtp",
        &server.sip,
        &["-t", "t1", "-m", "1", "-d", "3000", "-timeout", "30"],
    );
    assert!(outcome.passed(), "{outcome:?}");
    let metrics = metrics_once(&server.server.addr, "warmline_rtp_packets_received_total");
    assert_eq!(
        metric(&metrics, "warmline_calls_started_total{ingress=\"sip\"}"),
        Some(1.0),
        "{metrics}"
    );
}
