//! What warmline's SIP endpoint answers, checked with a raw UDP client
//! against the real binary: silence for sources no trunk allows (403 when
//! configured), 503 with Retry-After above capacity, 486 at a trunk's
//! limit, 488 without a common codec, 422 below Min-SE, 481 for unknown
//! dialogs, 401 again for wrong digest credentials, 400 with a reason for a
//! malformed request, and BYE when the caller's RTP stops.

mod support {
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::sipp::{self, SipServer};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

struct Client {
    socket: UdpSocket,
    target: String,
    port: u16,
}

impl Client {
    fn new(server: &SipServer) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        Client {
            socket,
            target: server.sip.clone(),
            port,
        }
    }

    fn send(&self, message: &str) {
        self.socket
            .send_to(message.as_bytes(), &self.target)
            .expect("send");
    }

    /// Everything that arrives within `wait`.
    fn collect(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 65_535];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => break,
            }
        }
        out
    }

    /// The first final (≥ 200) response within `wait`.
    fn final_response(&self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            for m in self.collect(Duration::from_millis(200)) {
                if status(&m).is_some_and(|s| s >= 200) {
                    return Some(m);
                }
            }
        }
        None
    }
}

fn status(message: &str) -> Option<u16> {
    message
        .strip_prefix("SIP/2.0 ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn sdp(codecs: &str, rtpmaps: &str) -> String {
    format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP {codecs}\r\n{rtpmaps}a=sendrecv\r\n"
    )
}

fn invite(client: &Client, call_id: &str, extra: &str, body: &str) -> String {
    format!(
        "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=from-{call_id}\r\n\
         To: <sip:+15551230000@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        target = client.target,
        port = client.port,
        len = body.len(),
    )
}

fn pcmu() -> String {
    sdp("0", "a=rtpmap:0 PCMU/8000\r\n")
}

fn config_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("warmline-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("config");
    path.to_string_lossy().into_owned()
}

