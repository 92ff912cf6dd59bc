//! Building and reading REFER: Refer-To, Referred-By, Replaces, Refer-Sub.

use super::*;

/// A REFER as a desk phone sends it for an attended transfer.
const PHONE_REFER: &str = "REFER sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK-refer\r\n\
Max-Forwards: 70\r\n\
From: \"Rep 2001\" <sip:2001@pbx.example>;tag=rep\r\n\
To: <sip:warmline@pbx.example>;tag=ours\r\n\
Call-ID: leg-7@192.0.2.50\r\n\
CSeq: 3 REFER\r\n\
Contact: <sip:2001@192.0.2.50:5060>\r\n\
Refer-To: <sip:2002@pbx.example?Replaces=abc%40192.0.2.50%3Bto-tag%3Dt9%3Bfrom-tag%3Df4>\r\n\
Referred-By: <sip:2001@pbx.example>\r\n\
Refer-Sub: false\r\n\
Content-Length: 0\r\n\r\n";

/// A REFER with `Refer-To` replaced by `refer_to_lines` (each ending in CRLF).
fn refer_with(refer_to_lines: &str) -> Request {
    let text = PHONE_REFER.replace(
        "Refer-To: <sip:2002@pbx.example?Replaces=abc%40192.0.2.50%3Bto-tag%3Dt9%3Bfrom-tag%3Df4>\r\n",
        refer_to_lines,
    );
    request(&text)
}

#[test]
fn a_refer_carries_refer_to_and_referred_by() {
    let mut d = dialog();
    let mut refer = Refer::new(ReferTo::new(
        Uri::parse("sip:+15551234567@carrier.example;user=phone").unwrap(),
    ));
    refer.referred_by = Some(NameAddr::parse("<sip:ai@us.example>").unwrap());
    let sent = refer
        .in_dialog(&mut d, "z9hG4bK-r1", "198.51.100.7:5060", "UDP")
        .unwrap();
    assert_eq!(sent.method, Method::Refer);
    assert_eq!(
        sent.headers.get("Refer-To"),
        Some("<sip:+15551234567@carrier.example;user=phone>")
    );
    assert_eq!(sent.headers.get("Referred-By"), Some("<sip:ai@us.example>"));
    assert_eq!(sent.headers.get("CSeq"), Some("1 REFER"));
    assert_eq!(sent.headers.get("Refer-Sub"), None);
    assert_eq!(sent.uri.to_string(), "sip:+15559870000@203.0.113.10:5060");

    let got = IncomingRefer::parse(&over_the_wire(&sent)).unwrap();
    assert_eq!(
        got.refer_to.target.uri.to_string(),
        "sip:+15551234567@carrier.example;user=phone"
    );
    assert_eq!(got.refer_to.replaces, None);
    assert_eq!(
        got.referred_by.unwrap().uri.to_string(),
        "sip:ai@us.example"
    );
    assert!(got.wants_notify);
    assert_eq!(got.cseq, 1);
}

#[test]
fn a_refer_with_replaces_escapes_it_into_the_refer_to_uri_and_reads_back() {
    let replaces = Replaces {
        call_id: "abc@192.0.2.50".into(),
        to_tag: "t9".into(),
        from_tag: "f4".into(),
        early_only: false,
    };
    let mut refer = Refer::new(
        ReferTo::new(Uri::parse("sip:2002@pbx.example").unwrap()).with_replaces(replaces.clone()),
    );
    refer.subscribe = false;
    let sent = refer
        .in_dialog(&mut dialog(), "z9hG4bK-r2", "198.51.100.7:5060", "UDP")
        .unwrap();
    assert_eq!(
        sent.headers.get("Refer-To"),
        Some("<sip:2002@pbx.example?Replaces=abc%40192.0.2.50%3Bto-tag%3Dt9%3Bfrom-tag%3Df4>")
    );
    assert_eq!(sent.headers.get("Refer-Sub"), Some("false"));
    let got = IncomingRefer::parse(&over_the_wire(&sent)).unwrap();
    assert_eq!(got.refer_to.replaces, Some(replaces));
    assert!(!got.wants_notify);
}

