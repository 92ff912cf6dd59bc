//! Inside the established dialog: BYE both ways, our re-INVITE, and what
//! the far side's in-dialog requests get.

use super::*;

/// The far side's request inside the dialog that `ack` (our ACK) belongs
/// to, from its Contact.
fn far_request(ack: &Request, method: &str, seq: u32, branch: &str, body: &str) -> Message {
    let mut text = format!(
        "{method} sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.30:5062;branch={branch}\r\n\
From: {}\r\nTo: {}\r\nCall-ID: uac-call-1\r\nCSeq: {seq} {method}\r\n\
Contact: <sip:rep@192.0.2.30:5062>\r\n",
        ack.headers.get("To").expect("to"),
        ack.headers.get("From").expect("from"),
    );
    if !body.is_empty() {
        text.push_str("Content-Type: application/sdp\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse(text.as_bytes(), &Limits::default()).expect("parses")
}

fn far() -> SocketAddr {
    addr("192.0.2.30:5062")
}

fn from_far(call: &mut UacCall, now: Duration, message: Message) {
    call.on_message(now, message, far(), Transport::Udp)
        .expect("accepted");
}

fn status_of(bytes: &[u8]) -> u16 {
    match parse(bytes, &Limits::default()).expect("parses") {
        Message::Response(r) => r.status,
        Message::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

#[test]
fn a_bye_from_the_far_side_ends_the_dialog_with_200() {
    let (mut call, ack) = answered();
    let bye = format!(
        "BYE sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bK-far-bye\r\n\
From: {}\r\nTo: {}\r\nCall-ID: uac-call-1\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n",
        ack.headers.get("To").expect("to"),
        ack.headers.get("From").expect("from"),
    );
    let bye = parse(bye.as_bytes(), &Limits::default()).expect("parses");
    let far = addr("192.0.2.30:5062");
    call.on_message(Duration::from_secs(5), bye.clone(), far, Transport::Udp)
        .expect("accepted");
    let out = sent(&mut call);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr("192.0.2.30:5062"));
    let ok = match parse(&out[0].1, &Limits::default()).expect("parses") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("expected the 200"),
    };
    assert_eq!(ok.status, 200);
    assert_eq!(ok.cseq().expect("cseq").method, Method::Bye);
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::RemoteBye)]
    );
    // Its retransmission gets the same 200 and no second event.
    call.on_message(Duration::from_secs(6), bye, far, Transport::Udp)
        .expect("absorbed");
    assert_eq!(sent(&mut call).len(), 1);
    assert!(events(&mut call).is_empty());
    assert_eq!(call.bye(Duration::from_secs(7)), Err(UacError::Ended));
}

#[test]
fn a_bye_for_another_dialog_gets_481_and_the_call_stays_up() {
    let (mut call, _) = answered();
    let bye = "BYE sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bK-stray\r\n\
From: <sip:rep@192.0.2.20>;tag=someone-else\r\nTo: <sip:x@198.51.100.7>;tag=lt1\r\n\
Call-ID: uac-call-1\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n";
    let bye = parse(bye.as_bytes(), &Limits::default()).expect("parses");
    feed(&mut call, Duration::from_secs(5), bye);
    let out = sent(&mut call);
    assert!(String::from_utf8_lossy(&out[0].1).starts_with("SIP/2.0 481"));
    assert!(events(&mut call).is_empty());
    assert!(!call.is_ended());
}

#[test]
fn our_bye_is_a_transaction_and_ends_the_call_on_its_200() {
    let (mut call, ack) = answered();
    assert_eq!(
        call.cancel(Duration::from_secs(1)),
        Err(UacError::AlreadyAnswered)
    );
    call.bye(Duration::from_secs(1)).expect("bye");
    let bye = request(&sent(&mut call)[0].1);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.cseq().expect("cseq").seq, 2);
    assert_eq!(bye.headers.get("To"), ack.headers.get("To"));
    // Timer E re-sends it until the answer.
    call.on_timeout(Duration::from_millis(1500));
    assert_eq!(sent(&mut call).len(), 1);
    assert!(events(&mut call).is_empty());
    feed(&mut call, Duration::from_secs(2), reply(&bye, 200, "", ""));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::LocalBye)]
    );
}

#[test]
fn timer_f_on_our_bye_still_ends_the_call() {
    let (mut call, _) = answered();
    call.bye(Duration::from_secs(1)).expect("bye");
    while let Some(at) = call.poll_timeout() {
        call.on_timeout(at);
        sent(&mut call);
        if call.is_ended() {
            break;
        }
    }
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::LocalBye)]
    );
}

