use std::time::Duration;

use super::*;
use crate::message::{parse, Limits, Message};

const INVITE: &str = "INVITE sip:+15551230000@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-1\r\n\
Record-Route: <sip:sbc1.carrier.example;lr>, <sip:sbc2.carrier.example;lr>\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15559870000@carrier.example>;tag=caller\r\n\
To: <sip:+15551230000@198.51.100.7>\r\n\
Call-ID: call-1@carrier\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:+15559870000@203.0.113.10:5060>\r\n\
Supported: timer\r\n\
Session-Expires: 1800\r\n\
Content-Length: 0\r\n\r\n";

fn request(text: &str) -> Request {
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("response"),
    }
}

fn dialog() -> Dialog {
    Dialog::uas(
        &request(INVITE),
        "ours",
        Uri::parse("sip:warmline@198.51.100.7:5060").expect("uri"),
    )
    .expect("dialog")
}

#[test]
fn bye_from_the_uas_goes_through_the_route_set_with_swapped_tags() {
    let mut d = dialog();
    let bye = d
        .request(Method::Bye, "z9hG4bK-bye", "198.51.100.7:5060", "UDP")
        .expect("bye");
    assert_eq!(bye.uri.to_string(), "sip:+15559870000@203.0.113.10:5060");
    assert_eq!(SipHeaders::from(&bye).expect("from").tag(), Some("ours"));
    assert_eq!(SipHeaders::to(&bye).expect("to").tag(), Some("caller"));
    assert_eq!(bye.cseq().expect("cseq").seq, 1);
    assert_eq!(bye.cseq().expect("cseq").method, Method::Bye);
    let routes = bye.headers.get_all("Route");
    assert_eq!(
        routes,
        vec![
            "<sip:sbc1.carrier.example;lr>",
            "<sip:sbc2.carrier.example;lr>"
        ]
    );
    assert_eq!(d.next_hop().to_string(), "sip:sbc1.carrier.example;lr");
    // The request survives its own parser.
    let again = request(std::str::from_utf8(&bye.to_bytes()).expect("utf8"));
    assert_eq!(again, bye);
    let second = d
        .request(Method::Bye, "z9hG4bK-bye2", "198.51.100.7:5060", "UDP")
        .expect("bye");
    assert_eq!(second.cseq().expect("cseq").seq, 2);
}

#[test]
fn in_dialog_requests_match_by_call_id_and_both_tags_and_need_rising_cseq() {
    let mut d = dialog();
    let bye = INVITE
        .replace("INVITE sip", "BYE sip")
        .replace("CSeq: 10 INVITE", "CSeq: 11 BYE")
        .replace(
            "To: <sip:+15551230000@198.51.100.7>",
            "To: <sip:+15551230000@198.51.100.7>;tag=ours",
        );
    let bye = request(&bye);
    assert!(d.matches(&bye));
    assert_eq!(d.accept_remote_cseq(&bye), Ok(()));
    assert_eq!(
        d.accept_remote_cseq(&bye),
        Err(DialogError::CSeqOutOfOrder { got: 11, last: 11 })
    );
    let stranger = request(&INVITE.replace("tag=caller", "tag=other").replace(
        "To: <sip:+15551230000@198.51.100.7>",
        "To: <sip:+15551230000@198.51.100.7>;tag=ours",
    ));
    assert!(!d.matches(&stranger));
}

#[test]
fn a_reinvite_moves_the_remote_target() {
    let mut d = dialog();
    let reinvite = request(
        &INVITE
            .replace("CSeq: 10", "CSeq: 12")
            .replace("203.0.113.10:5060>", "203.0.113.99:5070>"),
    );
    d.refresh_target(&reinvite);
    assert_eq!(
        d.remote_target.to_string(),
        "sip:+15559870000@203.0.113.99:5070"
    );
}

#[test]
fn answer_is_resent_on_the_t1_schedule_until_ack_and_given_up_at_64_t1() {
    let t1 = Duration::from_millis(500);
    let t2 = Duration::from_secs(4);
    let mut r = AnswerRetransmit::new(Duration::ZERO, t1, t2, false);
    let mut sent = Vec::new();
    let mut now = Duration::ZERO;
    let mut gave_up = None;
    while now <= Duration::from_secs(40) {
        match r.poll(now) {
            Some(AnswerAction::Resend) => sent.push(now.as_millis()),
            Some(AnswerAction::GiveUp) => {
                gave_up = Some(now);
                break;
            }
            None => {}
        }
        now += Duration::from_millis(10);
    }
    assert_eq!(
        &sent[..7],
        &[500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500]
    );
    assert_eq!(gave_up, Some(Duration::from_secs(32)));

    let mut acked = AnswerRetransmit::new(Duration::ZERO, t1, t2, false);
    assert_eq!(
        acked.poll(Duration::from_millis(500)),
        Some(AnswerAction::Resend)
    );
    acked.acked();
    assert_eq!(acked.poll(Duration::from_secs(60)), None);
    assert_eq!(acked.next_deadline(), None);

    let mut tcp = AnswerRetransmit::new(Duration::ZERO, t1, t2, true);
    assert_eq!(tcp.poll(Duration::from_secs(1)), None);
    assert_eq!(
        tcp.poll(Duration::from_secs(32)),
        Some(AnswerAction::GiveUp)
    );
}

