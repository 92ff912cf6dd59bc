use super::super::*;
use super::*;
use std::net::{IpAddr, Ipv4Addr};

fn err(text: &str) -> SdpError {
    SessionDescription::parse(text.as_bytes()).unwrap_err()
}

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";

#[test]
fn parses_every_field_of_the_carrier_offer() {
    let s = sdp(CARRIER_OFFER);
    assert_eq!(s.origin.username, "carrier");
    assert_eq!(s.origin.session_id, "1234");
    assert_eq!(s.origin.session_version, 1);
    assert_eq!(s.origin.address, "203.0.113.10");
    assert_eq!(s.session_name, "-");
    let c = s.connection.as_ref().unwrap();
    assert_eq!(c.ip(), Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 20))));
    assert_eq!(s.timings.len(), 1);
    assert_eq!(s.media.len(), 1);
    let m = &s.media[0];
    assert_eq!(
        (m.media.as_str(), m.port, m.proto.as_str()),
        ("audio", 31000, "RTP/AVP")
    );
    assert_eq!(m.formats, ["0", "8", "18", "101"]);
    let te = m.rtpmap(101).unwrap();
    assert_eq!(
        (te.encoding_name.as_str(), te.clock_rate),
        ("telephone-event", 8000)
    );
    assert_eq!(m.fmtp(101), Some("0-16"));
    assert_eq!(m.fmtp(0), None);
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert!(!m.rtcp_mux());
}

#[test]
fn crlf_fixtures_serialize_back_byte_for_byte() {
    for text in [
        CARRIER_OFFER,
        FREESWITCH_OFFER,
        IPV6_OFFER,
        VIDEO_OFFER,
        HOLD_LEGACY_OFFER,
    ] {
        assert_eq!(sdp(text).to_string(), text);
    }
}

#[test]
fn parse_serialize_parse_is_identical_for_every_fixture() {
    for text in VALID {
        let first = sdp(text);
        let again = sdp(&first.to_string());
        assert_eq!(first, again);
    }
}

#[test]
fn optional_session_lines_are_kept() {
    let s = sdp(VIDEO_OFFER);
    assert_eq!(s.information.as_deref(), Some("A softphone with a camera"));
    assert_eq!(s.uri.as_deref(), Some("http://example.com/call"));
    assert_eq!(s.emails, ["alice@example.com"]);
    assert_eq!(s.phones, ["+1 555 0100"]);
    assert_eq!(s.timings[0].repeats, ["604800 3600 0 90000"]);
    assert_eq!(s.time_zones.as_deref(), Some("2882844526 -1h"));
    assert_eq!(s.attribute_value("tool"), Some("softphone 1.0"));
    assert_eq!(s.media[1].fmtp(99), Some("profile-level-id=42e01f"));
}

#[test]
fn lf_only_body_with_unknown_attributes_is_accepted_and_written_with_crlf() {
    let s = sdp(RTCP_OFFER);
    let m = &s.media[0];
    assert!(m.has_attribute("X-custom"));
    assert_eq!(m.attribute_value("label"), Some("main"));
    assert_eq!(s.direction(), Some(Direction::RecvOnly));
    assert_eq!(s.media_direction(m), Direction::RecvOnly);
    let written = s.to_string();
    assert!(written.contains("a=X-custom\r\na=label:main\r\n"));
    assert!(!written.replace("\r\n", "").contains('\n'));
}

#[test]
fn out_of_order_session_lines_are_written_in_rfc_order() {
    let text =
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\na=sendonly\nb=AS:64\nc=IN IP4 192.0.2.1\n";
    assert_eq!(
        sdp(text).to_string(),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=0 0\r\na=sendonly\r\n"
    );
}

#[test]
fn trailing_empty_lines_are_ignored() {
    let text = format!("{HEAD}\r\n\r\n\n");
    assert_eq!(sdp(&text), sdp(HEAD));
}

#[test]
fn rtcp_attribute_with_and_without_address() {
    let s = sdp(RTCP_OFFER);
    let rtcp = s.media[0].rtcp().unwrap();
    assert_eq!(rtcp.port, 30011);
    assert_eq!(rtcp.connection.unwrap().ip(), "203.0.113.7".parse().ok());
    let s = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 0\r\na=rtcp:5005\r\na=rtcp-mux\r\n"
    ));
    let rtcp = s.media[0].rtcp().unwrap();
    assert_eq!((rtcp.port, rtcp.connection), (5005, None));
    assert!(s.media[0].rtcp_mux());
}

#[test]
fn static_payload_types_without_rtpmap_are_understood() {
    let s = sdp(&format!("{HEAD}m=audio 5000 RTP/AVP 0 8 18 9 13 96\r\n"));
    let formats = s.media[0].payload_formats();
    let codecs: Vec<_> = formats.iter().map(|f| f.codec.clone()).collect();
    // 96 is dynamic and has no rtpmap, so it cannot be resolved.
    assert_eq!(
        codecs,
        [
            Codec::Pcmu,
            Codec::Pcma,
            Codec::Other("G729".into()),
            Codec::G722,
            Codec::ComfortNoise
        ]
    );
    assert!(formats.iter().all(|f| f.clock_rate == 8000));
}

