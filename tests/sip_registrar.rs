//! Reps' SIP phones registering with the real `warmline` binary (decision
//! 0032), with SIPp as the phone: digest registration and unregister, a
//! wrong password refused and then rate-limited, sources outside
//! `register_allow` ignored, and a REFER from the trunk refused. Silence
//! is checked with a raw UDP socket, each time next to a request the same
//! socket gets an answer to, so "no answer" cannot pass by accident.

mod support {
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::sipp;
use support::twilio_sim::{http_get, metric};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
const DOMAIN: &str = "pbx.warmline.test";
const PASSWORD: &str = "correct-horse";
const GAUGE: &str = "warmline_sip_registered_contacts";

/// A server whose rep `ana` has a SIP password, with `extra_sip` lines in
/// `[sip]`. Keep the returned path alive for the server's life.
fn server_with(extra_sip: &str, name: &str) -> (sipp::SipServer, std::path::PathBuf) {
    let config = std::env::temp_dir().join(format!(
        "warmline-registrar-{name}-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        format!(
            "[sip]\ndomain = \"{DOMAIN}\"\n\
             # SIPp 3.6 reads only the first challenge and knows only MD5.\n\
             register_digest_algorithms = [\"MD5\"]\n{extra_sip}\n\
             [[reps]]\nid = \"ana\"\nname = \"Ana\"\ntoken_env = \"TEST_REP_ANA_TOKEN\"\n\
             sip_password_env = \"TEST_REP_ANA_SIP\"\n"
        ),
    )
    .expect("config");
    let path = config.to_string_lossy().into_owned();
    let server = sipp::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(&path)),
            ("TEST_REP_ANA_TOKEN", Some("rep-token")),
            ("TEST_REP_ANA_SIP", Some(PASSWORD)),
        ],
    );
    (server, config)
}

/// SIPp's arguments for a registration of `ana` with `password`.
fn as_ana(password: &str) -> Vec<String> {
    [
        "-s", "ana", "-au", "ana", "-ap", password, "-key", "domain", DOMAIN,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["-m", "1", "-timeout", "15"].iter().map(|s| s.to_string()))
    .collect()
}

fn run(scenario: &str, server: &sipp::SipServer, args: &[String]) -> sipp::SippOutcome {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sipp::run(scenario, &server.sip, &args)
}

