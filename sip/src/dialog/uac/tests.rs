use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::auth::ClientCredentials;
use crate::message::{parse, Limits, SipHeaders, Uri};
use crate::transaction::TimerConfig;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n\
t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\n\
t=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";
const CHALLENGE: &str = "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\", algorithm=MD5";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn phone() -> SocketAddr {
    addr("192.0.2.20:5060")
}

fn config() -> UacConfig {
    UacConfig {
        target: Uri::parse("sip:rep@192.0.2.20:5060").expect("uri"),
        to: None,
        from: Uri::parse("sip:+15559870000@198.51.100.7").expect("uri"),
        from_display: Some("+1 555 987 0000".into()),
        call_id: "uac-call-1".into(),
        local_tag: "lt1".into(),
        contact: Uri::parse("sip:warmline@198.51.100.7:5060").expect("uri"),
        sent_by: "198.51.100.7:5060".into(),
        peer: phone(),
        transport: Transport::Udp,
        every_request_to_peer: false,
        via_transport: "UDP".into(),
        sdp: OFFER.as_bytes().to_vec(),
        headers: vec![
            ("X-Warmline-Call-Id".into(), "c-42".into()),
            (
                "X-Warmline-Card".into(),
                "https://warmline.example/c/42".into(),
            ),
        ],
        credentials: Some(ClientCredentials::new("rep", "secret")),
        timers: TimerConfig::default(),
    }
}

fn start() -> (UacCall, Request) {
    let mut call = UacCall::new(config(), Duration::ZERO).expect("call");
    let sent = sent(&mut call);
    assert_eq!(sent.len(), 1);
    let invite = request(&sent[0].1);
    (call, invite)
}

/// Everything queued, as (destination, bytes).
fn sent(call: &mut UacCall) -> Vec<(SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| call.poll_transmit())
        .map(|t| (t.dest, t.bytes))
        .collect()
}

fn events(call: &mut UacCall) -> Vec<UacEvent> {
    std::iter::from_fn(|| call.poll_event()).collect()
}

fn request(bytes: &[u8]) -> Request {
    match parse(bytes, &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {}", r.status),
    }
}

