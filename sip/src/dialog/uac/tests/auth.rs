//! Digest answers to 401/407 (RFC 3261 §22.2): once per challenge, with
//! CSeq + 1 and the same Call-ID and tags; a refused answer ends the call.

use super::*;

#[test]
fn a_401_is_answered_once_with_credentials_and_a_second_401_fails() {
    let (mut call, invite) = start();
    let challenge = format!("WWW-Authenticate: {CHALLENGE}\r\n");
    feed(
        &mut call,
        Duration::from_millis(30),
        reply(&invite, 401, &challenge, ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 2);
    let ack = request(&out[0].1);
    assert_eq!(
        (ack.method.clone(), branch(&ack)),
        (Method::Ack, branch(&invite))
    );
    let again = request(&out[1].1);
    assert_eq!(again.method, Method::Invite);
    assert_eq!(again.cseq().expect("cseq").seq, 2);
    assert_eq!(again.call_id(), invite.call_id());
    assert_eq!(again.headers.get("From"), invite.headers.get("From"));
    assert_ne!(branch(&again), branch(&invite));
    assert_eq!(again.body, invite.body);
    let auth = again.headers.get("Authorization").expect("Authorization");
    assert!(auth.starts_with("Digest username=\"rep\""), "{auth}");
    assert!(auth.contains("uri=\"sip:rep@192.0.2.20:5060\""), "{auth}");
    assert!(events(&mut call).is_empty());

    feed(
        &mut call,
        Duration::from_millis(60),
        reply(&again, 401, &challenge.replace("n1", "n2"), ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 1, "only the ACK: no third INVITE");
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(
            UacError::CredentialsRejected {
                status: 401,
                method: Method::Invite
            }
        ))]
    );
}

#[test]
fn a_407_is_answered_with_proxy_authorization_which_the_ack_repeats() {
    let (mut call, invite) = start();
    let challenge = format!("Proxy-Authenticate: {CHALLENGE}\r\n");
    feed(
        &mut call,
        Duration::from_millis(30),
        reply(&invite, 407, &challenge, ""),
    );
    let again = request(&sent(&mut call)[1].1);
    assert!(again.headers.get("Proxy-Authorization").is_some());
    assert!(again.headers.get("Authorization").is_none());
    feed(
        &mut call,
        Duration::from_millis(60),
        reply(&again, 200, CONTACT, ANSWER),
    );
    let ack = request(&sent(&mut call)[0].1);
    assert_eq!(ack.cseq().expect("cseq").seq, 2);
    assert_eq!(
        ack.headers.get("Proxy-Authorization"),
        again.headers.get("Proxy-Authorization")
    );
    assert!(matches!(
        events(&mut call).as_slice(),
        [UacEvent::Answered { .. }]
    ));
    // The dialog's CSeq space continues after the retried INVITE.
    call.bye(Duration::from_secs(1)).expect("bye");
    let bye = request(&sent(&mut call)[0].1);
    assert_eq!(bye.cseq().expect("cseq").seq, 3);
}

#[test]
fn a_challenge_without_credentials_fails_clearly() {
    let mut config = config();
    config.credentials = None;
    let mut call = UacCall::new(config, Duration::ZERO).expect("call");
    let invite = request(&sent(&mut call)[0].1);
    let challenge = format!("WWW-Authenticate: {CHALLENGE}\r\n");
    feed(
        &mut call,
        Duration::from_millis(30),
        reply(&invite, 401, &challenge, ""),
    );
    assert_eq!(
        events(&mut call),
        vec![UacEvent::Ended(EndReason::Failed(
            UacError::NoCredentials {
                status: 401,
                method: Method::Invite
            }
        ))]
    );
}

#[test]
fn a_challenged_reinvite_is_resent_with_credentials_and_its_ack_carries_them() {
    let (mut call, _) = answered();
    call.reinvite(Duration::from_secs(1), OFFER.as_bytes().to_vec())
        .expect("reinvite");
    let reinvite = request(&sent(&mut call)[0].1);
    let challenge = format!("WWW-Authenticate: {CHALLENGE}\r\n");
    feed(
        &mut call,
        Duration::from_secs(2),
        reply(&reinvite, 401, &challenge, ""),
    );
    let out = sent(&mut call);
    assert_eq!(out.len(), 2, "the transaction's ACK, then the retry");
    let again = request(&out[1].1);
    assert_eq!(again.method, Method::Invite);
    assert_eq!(again.cseq().expect("cseq").seq, 3);
    assert_eq!(again.headers.get("To"), reinvite.headers.get("To"));
    assert_eq!(again.body, reinvite.body);
    let auth = again.headers.get("Authorization").expect("Authorization");
    assert!(auth.contains("uri=\"sip:rep@192.0.2.30:5062\""), "{auth}");
    assert!(events(&mut call).is_empty());
    assert_eq!(
        call.reinvite(Duration::from_secs(2), Vec::new()),
        Err(UacError::ReinvitePending),
        "the retry is still the re-INVITE in progress"
    );
    feed(
        &mut call,
        Duration::from_secs(3),
        reply(&again, 200, CONTACT, ANSWER),
    );
    let ack = request(&sent(&mut call)[0].1);
    assert_eq!(ack.cseq().expect("cseq").seq, 3);
    assert_eq!(ack.headers.get("Authorization"), Some(auth));
    assert_eq!(
        events(&mut call),
        vec![UacEvent::ReinviteAnswered {
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
}