/// The registered-contacts gauge once it reads `want` (or its last value
/// after two seconds).
fn gauge_becomes(server: &sipp::SipServer, want: f64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let value = metric(&http_get(&server.server.addr, "/metrics").body, GAUGE);
        if value == Some(want) || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `method` (without credentials) from a fresh UDP socket and
/// returns the first line of the answer, or `None` after two seconds.
fn raw_request(target: &str, method: &str, user: &str) -> Option<String> {
    raw_request_to(target, method, user, "")
}

/// [`raw_request`] with `to_params` after the To URI (`;tag=x`: in a
/// dialog).
fn raw_request_to(target: &str, method: &str, user: &str, to_params: &str) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let local = socket.local_addr().expect("local");
    let text = format!(
        "{method} sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-raw-{}-{method};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{DOMAIN}>;tag=raw\r\n\
         To: <sip:{user}@{DOMAIN}>{to_params}\r\n\
         Call-ID: raw-{method}-{}@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:{user}@{local}>\r\n\
         Content-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    socket.send_to(text.as_bytes(), target).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .map(str::to_owned)
}

#[test]
fn a_rep_phone_registers_with_digest_and_unregisters() {
    let (server, config) = server_with("", "register");
    assert_eq!(gauge_becomes(&server, 0.0), Some(0.0));
    let registered = run("register_digest", &server, &as_ana(PASSWORD));
    assert!(registered.passed(), "{registered:?}");
    assert_eq!(gauge_becomes(&server, 1.0), Some(1.0));
    let removed = run("register_remove", &server, &as_ana(PASSWORD));
    let _ = std::fs::remove_file(&config);
    assert!(removed.passed(), "{removed:?}");
    assert_eq!(gauge_becomes(&server, 0.0), Some(0.0));
}

#[test]
fn a_wrong_password_gets_401_then_403_and_repeated_failures_are_rate_limited() {
    let (server, config) = server_with("", "wrong");
    // Before any failure a REGISTER from here is answered (challenged).
    let first = raw_request(&server.sip, "REGISTER", "ana");
    assert_eq!(first.as_deref(), Some("SIP/2.0 401 Unauthorized"));
    // Five failures (the limit) in a row, each 401 then 403.
    let mut args = as_ana("wrong-password");
    args.extend(["-m", "5", "-l", "1"].iter().map(|s| s.to_string()));
    let failed = run("register_wrong_password", &server, &args);
    assert!(failed.passed(), "{failed:?}");
    // From now on REGISTERs from this address get no answer at all, while
    // the server still answers other requests from it.
    assert_eq!(raw_request(&server.sip, "REGISTER", "ana"), None);
    let options = raw_request(&server.sip, "OPTIONS", "ana");
    let _ = std::fs::remove_file(&config);
    assert_eq!(options.as_deref(), Some("SIP/2.0 200 OK"));
    assert_eq!(gauge_becomes(&server, 0.0), Some(0.0));
    let metrics = http_get(&server.server.addr, "/metrics").body;
    let limited = "warmline_refused_total{ingress=\"sip\",reason=\"register_rate_limited\"}";
    assert!(
        metric(&metrics, limited).is_some_and(|n| n >= 2.0),
        "{metrics}"
    );
}

#[test]
fn a_register_from_outside_register_allow_is_dropped() {
    let (server, config) = server_with("register_allow = [\"10.0.0.0/8\"]", "outside");
    // Loopback is still a trunk: OPTIONS is answered, REGISTER is not.
    let options = raw_request(&server.sip, "OPTIONS", "ana");
    let register = raw_request(&server.sip, "REGISTER", "ana");
    let _ = std::fs::remove_file(&config);
    assert_eq!(options.as_deref(), Some("SIP/2.0 200 OK"));
    assert_eq!(register, None);
}

#[test]
fn a_source_that_may_only_register_is_answered_only_for_register_and_dialogs() {
    // Loopback may register (the default) but no trunk covers it.
    let trunk = "[[sip.trunks]]\nname = \"carrier\"\nallow = [\"10.0.0.0/8\"]";
    let (server, config) = server_with(trunk, "register-only");
    let register = raw_request(&server.sip, "REGISTER", "ana");
    let options = raw_request(&server.sip, "OPTIONS", "ana");
    let bye = raw_request_to(&server.sip, "BYE", "ana", ";tag=gone");
    let _ = std::fs::remove_file(&config);
    assert_eq!(register.as_deref(), Some("SIP/2.0 401 Unauthorized"));
    assert_eq!(options, None);
    // A phone's BYE for a call that is gone: the dialog layer's 481.
    assert_eq!(
        bye.as_deref(),
        Some("SIP/2.0 481 Call/Transaction Does Not Exist")
    );
}

#[test]
fn an_inbound_refer_from_the_trunk_gets_403() {
    let server = sipp::start(BINARY, &[]);
    let outcome = sipp::run("refer_in_call", &server.sip, &["-m", "1", "-timeout", "20"]);
    assert!(outcome.passed(), "{outcome:?}");
    let metrics = http_get(&server.server.addr, "/metrics").body;
    let refused = "warmline_refused_total{ingress=\"sip\",reason=\"inbound_refer\"}";
    assert_eq!(metric(&metrics, refused), Some(1.0), "{metrics}");
}

#[test]
fn an_allowed_inbound_refer_gets_501_because_following_it_is_not_built() {
    let server = sipp::start(
        BINARY,
        &[("WARMLINE_SIP__ALLOW_INBOUND_REFER", Some("true"))],
    );
    let text = sipp::scenario_text("refer_in_call")
        .replace("<recv response=\"403\"/>", "<recv response=\"501\"/>");
    let outcome = sipp::run_text(&text, &server.sip, &["-m", "1", "-timeout", "20"]);
    assert!(outcome.passed(), "{outcome:?}");
}