/// A response to `req` as the far side writes it, parsed from bytes.
fn reply(req: &Request, status: u16, extra: &str, body: &str) -> Message {
    let mut text = format!("SIP/2.0 {status} Whatever\r\n");
    for via in req.headers.get_all("Via") {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let to = req.headers.get("To").expect("To");
    let to = if to.contains("tag=") || status == 100 {
        to.to_owned()
    } else {
        format!("{to};tag=callee")
    };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}",
        req.headers.get("From").expect("From"),
        req.call_id().expect("Call-ID"),
        req.headers.get("CSeq").expect("CSeq"),
    ));
    if !body.is_empty() {
        text.push_str("Content-Type: application/sdp\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse(text.as_bytes(), &Limits::default()).expect("response parses")
}

fn feed(call: &mut UacCall, now: Duration, message: Message) {
    call.on_message(now, message, phone(), Transport::Udp)
        .expect("accepted");
}

const CONTACT: &str = "Contact: <sip:rep@192.0.2.30:5062>\r\n";

/// A call answered with 200 and ACKed; returns the call and the ACK.
fn answered() -> (UacCall, Request) {
    let (mut call, invite) = start();
    feed(
        &mut call,
        Duration::from_millis(50),
        reply(&invite, 200, CONTACT, ANSWER),
    );
    let sent = sent(&mut call);
    assert_eq!(sent.len(), 1, "one ACK");
    events(&mut call);
    (call, request(&sent[0].1))
}

fn branch(req: &Request) -> String {
    req.top_via()
        .expect("via")
        .branch()
        .expect("branch")
        .to_owned()
}

#[test]
fn the_invite_carries_the_offer_the_caller_id_and_the_extra_headers() {
    let (_, invite) = start();
    assert_eq!(invite.method, Method::Invite);
    assert_eq!(invite.uri.to_string(), "sip:rep@192.0.2.20:5060");
    let from = SipHeaders::from(&invite).expect("from");
    assert_eq!(from.display.as_deref(), Some("+1 555 987 0000"));
    assert_eq!(from.tag(), Some("lt1"));
    assert_eq!(SipHeaders::to(&invite).expect("to").tag(), None);
    assert_eq!(invite.cseq().expect("cseq").seq, 1);
    assert!(branch(&invite).starts_with(MAGIC_COOKIE));
    assert_eq!(invite.headers.get("X-Warmline-Call-Id"), Some("c-42"));
    assert_eq!(
        invite.headers.get("X-Warmline-Card"),
        Some("https://warmline.example/c/42")
    );
    assert_eq!(invite.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(invite.body, OFFER.as_bytes());
}

#[test]
fn a_header_value_with_a_line_break_is_refused_at_construction() {
    let mut bad = config();
    bad.headers
        .push(("X-Warmline-Card".into(), "x\r\nBYE sip:evil".into()));
    assert!(matches!(
        UacCall::new(bad, Duration::ZERO),
        Err(UacError::Message(_))
    ));
}

#[test]
fn ringing_and_early_media_surface_as_provisionals() {
    let (mut call, invite) = start();
    let ms = Duration::from_millis;
    feed(&mut call, ms(10), reply(&invite, 100, "", ""));
    feed(&mut call, ms(20), reply(&invite, 180, "", ""));
    feed(&mut call, ms(30), reply(&invite, 183, CONTACT, ANSWER));
    assert_eq!(
        events(&mut call),
        vec![
            UacEvent::Provisional {
                status: 180,
                reason: "Whatever".into(),
                sdp: None
            },
            UacEvent::Provisional {
                status: 183,
                reason: "Whatever".into(),
                sdp: Some(ANSWER.as_bytes().to_vec())
            },
        ]
    );
    // A provisional stops Timer A: nothing is re-sent.
    call.on_timeout(Duration::from_secs(10));
    assert!(sent(&mut call).is_empty());
}

#[test]
fn the_ack_for_a_2xx_goes_to_the_contact_through_the_route_set() {
    let (mut call, invite) = start();
    let ok = reply(
        &invite,
        200,
        &format!("Record-Route: <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:10.0.0.2;lr>\r\n{CONTACT}"),
        ANSWER,
    );
    feed(&mut call, Duration::from_millis(50), ok.clone());
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Answered {
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
    let sent_now = sent(&mut call);
    assert_eq!(sent_now.len(), 1);
    let (dest, bytes) = &sent_now[0];
    assert_eq!(*dest, addr("10.0.0.2:5060"), "the first route, reversed");
    let ack = request(bytes);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:rep@192.0.2.30:5062");
    assert_eq!(
        ack.headers.get_all("Route"),
        vec!["<sip:10.0.0.2;lr>", "<sip:10.0.0.1;lr>"]
    );
    assert_eq!(ack.cseq().expect("cseq").seq, 1);
    assert_eq!(SipHeaders::to(&ack).expect("to").tag(), Some("callee"));
    assert_ne!(branch(&ack), branch(&invite), "a transaction of its own");
    let dialog = call.dialog().expect("dialog");
    assert_eq!(dialog.remote_tag, "callee");
    // A retransmitted 2xx is ACKed again, the same way.
    feed(&mut call, Duration::from_millis(600), ok);
    assert_eq!(sent(&mut call), sent_now);
    assert!(events(&mut call).is_empty());
}

#[test]
fn a_call_that_keeps_its_peer_sends_the_ack_and_bye_there_over_the_same_stream() {
    let mut config = config();
    config.transport = Transport::Tcp;
    config.via_transport = "TLS".into();
    config.every_request_to_peer = true;
    let mut call = UacCall::new(config, Duration::ZERO).expect("call");
    let invite = request(&sent(&mut call)[0].1);
    // The far side's Contact and route set name other addresses.
    let ok = reply(
        &invite,
        200,
        &format!("Record-Route: <sip:10.0.0.1;lr>\r\n{CONTACT}"),
        ANSWER,
    );
    feed(&mut call, Duration::from_millis(50), ok);
    let transmits: Vec<Transmit> = std::iter::from_fn(|| call.poll_transmit()).collect();
    assert_eq!(transmits.len(), 1, "one ACK");
    assert_eq!(
        (transmits[0].dest, transmits[0].transport),
        (phone(), Transport::Tcp)
    );
    let ack = request(&transmits[0].bytes);
    assert_eq!(ack.method, Method::Ack);
    // The request still names the far side: the peer forwards it.
    assert_eq!(ack.uri.to_string(), "sip:rep@192.0.2.30:5062");
    assert_eq!(ack.headers.get_all("Route"), vec!["<sip:10.0.0.1;lr>"]);
    assert_eq!(ack.top_via().expect("via").transport, "TLS");
    call.bye(Duration::from_secs(1)).expect("bye");
    let transmits: Vec<Transmit> = std::iter::from_fn(|| call.poll_transmit()).collect();
    assert_eq!(
        (transmits[0].dest, transmits[0].transport),
        (phone(), Transport::Tcp),
        "the BYE goes to the peer, not to the Contact's address"
    );
    assert_eq!(request(&transmits[0].bytes).method, Method::Bye);
}

#[test]
fn a_cancel_before_any_provisional_waits_for_the_first_180() {
    let (mut call, invite) = start();
    call.cancel(Duration::from_millis(5)).expect("cancel");
    assert!(sent(&mut call).is_empty(), "RFC 3261 §9.1: not yet");
    feed(
        &mut call,
        Duration::from_millis(40),
        reply(&invite, 180, "", ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 1);
    let cancel = request(&out[0].1);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(branch(&cancel), branch(&invite));
    assert_eq!(cancel.cseq().expect("cseq").seq, 1);
    assert_eq!(cancel.headers.get("From"), invite.headers.get("From"));
    feed(
        &mut call,
        Duration::from_millis(60),
        reply(&cancel, 200, "", ""),
    );
    feed(
        &mut call,
        Duration::from_millis(70),
        reply(&invite, 487, "", ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 1);
    let ack = request(&out[0].1);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(branch(&ack), branch(&invite), "the transaction ACKs a 487");
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Cancelled)]
    );
    assert!(call.is_ended());
}

#[test]
fn a_200_that_races_the_cancel_is_acked_and_byed() {
    let (mut call, invite) = start();
    let ms = Duration::from_millis;
    feed(&mut call, ms(10), reply(&invite, 180, "", ""));
    events(&mut call);
    call.cancel(ms(20)).expect("cancel");
    let cancel = request(&sent(&mut call)[0].1);
    feed(&mut call, ms(30), reply(&invite, 200, CONTACT, ANSWER));
    feed(&mut call, ms(31), reply(&cancel, 200, "", ""));
    let out = sent(&mut call);
    let methods: Vec<Method> = out.iter().map(|(_, b)| request(b).method).collect();
    assert_eq!(methods, vec![Method::Ack, Method::Bye]);
    assert!(
        events(&mut call).is_empty(),
        "no Answered for a cancelled call"
    );
    let bye = request(&out[1].1);
    assert_eq!(bye.uri.to_string(), "sip:rep@192.0.2.30:5062");
    assert_eq!(bye.cseq().expect("cseq").seq, 2);
    assert_eq!(out[1].0, addr("192.0.2.30:5062"));
    feed(&mut call, ms(50), reply(&bye, 200, "", ""));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Cancelled)]
    );
}