#[test]
fn rtpmap_names_match_case_insensitively_and_keep_channels() {
    let s = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 111 0\r\na=rtpmap:111 OPUS/48000/2\r\na=rtpmap:0 pcmu/8000\r\n"
    ));
    let f = s.media[0].payload_formats();
    assert_eq!(f[0].codec, Codec::Opus);
    assert_eq!(f[0].channels, 2);
    assert!(f[0].is(&Codec::Opus));
    assert_eq!(f[1].codec, Codec::Pcmu);
    assert!(!f[1].is(&Codec::Pcma));
    assert_eq!(
        s.media[0].rtpmap(111).unwrap().to_string(),
        "111 OPUS/48000/2"
    );
}

#[test]
fn pcmu_at_a_wideband_rate_is_not_g711() {
    let s = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/16000\r\n"
    ));
    assert!(!s.media[0].offers_codec(&Codec::Pcmu));
}

#[test]
fn ptime_and_maxptime_accept_decimal_forms() {
    let s = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 0\r\na=ptime:20.0\r\na=maxptime:40\r\n"
    ));
    assert_eq!(s.media[0].ptime(), Some(20));
    assert_eq!(s.media[0].maxptime(), Some(40));
}

#[test]
fn malformed_attribute_values_are_skipped_by_accessors() {
    let s = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\na=rtpmap:200 X/8000\r\na=ptime:abc\r\na=rtcp:99999\r\n"
    ));
    let m = &s.media[0];
    assert_eq!(m.rtpmaps().count(), 0);
    assert_eq!(m.ptime(), None);
    assert_eq!(m.rtcp(), None);
    // PT 0 still resolves through the static table.
    assert_eq!(m.payload_formats()[0].codec, Codec::Pcmu);
}

#[test]
fn bump_version_increments_and_wraps() {
    let mut o = sdp(CARRIER_OFFER).origin;
    o.bump_version();
    assert_eq!(o.session_version, 2);
    o.session_version = u64::MAX;
    o.bump_version();
    assert_eq!(o.session_version, 0);
}

#[test]
fn set_direction_replaces_the_existing_one() {
    let mut m = sdp(CARRIER_OFFER).media.remove(0);
    m.set_direction(Direction::Inactive);
    assert_eq!(m.direction(), Some(Direction::Inactive));
    assert_eq!(m.attributes.iter().filter(|a| a.value.is_none()).count(), 1);
}