#[test]
fn a_phones_attended_transfer_refer_is_read_and_accepted_without_notifies() {
    let req = request(PHONE_REFER);
    let got = IncomingRefer::parse(&req).unwrap();
    assert_eq!(got.refer_to.target.uri.user.as_deref(), Some("2002"));
    assert_eq!(
        got.refer_to.replaces,
        Some(Replaces {
            call_id: "abc@192.0.2.50".into(),
            to_tag: "t9".into(),
            from_tag: "f4".into(),
            early_only: false,
        })
    );
    assert_eq!(got.cseq, 3);
    let accepted = got.accept(&req);
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.reason, "Accepted");
    assert_eq!(accepted.headers.get("Refer-Sub"), Some("false"));
    assert_eq!(
        accepted.headers.get("To"),
        Some("<sip:warmline@pbx.example>;tag=ours")
    );
}

#[test]
fn a_refer_without_refer_to_is_answered_400() {
    let err = IncomingRefer::parse(&refer_with("")).unwrap_err();
    assert_eq!(err, ReferError::MissingReferTo);
    assert_eq!(err.status(), 400);
}

#[test]
fn a_refer_with_two_refer_to_values_is_answered_400() {
    for lines in [
        "Refer-To: <sip:a@pbx.example>\r\nRefer-To: <sip:b@pbx.example>\r\n",
        "Refer-To: <sip:a@pbx.example>, <sip:b@pbx.example>\r\n",
    ] {
        let err = IncomingRefer::parse(&refer_with(lines)).unwrap_err();
        assert_eq!(err, ReferError::MultipleReferTo(2), "{lines}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn a_malformed_refer_to_is_answered_400() {
    for lines in [
        "Refer-To: <http://example.com/>\r\n",
        "Refer-To: <sip:a@pbx.example\r\n",
        "Refer-To: garbage\r\n",
        "Refer-To: <sip:a@pbx.example?Replaces=abc%3Bto-tag%3Dt9>\r\n",
        "Refer-To: <sip:a@pbx.example?Replaces=abc%ZZ>\r\n",
    ] {
        let err = IncomingRefer::parse(&refer_with(lines)).unwrap_err();
        assert!(
            matches!(
                err,
                ReferError::MalformedReferTo(_) | ReferError::MalformedReplaces(_)
            ),
            "{lines}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn a_malformed_referred_by_is_answered_400() {
    let text = PHONE_REFER.replace(
        "Referred-By: <sip:2001@pbx.example>",
        "Referred-By: <mailto:rep@pbx.example>",
    );
    let err = IncomingRefer::parse(&request(&text)).unwrap_err();
    assert!(matches!(err, ReferError::MalformedReferredBy(_)));
    assert_eq!(err.status(), 400);
}

#[test]
fn reading_a_non_refer_as_a_refer_is_a_routing_error() {
    let err = IncomingRefer::parse(&request(INVITE)).unwrap_err();
    assert!(matches!(err, ReferError::WrongMethod { .. }));
}

/// Every truncation of a REFER and a NOTIFY, and every byte replaced by a delimiter, read
/// without a panic (the parser refuses some; what it accepts must be answered cleanly).
#[test]
fn mangled_refers_and_notifies_never_panic() {
    let notify = ReferNotify::last(200, Some(3))
        .in_dialog(&mut dialog(), "z9hG4bK-n", "198.51.100.7:5060", "UDP")
        .unwrap()
        .to_bytes();
    for original in [PHONE_REFER.as_bytes().to_vec(), notify] {
        for i in 0..original.len() {
            let mut variants = vec![original[..i].to_vec()];
            for b in [b';', b'%', b'<', b'>', b'?', b'=', b',', b'"', b' ', 0xff] {
                let mut v = original.clone();
                v[i] = b;
                variants.push(v);
            }
            for v in variants {
                if let Ok(Message::Request(r)) = parse(&v, &Limits::default()) {
                    if let Err(e) = IncomingRefer::parse(&r) {
                        let _ = e.status();
                    }
                    if let Ok(n) = ReferNotify::parse(&r) {
                        let mut w = watch::ReferWatchFixture::new();
                        let _ = w.0.on_notify(&n, w.1);
                    }
                }
            }
        }
    }
}