#[test]
fn a_reinvite_gets_its_own_transaction_and_ack() {
    let (mut call, _) = answered();
    let hold = OFFER.replace("RTP/AVP 0\r\n", "RTP/AVP 0\r\na=sendonly\r\n");
    call.reinvite(Duration::from_secs(1), hold.clone().into_bytes())
        .expect("reinvite");
    assert_eq!(
        call.reinvite(Duration::from_secs(1), hold.clone().into_bytes()),
        Err(UacError::ReinvitePending)
    );
    let out = sent(&mut call);
    let reinvite = request(&out[0].1);
    assert_eq!(out[0].0, addr("192.0.2.30:5062"), "to the remote target");
    assert_eq!(reinvite.method, Method::Invite);
    assert_eq!(reinvite.cseq().expect("cseq").seq, 2);
    assert_eq!(SipHeaders::to(&reinvite).expect("to").tag(), Some("callee"));
    assert_eq!(reinvite.body, hold.as_bytes());
    let ok = reply(
        &reinvite,
        200,
        "Contact: <sip:rep@192.0.2.31:5062>\r\n",
        ANSWER,
    );
    feed(&mut call, Duration::from_secs(2), ok.clone());
    let out = sent(&mut call);
    let ack = request(&out[0].1);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.cseq().expect("cseq").seq, 2);
    assert_eq!(ack.uri.to_string(), "sip:rep@192.0.2.31:5062", "moved");
    assert_ne!(branch(&ack), branch(&reinvite));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::ReinviteAnswered {
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
    // Retransmitted 2xx: the same ACK, no second event.
    feed(&mut call, Duration::from_secs(3), ok);
    assert_eq!(sent(&mut call), out);
    assert!(events(&mut call).is_empty());
}

#[test]
fn a_reinvite_refused_with_491_leaves_the_call_up() {
    let (mut call, _) = answered();
    call.reinvite(Duration::from_secs(1), OFFER.as_bytes().to_vec())
        .expect("reinvite");
    let reinvite = request(&sent(&mut call)[0].1);
    feed(
        &mut call,
        Duration::from_secs(2),
        reply(&reinvite, 491, "", ""),
    );
    assert_eq!(
        events(&mut call),
        vec![UacEvent::ReinviteRejected { status: 491 }]
    );
    assert!(!call.is_ended());
    call.reinvite(Duration::from_secs(3), OFFER.as_bytes().to_vec())
        .expect("a new re-INVITE may go");
}

#[test]
fn a_bye_challenged_with_407_is_resent_with_credentials() {
    let (mut call, _) = answered();
    call.bye(Duration::from_secs(1)).expect("bye");
    let bye = request(&sent(&mut call)[0].1);
    let challenge = format!("Proxy-Authenticate: {CHALLENGE}\r\n");
    feed(
        &mut call,
        Duration::from_secs(2),
        reply(&bye, 407, &challenge, ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 1, "a non-INVITE final gets no ACK");
    let again = request(&out[0].1);
    assert_eq!(again.method, Method::Bye);
    assert_eq!(again.cseq().expect("cseq").seq, 3);
    assert_eq!(again.headers.get("To"), bye.headers.get("To"));
    let auth = again
        .headers
        .get("Proxy-Authorization")
        .expect("Proxy-Authorization");
    assert!(auth.contains("uri=\"sip:rep@192.0.2.30:5062\""), "{auth}");
    assert!(events(&mut call).is_empty());
    feed(
        &mut call,
        Duration::from_secs(3),
        reply(&again, 200, "", ""),
    );
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::LocalBye)]
    );
}

#[test]
fn a_reinvite_that_times_out_ends_the_dialog_with_bye() {
    let (mut call, _) = answered();
    call.reinvite(Duration::from_secs(1), OFFER.as_bytes().to_vec())
        .expect("reinvite");
    let mut bye = None;
    while let Some(at) = call.poll_timeout() {
        call.on_timeout(at);
        for (_, bytes) in sent(&mut call) {
            let r = request(&bytes);
            if r.method == Method::Bye {
                bye = Some((at, r));
            }
        }
        if bye.is_some() {
            break;
        }
    }
    let (at, bye) = bye.expect("a BYE after Timer B");
    assert_eq!(at, Duration::from_secs(33));
    feed(&mut call, at, reply(&bye, 200, "", ""));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(UacError::Timeout {
            method: Method::Invite
        }))]
    );
}

