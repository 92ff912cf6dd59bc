use super::*;

const INVITE: &str = "INVITE sip:+15551230000@198.51.100.7:5060;user=phone SIP/2.0\r\n\
v: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-carrier-1;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-inner, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK-v6\r\n\
Record-Route: <sip:sbc1.carrier.example;lr>, <sip:sbc2.carrier.example;lr>\r\n\
Max-Forwards: 69\r\n\
f: \"Caller, Jr.\" <sip:+15559870000@carrier.example>;tag=abc123\r\n\
t: <sip:+15551230000@198.51.100.7>\r\n\
i: a84b4c76e66710@carrier.example\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:+15559870000@203.0.113.10:5060>\r\n\
Supported: timer, replaces\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Subject: folded\r\n\
\x20across two lines\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\n";

fn parse_ok(s: &str) -> Message {
    parse(s.as_bytes(), &Limits::default()).expect("parses")
}

fn request(s: &str) -> Request {
    match parse_ok(s) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

#[test]
fn carrier_invite_with_compact_and_comma_joined_headers_parses() {
    let r = request(INVITE);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.user.as_deref(), Some("+15551230000"));
    assert_eq!(r.uri.params.get("user"), Some(Some("phone")));
    let vias = r.headers.get_all("via");
    assert_eq!(vias.len(), 3);
    let v6 = Via::parse(vias[2]).expect("ipv6 via");
    assert_eq!(v6.host, Host::Ip("2001:db8::1".parse().expect("ip")));
    assert_eq!(v6.port, Some(5070));
    assert_eq!(v6.transport, "TCP");
    let top = r.top_via().expect("via");
    assert_eq!(top.branch(), Some("z9hG4bK-carrier-1"));
    assert_eq!(top.params.get("rport"), Some(None));
    let from = SipHeaders::from(&r).expect("from");
    assert_eq!(from.display.as_deref(), Some("Caller, Jr."));
    assert_eq!(from.tag(), Some("abc123"));
    assert_eq!(SipHeaders::to(&r).expect("to").tag(), None);
    assert_eq!(r.call_id(), Some("a84b4c76e66710@carrier.example"));
    assert_eq!(r.cseq().expect("cseq").seq, 314_159);
    assert_eq!(r.record_route().expect("rr").len(), 2);
    assert!(r.supports("timer"));
    assert!(!r.supports("100rel"));
    assert_eq!(r.headers.get("Subject"), Some("folded across two lines"));
    assert_eq!(r.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(r.body, b"v=0\n");
}

#[test]
fn serialised_request_parses_back_to_the_same_request() {
    let r = request(INVITE);
    let again = request(std::str::from_utf8(&r.to_bytes()).expect("utf8"));
    assert_eq!(r, again);
}

#[test]
fn lf_only_line_endings_are_accepted() {
    let lf = INVITE.replace("\r\n", "\n");
    assert_eq!(request(&lf).cseq().expect("cseq").method, Method::Invite);
}

#[test]
fn response_copies_dialog_headers_and_adds_the_to_tag_except_on_100() {
    let r = request(INVITE);
    let trying = r.response(100, "Trying", Some("ours"));
    assert_eq!(trying.to().expect("to").tag(), None);
    let ok = r.response(200, "OK", Some("ours"));
    assert_eq!(ok.to().expect("to").tag(), Some("ours"));
    assert_eq!(ok.headers.get_all("Via").len(), 3);
    assert_eq!(ok.headers.get_all("Record-Route").len(), 2);
    assert_eq!(ok.call_id(), r.call_id());
    let bytes = ok.to_bytes();
    let text = std::str::from_utf8(&bytes).expect("utf8");
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
    let Message::Response(back) = parse_ok(text) else {
        panic!("not a response")
    };
    assert_eq!(back.status, 200);
    // A 4xx does not echo Record-Route (no dialog).
    assert!(r
        .response(486, "Busy Here", Some("t"))
        .headers
        .get("Record-Route")
        .is_none());
}

#[test]
fn header_values_with_line_breaks_are_refused_when_building() {
    let mut h = Headers::new();
    assert!(matches!(
        h.push("Subject", "hi\r\nVia: SIP/2.0/UDP evil"),
        Err(MessageError::Injection(_))
    ));
    assert!(h.push("Bad Name", "x").is_err());
    assert!(h.is_empty());
    let r = request(INVITE);
    let resp = r.response(400, "Bad\r\nX-Injected: 1", None);
    let text = String::from_utf8(resp.to_bytes()).expect("utf8");
    assert!(!text.contains("\r\nX-Injected"), "{text}");
}

#[test]
fn stream_framing_uses_content_length_and_skips_keepalives() {
    let limits = Limits::default();
    let msg = INVITE.as_bytes();
    assert_eq!(
        frame_stream(b"\r\n\r\n", &limits),
        Ok(Framing::KeepAlive(4))
    );
    assert_eq!(frame_stream(&msg[..40], &limits), Ok(Framing::Incomplete));
    assert_eq!(
        frame_stream(&msg[..msg.len() - 1], &limits),
        Ok(Framing::Incomplete)
    );
    let mut two = msg.to_vec();
    two.extend_from_slice(msg);
    assert_eq!(frame_stream(&two, &limits), Ok(Framing::Message(msg.len())));
    let no_length = INVITE.replace("l: 4\r\n", "");
    assert!(frame_stream(no_length.as_bytes(), &limits).is_err());
}

#[test]
fn stream_framing_refuses_two_content_lengths() {
    // One hop framing by the first length and another by the second is
    // how requests get smuggled on a shared connection.
    let two = INVITE.replace("l: 4\r\n", "l: 4\r\nContent-Length: 0\r\n");
    assert_eq!(
        frame_stream(two.as_bytes(), &Limits::default()),
        Err(MessageError::DuplicateHeader("Content-Length".into()))
    );
    assert_eq!(
        parse(two.as_bytes(), &Limits::default()),
        Err(MessageError::DuplicateHeader("Content-Length".into()))
    );
}

#[test]
fn a_parsed_response_with_a_long_reason_serialises_unchanged() {
    // Found by the sip_message fuzz target's round-trip property: writing
    // cut reasons to 200 characters, so a 250-character one came back
    // different.
    let long = format!(
        "SIP/2.0 200 {}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
         From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n\
         CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        "O".repeat(250)
    );
    let response = parse_ok(&long);
    assert_eq!(response.to_bytes(), long.as_bytes());
    // Reasons we make up are still cut.
    let r = request(INVITE).response(486, &"x".repeat(300), None);
    assert_eq!(r.reason.len(), 200);
}

#[test]
fn numbers_with_a_plus_sign_are_refused() {
    // `str::parse` takes a leading '+'; the SIP grammar (1*DIGIT) does not.
    assert!(CSeq::parse("+1 INVITE").is_err());
    assert!(Uri::parse("sip:h:+5060").is_err());
    assert!(Via::parse("SIP/2.0/UDP h:+5060;branch=z9hG4bK1").is_err());
    let mf = INVITE.replace("Max-Forwards: 69", "Max-Forwards: +69");
    assert!(parse(mf.as_bytes(), &Limits::default()).is_err());
}

fn error_of(s: &str) -> MessageError {
    parse(s.as_bytes(), &Limits::default()).expect_err("must fail")
}

#[test]
fn each_broken_request_gets_the_error_that_names_what_is_wrong() {
    let cases: Vec<(String, &str)> = vec![
        (
            INVITE.replace("i: a84b4c76e66710@carrier.example\r\n", ""),
            "Call-ID",
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE"),
            "CSeq",
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: abc INVITE"),
            "CSeq",
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: 4294967296 INVITE"),
            "CSeq",
        ),
        (
            INVITE.replace(
                "t: <sip:+15551230000@198.51.100.7>",
                "t: <sip:a@b>;tag=1;tag=2",
            ),
            "To",
        ),
        (INVITE.replace("l: 4", "l: 400"), "Content-Length"),
        (INVITE.replace("l: 4", "l: -1"), "Content-Length"),
        (
            INVITE.replace("Max-Forwards: 69", "Max-Forwards: 300"),
            "Max-Forwards",
        ),
        (
            INVITE.replace("Subject: folded", "Subject: a\rInjected: b"),
            "injection",
        ),
        (
            INVITE.replace("i: a84b", "Call-ID: dup\r\ni: a84b"),
            "more than once",
        ),
    ];
    for (text, needle) in cases {
        let e = error_of(&text);
        let shown = e.to_string();
        assert!(
            shown.contains(needle) || format!("{e:?}").contains(needle),
            "{shown} should mention {needle}"
        );
        let answer = error_response(text.as_bytes(), &e).expect("a 400 goes back");
        let answer = String::from_utf8(answer).expect("utf8");
        assert!(answer.starts_with("SIP/2.0 400 Bad Request - "), "{answer}");
        assert!(answer.contains("branch=z9hG4bK-carrier-1"));
        let to = answer.lines().find(|l| l.starts_with("To:"));
        assert!(
            to.is_none_or(|t| t.contains(";tag=")),
            "a final response tags To: {answer}"
        );
    }
}

#[test]
fn another_sip_version_gets_505() {
    let text = INVITE.replace("SIP/2.0\r\nv:", "SIP/3.0\r\nv:");
    let e = error_of(&text);
    assert!(e.to_string().contains("SIP/2.0"), "{e}");
    let answer =
        String::from_utf8(error_response(text.as_bytes(), &e).expect("505")).expect("utf8");
    assert!(
        answer.starts_with("SIP/2.0 505 Version Not Supported"),
        "{answer}"
    );
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_headers: 5,
        ..Limits::default()
    };
    assert_eq!(
        parse(INVITE.as_bytes(), &limits),
        Err(MessageError::TooManyHeaders(5))
    );
    let long = INVITE.replace(
        "Subject: folded",
        &format!("Subject: {}", "x".repeat(5_000)),
    );
    assert_eq!(error_of(&long), MessageError::LineTooLong(4_096));
    let huge = format!("{INVITE}{}", "y".repeat(70_000));
    let e = error_of(&huge);
    assert!(matches!(e, MessageError::TooLarge { .. }));
    let answer =
        String::from_utf8(error_response(huge.as_bytes(), &e).expect("513")).expect("utf8");
    assert!(
        answer.starts_with("SIP/2.0 513 Message Too Large"),
        "{answer}"
    );
}