/// Each rejection case: the body, the expected error.
fn rejection_cases() -> Vec<(String, SdpError)> {
    use SdpError::*;
    let o = "o=- 1 1 IN IP4 192.0.2.1";
    vec![
        (String::new(), Missing { kind: 'v' }),
        (format!("{o}\r\ns=-\r\nt=0 0\r\n"), Missing { kind: 'v' }),
        ("v=0\r\ns=-\r\nt=0 0\r\n".into(), Missing { kind: 'o' }),
        (format!("v=0\r\n{o}\r\nt=0 0\r\n"), Missing { kind: 's' }),
        (format!("v=0\r\n{o}\r\ns=-\r\n"), Missing { kind: 't' }),
        (
            format!("v=1\r\n{o}\r\ns=-\r\nt=0 0\r\n"),
            Invalid {
                line: 1,
                kind: 'v',
                reason: "only version 0 exists",
            },
        ),
        (
            "v=0\r\no=- 1 x IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n".into(),
            Invalid {
                line: 2,
                kind: 'o',
                reason: "session version is not a number",
            },
        ),
        (
            "v=0\r\no=- +1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n".into(),
            Invalid {
                line: 2,
                kind: 'o',
                reason: "session id is not a number",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n".into(),
            Invalid {
                line: 2,
                kind: 'o',
                reason: "expected 6 fields",
            },
        ),
        (
            format!("{HEAD}m=audio 65536 RTP/AVP 0\r\n"),
            PortOutOfRange { line: 5, kind: 'm' },
        ),
        (
            format!("{HEAD}m=audio 99999999999999999999999 RTP/AVP 0\r\n"),
            PortOutOfRange { line: 5, kind: 'm' },
        ),
        (
            format!("{HEAD}m=audio 5000/70000 RTP/AVP 0\r\n"),
            PortOutOfRange { line: 5, kind: 'm' },
        ),
        (
            format!("{HEAD}m=audio -1 RTP/AVP 0\r\n"),
            Invalid {
                line: 5,
                kind: 'm',
                reason: "port is not a number",
            },
        ),
        (
            format!("{HEAD}m=audio 5000\r\n"),
            Invalid {
                line: 5,
                kind: 'm',
                reason: "missing protocol",
            },
        ),
        (
            format!("{HEAD}b=AS:lots\r\n"),
            Invalid {
                line: 5,
                kind: 'b',
                reason: "bandwidth is not a number",
            },
        ),
        (
            format!("v=0\r\n{o}\r\ns=-\r\nt=now 0\r\n"),
            Invalid {
                line: 4,
                kind: 't',
                reason: "time is not a number",
            },
        ),
        (
            format!("{HEAD}c=IN IP4\r\n"),
            Invalid {
                line: 5,
                kind: 'c',
                reason: "expected 3 fields",
            },
        ),
        (
            format!("{HEAD}a=:x\r\n"),
            Invalid {
                line: 5,
                kind: 'a',
                reason: "bad attribute name",
            },
        ),
        (format!("{HEAD}x=1\r\n"), UnknownType { line: 5, kind: 'x' }),
        (
            format!("{HEAD}m=audio 1 RTP/AVP 0\r\nX=1\r\n"),
            UnknownType { line: 6, kind: 'X' },
        ),
        (
            format!("{HEAD}o=- 2 2 IN IP4 192.0.2.1\r\n"),
            Duplicate { line: 5, kind: 'o' },
        ),
        (format!("{HEAD}v=0\r\n"), Duplicate { line: 5, kind: 'v' }),
        (
            format!("{HEAD}c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n"),
            Duplicate { line: 6, kind: 'c' },
        ),
        (
            format!("{HEAD}m=audio 1 RTP/AVP 0\r\nt=0 0\r\n"),
            Misplaced {
                line: 6,
                kind: 't',
                reason: "session-level line inside a media section",
            },
        ),
        (
            format!("v=0\r\n{o}\r\ns=-\r\nr=1 1 0\r\nt=0 0\r\n"),
            Misplaced {
                line: 4,
                kind: 'r',
                reason: "r= must follow a t= line",
            },
        ),
        (
            format!("v=0\r\n\r\n{o}\r\ns=-\r\nt=0 0\r\n"),
            EmptyLine { line: 2 },
        ),
        (format!("{HEAD}hello\r\n"), Malformed { line: 5 }),
        (format!("{HEAD}1=2\r\n"), Malformed { line: 5 }),
        (
            format!("{HEAD}a=x\0y\r\n"),
            ControlCharacter { line: 5, kind: 'a' },
        ),
        (
            format!("{HEAD}s=a\rb\r\n"),
            ControlCharacter { line: 5, kind: 's' },
        ),
    ]
}

#[test]
fn every_rejection_case_gives_its_error_and_line() {
    for (text, expected) in rejection_cases() {
        let got = err(&text);
        assert_eq!(got, expected, "for {text:?}");
        // The message names the line, so a log line is enough to find it.
        if let Some(line) = expected.line() {
            assert!(got.to_string().contains(&format!("line {line}")), "{got}");
        }
    }
}

#[test]
fn non_utf8_is_rejected_on_its_line() {
    let mut body = HEAD.as_bytes().to_vec();
    body.extend_from_slice(b"a=tool:\xff\xfe\r\n");
    assert_eq!(
        SessionDescription::parse(&body),
        Err(SdpError::NotUtf8 { line: 5 })
    );
}

#[test]
fn line_limit_is_exact() {
    let at_limit = format!("{HEAD}{}", "a=x\r\n".repeat(MAX_LINES - 4));
    assert!(SessionDescription::parse(at_limit.as_bytes()).is_ok());
    let over = format!("{at_limit}a=x\r\n");
    assert_eq!(
        err(&over),
        SdpError::TooManyLines {
            line: MAX_LINES + 1,
            max: MAX_LINES
        }
    );
    // Empty lines past the limit at the very end are still just trailing.
    let trailing = format!("{at_limit}{}", "\r\n".repeat(10));
    assert!(SessionDescription::parse(trailing.as_bytes()).is_ok());
}

#[test]
fn line_length_limit_is_exact() {
    let value = |n: usize| "y".repeat(n - "a=x:".len());
    let ok = format!("{HEAD}a=x:{}\r\n", value(MAX_LINE_BYTES));
    assert!(SessionDescription::parse(ok.as_bytes()).is_ok());
    let long = format!("{HEAD}a=x:{}\r\n", value(MAX_LINE_BYTES + 1));
    assert_eq!(
        err(&long),
        SdpError::LineTooLong {
            line: 5,
            len: MAX_LINE_BYTES + 1,
            max: MAX_LINE_BYTES
        }
    );
}

#[test]
fn body_size_limit_is_checked_first() {
    let line = format!("a=x:{}\r\n", "y".repeat(4000));
    let mut body = HEAD.to_owned();
    while body.len() <= MAX_BODY_BYTES {
        body.push_str(&line);
    }
    assert_eq!(
        err(&body),
        SdpError::BodyTooLarge {
            len: body.len(),
            max: MAX_BODY_BYTES
        }
    );
}