#[test]
fn the_far_sides_reinvite_is_answered_and_its_2xx_resent_until_the_ack() {
    let (mut call, ack) = answered();
    let secs = Duration::from_secs;
    let reinvite = far_request(&ack, "INVITE", 9, "z9hG4bK-far-re", OFFER);
    from_far(&mut call, secs(5), reinvite);
    assert_eq!(
        events(&mut call),
        vec![UacEvent::ReinviteReceived {
            sdp: OFFER.as_bytes().to_vec()
        }]
    );
    assert!(sent(&mut call).is_empty(), "the owner answers");
    call.accept_reinvite(secs(5), ANSWER.as_bytes().to_vec())
        .expect("accept");
    assert_eq!(
        call.accept_reinvite(secs(5), Vec::new()),
        Err(UacError::NoReinviteToAnswer)
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, far());
    let ok = match parse(&out[0].1, &Limits::default()).expect("parses") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("expected the 200"),
    };
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, ANSWER.as_bytes());
    assert!(ok.headers.get("Contact").is_some());
    // T1 later, no ACK yet: the same 2xx again.
    let resend_at = call.poll_timeout().expect("armed");
    assert_eq!(resend_at, secs(5) + Duration::from_millis(500));
    call.on_timeout(resend_at);
    assert_eq!(sent(&mut call), out);
    let ack2xx = far_request(&ack, "ACK", 9, "z9hG4bK-far-ack", "");
    from_far(&mut call, secs(6), ack2xx);
    assert!(events(&mut call).is_empty());
    call.on_timeout(secs(7));
    assert!(sent(&mut call).is_empty(), "acknowledged: no more re-sends");
    // Our own re-INVITE may go again.
    call.reinvite(secs(8), OFFER.as_bytes().to_vec())
        .expect("reinvite");
}

#[test]
fn a_far_side_reinvite_can_be_refused_and_the_call_stays_up() {
    let (mut call, ack) = answered();
    let reinvite = far_request(&ack, "INVITE", 9, "z9hG4bK-far-re", OFFER);
    from_far(&mut call, Duration::from_secs(5), reinvite);
    events(&mut call);
    assert!(call.reject_reinvite(Duration::from_secs(5), 200).is_err());
    call.reject_reinvite(Duration::from_secs(5), 488)
        .expect("reject");
    let out = sent(&mut call);
    assert_eq!(status_of(&out[0].1), 488);
    assert!(!call.is_ended());
}

#[test]
fn a_far_side_reinvite_never_acked_ends_the_dialog_with_bye() {
    let (mut call, ack) = answered();
    let reinvite = far_request(&ack, "INVITE", 9, "z9hG4bK-far-re", OFFER);
    from_far(&mut call, Duration::from_secs(5), reinvite);
    call.accept_reinvite(Duration::from_secs(5), ANSWER.as_bytes().to_vec())
        .expect("accept");
    let mut bye = None;
    while let Some(at) = call.poll_timeout() {
        call.on_timeout(at);
        for (_, bytes) in sent(&mut call) {
            if bytes.starts_with(b"BYE ") {
                bye = Some((at, request(&bytes)));
            }
        }
        if bye.is_some() {
            break;
        }
    }
    let (at, bye) = bye.expect("a BYE after 64*T1");
    assert_eq!(at, Duration::from_secs(37));
    feed(&mut call, at, reply(&bye, 200, "", ""));
    assert_eq!(
        events(&mut call),
        vec![
            UacEvent::ReinviteReceived {
                sdp: OFFER.as_bytes().to_vec()
            },
            UacEvent::Ended(EndReason::Failed(UacError::NoAck))
        ]
    );
}

#[test]
fn crossing_reinvites_get_491() {
    let (mut call, ack) = answered();
    call.reinvite(Duration::from_secs(1), OFFER.as_bytes().to_vec())
        .expect("reinvite");
    sent(&mut call);
    let theirs = far_request(&ack, "INVITE", 9, "z9hG4bK-far-re", OFFER);
    from_far(&mut call, Duration::from_secs(1), theirs);
    assert_eq!(status_of(&sent(&mut call)[0].1), 491);
    assert!(events(&mut call).is_empty());
}

#[test]
fn a_481_to_our_reinvite_ends_the_dialog() {
    let (mut call, _) = answered();
    call.reinvite(Duration::from_secs(1), OFFER.as_bytes().to_vec())
        .expect("reinvite");
    let reinvite = request(&sent(&mut call)[0].1);
    feed(
        &mut call,
        Duration::from_secs(2),
        reply(&reinvite, 481, "", ""),
    );
    let out = sent(&mut call);
    let bye = request(&out.last().expect("BYE").1);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.cseq().expect("cseq").seq, 3);
    feed(&mut call, Duration::from_secs(3), reply(&bye, 481, "", ""));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(UacError::DialogGone {
            status: 481
        }))]
    );
}

#[test]
fn hang_up_cancels_before_the_answer_and_byes_after() {
    let (mut call, invite) = start();
    call.hang_up(Duration::ZERO).expect("hang up");
    assert!(sent(&mut call).is_empty(), "no provisional yet");
    feed(
        &mut call,
        Duration::from_millis(10),
        reply(&invite, 100, "", ""),
    );
    assert_eq!(request(&sent(&mut call)[0].1).method, Method::Cancel);

    let (mut call, _) = answered();
    call.hang_up(Duration::from_secs(1)).expect("hang up");
    assert_eq!(request(&sent(&mut call)[0].1).method, Method::Bye);
    call.hang_up(Duration::from_secs(1))
        .expect("twice is harmless");
    assert!(sent(&mut call).is_empty());
}