#[test]
fn garbage_and_acks_get_no_answer() {
    for junk in [
        &b"\x00\x01\x02 binary junk"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"",
    ] {
        let e = parse(junk, &Limits::default()).expect_err("junk");
        assert_eq!(error_response(junk, &e), None);
    }
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    let e = error_of(&ack);
    assert_eq!(error_response(ack.as_bytes(), &e), None);
}

#[test]
fn every_truncation_and_random_mutation_is_handled_without_panic() {
    let limits = Limits::default();
    let bytes = INVITE.as_bytes();
    for end in 0..bytes.len() {
        let cut = &bytes[..end];
        if let Err(e) = parse(cut, &limits) {
            let _ = error_response(cut, &e);
        }
        let _ = frame_stream(cut, &limits);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5_000 {
        let mut m = bytes.to_vec();
        for _ in 0..(next() % 8 + 1) {
            let at = (next() % m.len() as u64) as usize;
            m[at] = (next() & 0xFF) as u8;
        }
        if let Err(e) = parse(&m, &limits) {
            let _ = error_response(&m, &e);
        }
    }
}

#[test]
fn uris_of_every_shape_parse_and_print_back() {
    for s in [
        "sip:alice@example.com",
        "sip:alice@example.com:5080;transport=tcp",
        "sips:[2001:db8::7]:5061",
        "sip:+15551234567@192.0.2.1;user=phone",
        "tel:+15551234567;phone-context=example.com",
        "sip:example.com;lr",
        "sip:bob@h?Replaces=abc%3Bto-tag%3D1",
    ] {
        let uri = Uri::parse(s).expect(s);
        assert_eq!(uri.to_string(), s);
    }
    for bad in [
        "http://x",
        "sip:",
        "sip:a@[::1",
        "sip:a@h:99999",
        "sip:a b@h",
        "sip:@h",
    ] {
        assert!(Uri::parse(bad).is_err(), "{bad}");
    }
}