#[test]
fn requests_from_a_source_no_trunk_allows_get_no_answer_or_403_when_configured() {
    let quiet = config_file(
        "acl",
        "[[sip.trunks]]\nname = \"carrier\"\nallow = [\"10.0.0.0/8\"]\n",
    );
    let server = sipp::start(BINARY, &[("WARMLINE_CONFIG", Some(&quiet))]);
    let client = Client::new(&server);
    client.send(&invite(&client, "acl-1", "", &pcmu()));
    client.send(&format!(
        "OPTIONS sip:{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-o1\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:{t}>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        t = client.target,
        p = client.port
    ));
    let heard = client.collect(Duration::from_millis(1_500));
    assert!(heard.is_empty(), "an unknown source got answers: {heard:?}");
    drop(server);

    let loud = config_file(
        "acl-reject",
        "[sip]\nunknown_source = \"reject\"\n[[sip.trunks]]\nname = \"carrier\"\nallow = [\"10.0.0.0/8\"]\n",
    );
    let server = sipp::start(BINARY, &[("WARMLINE_CONFIG", Some(&loud))]);
    let client = Client::new(&server);
    client.send(&invite(&client, "acl-2", "", &pcmu()));
    let answer = client
        .final_response(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(status(&answer), Some(403), "{answer}");
}

#[test]
fn above_the_call_limit_an_invite_gets_503_with_retry_after() {
    let server = sipp::start(BINARY, &[("WARMLINE_SIP__MAX_CALLS", Some("0"))]);
    let client = Client::new(&server);
    client.send(&invite(&client, "cap-1", "", &pcmu()));
    let answer = client
        .final_response(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(status(&answer), Some(503), "{answer}");
    assert!(header(&answer, "Retry-After").is_some(), "{answer}");
}

#[test]
fn a_trunk_at_its_own_limit_answers_486() {
    let config = config_file(
        "busy",
        "[sip]\nanswer_delay_ms = 3000\n[[sip.trunks]]\nname = \"local\"\nallow = [\"127.0.0.0/8\"]\nmax_calls = 1\n",
    );
    let server = sipp::start(BINARY, &[("WARMLINE_CONFIG", Some(&config))]);
    let client = Client::new(&server);
    client.send(&invite(&client, "busy-1", "", &pcmu()));
    let first = client.collect(Duration::from_millis(500));
    assert!(first.iter().any(|m| status(m) == Some(180)), "{first:?}");
    client.send(&invite(&client, "busy-2", "", &pcmu()));
    let answer = client
        .final_response(Duration::from_secs(2))
        .expect("an answer");
    assert_eq!(status(&answer), Some(486), "{answer}");
    assert!(answer.contains("Call-ID: busy-2"), "{answer}");
}

#[test]
fn an_offer_without_a_common_codec_gets_488() {
    let server = sipp::start(BINARY, &[]);
    let client = Client::new(&server);
    client.send(&invite(
        &client,
        "g729",
        "",
        &sdp("18", "a=rtpmap:18 G729/8000\r\n"),
    ));
    let answer = client
        .final_response(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(status(&answer), Some(488), "{answer}");
}

#[test]
fn a_session_interval_below_min_se_gets_422_naming_ours() {
    let server = sipp::start(BINARY, &[]);
    let client = Client::new(&server);
    let extra = "Supported: timer\r\nSession-Expires: 30\r\n";
    client.send(&invite(&client, "se-1", extra, &pcmu()));
    let answer = client
        .final_response(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(status(&answer), Some(422), "{answer}");
    assert_eq!(header(&answer, "Min-SE"), Some("90"), "{answer}");
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let server = sipp::start(BINARY, &[]);
    let client = Client::new(&server);
    client.send(&format!(
        "BYE sip:warmline@{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-b1;rport\r\nFrom: <sip:x@127.0.0.1>;tag=a\r\nTo: <sip:y@{t}>;tag=nosuch\r\nCall-ID: nosuch\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        t = client.target,
        p = client.port
    ));
    let answer = client
        .final_response(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(status(&answer), Some(481), "{answer}");
}

#[test]
fn wrong_digest_credentials_are_challenged_again_and_never_admitted() {
    let config = config_file(
        "digest-wrong",
        "[[sip.trunks]]\nname = \"carrier\"\nallow = [\"127.0.0.0/8\"]\ndigest_username = \"carrier\"\ndigest_password_env = \"TEST_WRONG_PW\"\n",
    );
    let server = sipp::start(
        BINARY,
        &[
            ("WARMLINE_CONFIG", Some(&config)),
            ("TEST_WRONG_PW", Some("right-one")),
        ],
    );
    let client = Client::new(&server);
    client.send(&invite(&client, "dg-1", "", &pcmu()));
    let challenge = client.final_response(Duration::from_secs(3)).expect("401");
    assert_eq!(status(&challenge), Some(401), "{challenge}");
    let challenges: Vec<warmline_sip::auth::Challenge> = challenge
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .filter_map(|v| warmline_sip::auth::Challenge::parse(v).ok())
        .collect();
    assert_eq!(
        challenges.len(),
        2,
        "SHA-256 and MD5 by default: {challenge}"
    );
    let uri = format!("sip:+15551230000@{}", client.target);
    let creds = warmline_sip::auth::respond(
        &challenges,
        &warmline_sip::auth::ClientCredentials::new("carrier", "wrong-one"),
        "INVITE",
        &uri,
        "cnonce1",
        1,
    )
    .expect("response");
    let retry = invite(
        &client,
        "dg-1",
        &format!("Authorization: {creds}\r\n"),
        &pcmu(),
    )
    .replace("branch=z9hG4bK-dg-1", "branch=z9hG4bK-dg-1b")
    .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    client.send(&retry);
    let again = client
        .final_response(Duration::from_secs(3))
        .expect("401 again");
    assert_eq!(status(&again), Some(401), "{again}");
}

#[test]
fn a_malformed_request_gets_400_with_a_reason_and_the_server_keeps_answering() {
    let server = sipp::start(BINARY, &[]);
    let client = Client::new(&server);
    let broken =
        invite(&client, "bad-1", "", &pcmu()).replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    client.send(&broken);
    let answer = client.final_response(Duration::from_secs(3)).expect("400");
    assert!(answer.starts_with("SIP/2.0 400 Bad Request - "), "{answer}");
    assert!(answer.contains("CSeq"), "{answer}");
    client.send("\u{0}\u{1}binary junk that is not SIP");
    assert!(client.collect(Duration::from_millis(300)).is_empty());
    client.send(&format!(
        "OPTIONS sip:{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-o2\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:{t}>\r\nCall-ID: o2\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        t = client.target,
        p = client.port
    ));
    let ok = client.final_response(Duration::from_secs(3)).expect("200");
    assert_eq!(status(&ok), Some(200), "{ok}");
}

#[test]
fn a_caller_that_stops_sending_rtp_gets_bye_after_the_media_timeout() {
    let server = sipp::start(BINARY, &[("WARMLINE_SIP__MEDIA_TIMEOUT_SECS", Some("1"))]);
    let client = Client::new(&server);
    client.send(&invite(&client, "mt-1", "", &pcmu()));
    let ok = client.final_response(Duration::from_secs(3)).expect("200");
    assert_eq!(status(&ok), Some(200), "{ok}");
    let to = header(&ok, "To").expect("To with tag").to_owned();
    client.send(&format!(
        "ACK sip:warmline@{t} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-mt-ack;rport\r\nFrom: <sip:+15559870000@127.0.0.1>;tag=from-mt-1\r\nTo: {to}\r\nCall-ID: mt-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        t = client.target,
        p = client.port
    ));
    let started = Instant::now();
    let mut bye = None;
    while started.elapsed() < Duration::from_secs(5) && bye.is_none() {
        bye = client
            .collect(Duration::from_millis(200))
            .into_iter()
            .find(|m| m.starts_with("BYE "));
    }
    let bye = bye.expect("warmline hangs up a call without media");
    assert!(started.elapsed() >= Duration::from_millis(800), "too early");
    assert!(bye.contains("Call-ID: mt-1"), "{bye}");
}

#[test]
fn an_answer_never_acked_is_resent_on_the_t1_schedule_then_ended_with_bye_at_64_t1() {
    // RTP is not sent either: keep the media timeout and the silent-caller
    // goodbye (30 s, which would end the call near 64*T1) out of the way.
    let server = sipp::start(
        BINARY,
        &[
            ("WARMLINE_SIP__MEDIA_TIMEOUT_SECS", Some("120")),
            ("WARMLINE_CALL__SILENCE_HANGUP_SECS", Some("0")),
        ],
    );
    let client = Client::new(&server);
    client.send(&invite(&client, "noack-1", "", &pcmu()));
    let started = Instant::now();
    let mut oks = Vec::new();
    let mut bye = None;
    while started.elapsed() < Duration::from_secs(40) && bye.is_none() {
        for m in client.collect(Duration::from_millis(50)) {
            if status(&m) == Some(200) {
                oks.push(started.elapsed());
            } else if m.starts_with("BYE ") {
                bye = Some((started.elapsed(), m));
            }
        }
    }
    let (bye_at, bye) = bye.expect("warmline gives up on the missing ACK with a BYE");
    assert!(bye.contains("Call-ID: noack-1"), "{bye}");
    // The 200 and its resends at +0.5, +1.5, +3.5, +7.5, then every 4 s
    // (T2) until 64*T1 = 32 s: eleven in all.
    assert_eq!(oks.len(), 11, "200 OK sent at {oks:?}");
    let gaps: Vec<u128> = oks.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    for (gap, want) in gaps.iter().zip([500u128, 1_000, 2_000, 4_000, 4_000]) {
        assert!(gap.abs_diff(want) < 200, "resend gaps {gaps:?}");
    }
    let after_answer = (bye_at - oks[0]).as_millis();
    assert!(
        after_answer.abs_diff(32_000) < 500,
        "BYE {after_answer} ms after the 200"
    );
}
