//! The bodies of the cargo-fuzz targets in `sip/fuzz`, as plain
//! functions, so that the seed corpus runs through exactly the same checks
//! on the stable toolchain (`sip/tests/fuzz_corpus.rs`). Each must never
//! panic on any input other than by a failed property assertion.

use std::net::{IpAddr, Ipv4Addr};

use crate::message::{error_response, frame_stream, parse, Framing, Limits, Message, Method};
use crate::sdp::{
    answer, classify_reoffer, LocalMedia, LocalSrtp, ReofferKind, SessionDescription, SrtpPolicy,
};

/// Fuzzes the SIP message parser, the 400/505/513 answer and the stream
/// framer with arbitrary bytes.
///
/// Properties, beyond "never panics":
/// - a message that parses serialises to bytes that parse back to an equal
///   message (re-parsed with roomy limits: serialising writes `Name: value`
///   and a Content-Length, which may add a few bytes or one header line);
/// - a parsed request (other than ACK) yields responses that parse;
/// - an error answer is one status line of 400, 505 or 513 with no bare CR,
///   LF or NUL anywhere (no header injection through the reason phrase);
/// - stream framing never claims more bytes than it was given.
pub fn sip_message(data: &[u8]) {
    let limits = Limits::default();
    match frame_stream(data, &limits) {
        Ok(Framing::Message(n)) => {
            assert!(n > 0 && n <= data.len(), "framed {n} of {}", data.len());
            let _ = parse(&data[..n], &limits);
        }
        Ok(Framing::KeepAlive(n)) => assert!(n > 0 && n <= data.len()),
        Ok(Framing::Incomplete) | Err(_) => {}
    }
    match parse(data, &limits) {
        Ok(message) => {
            let roomy = Limits {
                max_message_bytes: usize::MAX,
                max_headers: usize::MAX,
                max_line_bytes: usize::MAX,
                max_body_bytes: usize::MAX,
            };
            let bytes = message.to_bytes();
            let again = parse(&bytes, &roomy).unwrap_or_else(|e| {
                panic!(
                    "serialised message does not parse: {e}\n{}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            assert_eq!(again, message);
            if let Message::Request(request) = &message {
                if request.method != Method::Ack {
                    for status in [100, 200, 486] {
                        let response = request.response(status, "Fuzz", Some("fuzz-tag"));
                        let bytes = response.to_bytes();
                        if let Err(e) = parse(&bytes, &roomy) {
                            panic!(
                                "our {status} does not parse: {e}\n{}",
                                String::from_utf8_lossy(&bytes)
                            );
                        }
                    }
                }
            }
        }
        Err(error) => {
            if let Some(answer) = error_response(data, &error) {
                let text = String::from_utf8(answer).expect("answers are UTF-8");
                assert!(
                    text.starts_with("SIP/2.0 400 Bad Request - ")
                        || text.starts_with("SIP/2.0 505 Version Not Supported\r\n")
                        || text.starts_with("SIP/2.0 513 Message Too Large\r\n"),
                    "{text:?}"
                );
                assert!(
                    !text.replace("\r\n", "").contains(['\r', '\n', '\0']),
                    "{text:?}"
                );
                assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text:?}");
            }
        }
    }
}

/// Fuzzes the SDP parser and offer/answer with arbitrary bytes.
///
/// Properties, beyond "never panics":
/// - an SDP that parses serialises to text that parses back equal;
/// - the answer we build to it (when there is one) parses back equal;
/// - an SDP compared with itself is a refresh.
/// - answering with SRTP optional (a=crypto answered) also builds an
///   answer that parses back equal.
pub fn sdp(data: &[u8]) {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let text = sdp.to_string();
    let again = SessionDescription::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("serialised SDP does not parse: {e}\n{text}"));
    assert_eq!(again, sdp);

    let mut local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40_000, 1);
    for srtp in [
        None,
        Some(LocalSrtp {
            policy: SrtpPolicy::Optional,
            inline_key: "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk".into(),
        }),
    ] {
        local.srtp = srtp;
        if let Ok(negotiated) = answer(&sdp, &local) {
            let ours = negotiated.answer.to_string();
            let back = SessionDescription::parse(ours.as_bytes())
                .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{ours}"));
            assert_eq!(back, negotiated.answer);
        }
    }
    assert_eq!(classify_reoffer(&sdp, &sdp), ReofferKind::Refresh);
}