#[test]
fn timer_b_fails_an_unanswered_invite() {
    let (mut call, _) = start();
    let mut resent = 0;
    while let Some(at) = call.poll_timeout() {
        call.on_timeout(at);
        resent += sent(&mut call).len();
        if call.is_ended() {
            assert_eq!(at, Duration::from_secs(32), "64*T1");
            break;
        }
    }
    // Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(resent, 6);
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(UacError::Timeout {
            method: Method::Invite
        }))]
    );
}

#[test]
fn a_rejected_invite_ends_with_its_status() {
    let (mut call, invite) = start();
    feed(
        &mut call,
        Duration::from_millis(30),
        reply(&invite, 486, "", ""),
    );
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Rejected {
            status: 486,
            reason: "Whatever".into()
        })]
    );
    assert_eq!(call.cancel(Duration::from_secs(1)), Err(UacError::Ended));
}

#[test]
fn unusable_or_foreign_messages_are_errors_not_panics() {
    let (mut call, invite) = start();
    assert_eq!(call.bye(Duration::ZERO), Err(UacError::NotEstablished));
    assert_eq!(
        call.reinvite(Duration::ZERO, Vec::new()),
        Err(UacError::NotEstablished)
    );
    let other = reply(&invite, 180, "", "");
    let Message::Response(mut other) = other else {
        panic!("response");
    };
    other.headers.set("Call-ID", "someone-else").expect("set");
    assert_eq!(
        call.on_message(
            Duration::ZERO,
            Message::Response(other),
            phone(),
            Transport::Udp
        ),
        Err(UacError::NotThisCall("someone-else".into()))
    );
    // A response with no Via is dropped by the transaction layer.
    let mut no_via = reply(&invite, 200, CONTACT, "");
    if let Message::Response(r) = &mut no_via {
        r.headers.remove("Via");
    }
    feed(&mut call, Duration::ZERO, no_via);
    assert!(events(&mut call).is_empty());
    // A 2xx without Contact cannot make a dialog: a clear failure.
    feed(&mut call, Duration::ZERO, reply(&invite, 200, "", ANSWER));
    assert!(matches!(
        events(&mut call).as_slice(),
        [UacEvent::Ended(EndReason::Failed(UacError::BadResponse(_)))]
    ));
}