#[test]
fn session_timer_negotiation_follows_rfc_4028() {
    let config = SessionTimerConfig::default();
    let with_timer = request(INVITE);
    assert_eq!(
        negotiate_uas(&with_timer, &config),
        SessionTimerOutcome::Active {
            interval: 1800,
            refresher: Refresher::Uac,
            uac_supports: true
        }
    );
    let too_small = request(&INVITE.replace("Session-Expires: 1800", "Session-Expires: 60"));
    let outcome = negotiate_uas(&too_small, &config);
    assert_eq!(outcome, SessionTimerOutcome::TooSmall { min_se: 90 });
    assert_eq!(
        outcome.response_headers(),
        vec![("Min-SE", "90".to_owned())]
    );
    let no_support = request(
        &INVITE
            .replace("Supported: timer\r\n", "")
            .replace("Session-Expires: 1800\r\n", ""),
    );
    let outcome = negotiate_uas(&no_support, &config);
    assert_eq!(
        outcome,
        SessionTimerOutcome::Active {
            interval: 1800,
            refresher: Refresher::Uas,
            uac_supports: false
        }
    );
    assert_eq!(
        outcome.response_headers(),
        vec![("Session-Expires", "1800;refresher=uas".to_owned())]
    );
    let uas_asked = request(&INVITE.replace("Session-Expires: 1800", "x: 600;refresher=uas"));
    assert!(matches!(
        negotiate_uas(&uas_asked, &config),
        SessionTimerOutcome::Active {
            interval: 600,
            refresher: Refresher::Uas,
            ..
        }
    ));
}

#[test]
fn the_refresher_refreshes_at_half_the_interval_and_the_other_side_expires_before_the_end() {
    let mut ours = SessionTimer::new(Duration::ZERO, 90, Refresher::Uas);
    assert_eq!(ours.next_deadline(), Duration::from_secs(45));
    assert_eq!(ours.poll(Duration::from_secs(44)), None);
    assert_eq!(
        ours.poll(Duration::from_secs(45)),
        Some(SessionTimerAction::Refresh)
    );
    assert_eq!(ours.poll(Duration::from_secs(46)), None);
    ours.refreshed(Duration::from_secs(46), 90, Refresher::Uas);
    assert_eq!(ours.next_deadline(), Duration::from_secs(91));

    // The caller refreshes: without one, expire at 1800 − 32 s.
    let mut theirs = SessionTimer::new(Duration::ZERO, 1800, Refresher::Uac);
    assert_eq!(theirs.next_deadline(), Duration::from_secs(1768));
    assert_eq!(theirs.poll(Duration::from_secs(900)), None);
    theirs.refreshed(Duration::from_secs(900), 1800, Refresher::Uac);
    assert_eq!(theirs.poll(Duration::from_secs(1768)), None);
    assert_eq!(
        theirs.poll(Duration::from_secs(2668)),
        Some(SessionTimerAction::Expired)
    );
    // A 90 s interval keeps a third, 30 s, in hand.
    let short = SessionTimer::new(Duration::ZERO, 90, Refresher::Uac);
    assert_eq!(short.next_deadline(), Duration::from_secs(60));
}

#[test]
fn ack_for_our_reinvite_reuses_its_cseq_number_without_advancing_ours() {
    let mut d = dialog();
    let reinvite = d
        .request(Method::Invite, "z9hG4bK-re", "198.51.100.7:5060", "UDP")
        .expect("re-INVITE");
    let seq = reinvite.cseq().expect("cseq").seq;
    let ack = d
        .ack(seq, "z9hG4bK-ack", "198.51.100.7:5060", "UDP")
        .expect("ack");
    assert_eq!(
        ack.cseq().expect("cseq"),
        crate::message::CSeq {
            seq,
            method: Method::Ack
        }
    );
    assert_eq!(ack.top_via().expect("via").branch(), Some("z9hG4bK-ack"));
    let next = d
        .request(Method::Bye, "z9hG4bK-bye", "198.51.100.7:5060", "UDP")
        .expect("bye");
    assert_eq!(next.cseq().expect("cseq").seq, seq + 1);
}
