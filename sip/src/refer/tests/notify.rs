//! Building and reading the NOTIFYs of a refer subscription and their sipfrag bodies.

use super::*;

/// The last NOTIFY a carrier sends after the transferee's call is answered.
const CARRIER_NOTIFY: &str = "NOTIFY sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-n3\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15559870000@carrier.example>;tag=caller\r\n\
To: <sip:+15551230000@198.51.100.7>;tag=ours\r\n\
Call-ID: call-1@carrier\r\n\
CSeq: 12 NOTIFY\r\n\
Contact: <sip:+15559870000@203.0.113.10:5060>\r\n\
Event: refer;id=1\r\n\
Subscription-State: terminated;reason=noresource\r\n\
Content-Type: message/sipfrag\r\n\
Content-Length: 16\r\n\r\n\
SIP/2.0 200 OK\r\n";

#[test]
fn a_progress_notify_carries_event_refer_active_state_and_a_sipfrag_body() {
    let sent = ReferNotify::progress(100, 60, Some(3))
        .in_dialog(&mut dialog(), "z9hG4bK-n1", "198.51.100.7:5060", "UDP")
        .unwrap();
    assert_eq!(sent.method, Method::Notify);
    assert_eq!(sent.headers.get("Event"), Some("refer;id=3"));
    assert_eq!(
        sent.headers.get("Subscription-State"),
        Some("active;expires=60")
    );
    assert_eq!(
        sent.headers.get("Content-Type"),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(sent.body, b"SIP/2.0 100 Trying\r\n");
    let got = ReferNotify::parse(&over_the_wire(&sent)).unwrap();
    assert_eq!(got, ReferNotify::progress(100, 60, Some(3)));
    assert!(!got.is_terminated());
}

#[test]
fn the_last_notify_terminates_with_noresource() {
    let sent = ReferNotify::last(200, None)
        .in_dialog(&mut dialog(), "z9hG4bK-n2", "198.51.100.7:5060", "UDP")
        .unwrap();
    assert_eq!(sent.headers.get("Event"), Some("refer"));
    assert_eq!(
        sent.headers.get("Subscription-State"),
        Some("terminated;reason=noresource")
    );
    assert_eq!(sent.body, b"SIP/2.0 200 OK\r\n");
    let got = ReferNotify::parse(&over_the_wire(&sent)).unwrap();
    assert!(got.is_terminated());
    assert_eq!(got.status, 200);
}

#[test]
fn a_carriers_final_notify_is_read() {
    let got = ReferNotify::parse(&request(CARRIER_NOTIFY)).unwrap();
    assert_eq!(
        got,
        ReferNotify {
            status: 200,
            reason: "OK".into(),
            state: SubscriptionState::terminated(),
            id: Some(1),
        }
    );
}

#[test]
fn a_notify_for_another_event_is_answered_489() {
    let text = CARRIER_NOTIFY.replace("Event: refer;id=1", "Event: dialog");
    let err = ReferNotify::parse(&request(&text)).unwrap_err();
    assert_eq!(err, ReferError::NotReferEvent("dialog".into()));
    assert_eq!(err.status(), 489);
}

#[test]
fn a_notify_whose_body_is_not_sipfrag_is_answered_415() {
    let text = CARRIER_NOTIFY.replace("message/sipfrag", "text/plain");
    let err = ReferNotify::parse(&request(&text)).unwrap_err();
    assert!(matches!(err, ReferError::NotSipfrag(_)));
    assert_eq!(err.status(), 415);
}

#[test]
fn a_notify_without_subscription_state_is_answered_400() {
    let text = CARRIER_NOTIFY.replace("Subscription-State: terminated;reason=noresource\r\n", "");
    let err = ReferNotify::parse(&request(&text)).unwrap_err();
    assert!(matches!(err, ReferError::MalformedSubscriptionState(_)));
    assert_eq!(err.status(), 400);
}

#[test]
fn subscription_states_read_and_write_back() {
    for text in [
        "active;expires=60",
        "pending;expires=30",
        "terminated;reason=noresource",
        "terminated",
    ] {
        assert_eq!(SubscriptionState::parse(text).unwrap().to_string(), text);
    }
    assert_eq!(
        SubscriptionState::parse("Active ; Expires=99999999999").unwrap(),
        SubscriptionState::Active { expires: u32::MAX }
    );
    for bad in ["", "gone", "active;expires=soon"] {
        assert!(SubscriptionState::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_sipfrag_gives_its_status_line_and_ignores_headers() {
    assert_eq!(
        parse_sipfrag(b"SIP/2.0 180 Ringing\r\nContact: <sip:x@y>\r\n").unwrap(),
        (180, "Ringing".into())
    );
    assert_eq!(parse_sipfrag(b"SIP/2.0 603").unwrap(), (603, String::new()));
    assert_eq!(sipfrag(486, "Busy\r\nHere"), b"SIP/2.0 486 BusyHere\r\n");
}

#[test]
fn a_sipfrag_without_a_status_line_is_malformed() {
    for body in [
        &b""[..],
        b"hello",
        b"SIP/2.0 99 Low",
        b"SIP/2.0 2000 OK",
        b"SIP/2.0 +20 OK",
        b"HTTP/1.1 200 OK",
        b"INVITE sip:a@b SIP/2.0",
        b"SIP/2.0 \xff\xfe",
    ] {
        let err = parse_sipfrag(body).unwrap_err();
        assert!(matches!(err, ReferError::MalformedSipfrag(_)), "{body:?}");
    }
}

#[test]
fn a_final_status_makes_the_last_notify_and_a_provisional_one_a_progress_notify() {
    assert_eq!(
        ReferNotify::for_status(180, 60, Some(2)),
        ReferNotify::progress(180, 60, Some(2))
    );
    assert!(ReferNotify::for_status(486, 60, None).is_terminated());
    assert_eq!(ReferNotify::for_status(486, 60, None).reason, "Busy Here");
}