#[test]
fn a_cancel_that_gets_no_final_response_ends_the_call_after_64_t1() {
    let (mut call, invite) = start();
    feed(
        &mut call,
        Duration::from_millis(10),
        reply(&invite, 180, "", ""),
    );
    events(&mut call);
    call.cancel(Duration::from_secs(1)).expect("cancel");
    while let Some(at) = call.poll_timeout() {
        call.on_timeout(at);
        sent(&mut call);
        if call.is_ended() {
            assert_eq!(at, Duration::from_secs(33), "the §9.1 guard");
            break;
        }
    }
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Cancelled)]
    );
}

#[test]
fn a_transport_failure_fails_the_invite_at_once() {
    let mut config = config();
    config.transport = Transport::Tcp;
    config.via_transport = "TCP".into();
    let mut call = UacCall::new(config, Duration::ZERO).expect("call");
    let transmit = call.poll_transmit().expect("the INVITE");
    assert_eq!(transmit.transport, Transport::Tcp);
    let owner = transmit.owner.expect("owned by its transaction");
    call.on_transport_error(Duration::from_millis(3), owner);
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(
            UacError::TransportFailed {
                method: Method::Invite
            }
        ))]
    );
    assert_eq!(call.poll_timeout(), None, "nothing left running");
}

#[test]
fn a_second_dialogs_2xx_is_acked_and_byed_and_the_first_kept() {
    let (mut call, invite) = start();
    let ms = Duration::from_millis;
    feed(&mut call, ms(50), reply(&invite, 200, CONTACT, ANSWER));
    sent(&mut call);
    events(&mut call);
    let Message::Response(mut fork) = reply(
        &invite,
        200,
        "Contact: <sip:rep@192.0.2.40:5060>\r\n",
        ANSWER,
    ) else {
        panic!("response");
    };
    let to = fork
        .headers
        .get("To")
        .expect("to")
        .replace("callee", "fork2");
    fork.headers.set("To", to).expect("set");
    feed(&mut call, ms(60), Message::Response(fork.clone()));
    let out = sent(&mut call);
    let methods: Vec<(SocketAddr, Method)> =
        out.iter().map(|(d, b)| (*d, request(b).method)).collect();
    assert_eq!(
        methods,
        vec![
            (addr("192.0.2.40:5060"), Method::Ack),
            (addr("192.0.2.40:5060"), Method::Bye)
        ]
    );
    let bye = request(&out[1].1);
    assert_eq!(SipHeaders::to(&bye).expect("to").tag(), Some("fork2"));
    // Its retransmission is ACKed again, not hung up twice.
    feed(&mut call, ms(600), Message::Response(fork));
    let again = sent(&mut call);
    assert_eq!(again, vec![out[0].clone()]);
    assert!(events(&mut call).is_empty());
    assert_eq!(call.dialog().expect("dialog").remote_tag, "callee");
    assert!(!call.is_ended());
}

#[test]
fn no_response_whatever_its_status_or_missing_headers_makes_it_panic() {
    let statuses = [
        100, 180, 183, 199, 200, 202, 299, 302, 401, 407, 408, 481, 487, 491, 500, 603, 699,
    ];
    let extras = [
        "",
        CONTACT,
        "WWW-Authenticate: Basic realm=\"x\"\r\n",
        "WWW-Authenticate: Digest nonce=\"\"\r\n",
        "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"\r\n",
        "Contact: *\r\nRecord-Route: <sip:10.0.0.1;lr>\r\n",
    ];
    let removals = ["", "Via", "To", "From", "CSeq", "Contact"];
    // Each scenario: how far the call gets before the noise starts.
    for scenario in 0..3 {
        let (mut call, invite) = start();
        let target = match scenario {
            0 => invite,
            1 => {
                feed(&mut call, Duration::ZERO, reply(&invite, 180, "", ""));
                call.cancel(Duration::ZERO).expect("cancel");
                request(&sent(&mut call)[0].1)
            }
            _ => {
                feed(&mut call, Duration::ZERO, reply(&invite, 200, CONTACT, ""));
                sent(&mut call);
                call.bye(Duration::ZERO).expect("bye");
                request(&sent(&mut call)[0].1)
            }
        };
        let mut now = Duration::ZERO;
        for status in statuses {
            for extra in extras {
                for removal in removals {
                    let Message::Response(mut r) = reply(&target, status, extra, ANSWER) else {
                        panic!("response");
                    };
                    if !removal.is_empty() {
                        r.headers.remove(removal);
                    }
                    now += Duration::from_millis(10);
                    let _ = call.on_message(now, Message::Response(r), phone(), Transport::Udp);
                    call.on_timeout(now);
                    sent(&mut call);
                }
            }
        }
        let ended = events(&mut call)
            .iter()
            .filter(|e| matches!(e, UacEvent::Ended(_)))
            .count();
        assert!(ended <= 1, "scenario {scenario}: Ended {ended} times");
    }
}

mod auth;
mod in_dialog;
