//! The referrer's watch, in simulated time.

use std::time::{Duration, Instant};

use super::*;

fn status(code: u16, extra: &str) -> Response {
    response(&format!(
        "SIP/2.0 {code} {}\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-r1\r\n\
         From: <sip:+15551230000@198.51.100.7>;tag=ours\r\n\
         To: <sip:+15559870000@carrier.example>;tag=caller\r\n\
         Call-ID: call-1@carrier\r\n\
         CSeq: 1 REFER\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n",
        crate::message::reason_phrase(code)
    ))
}

/// A NOTIFY as the carrier sends it, through the parser.
fn notify(code: u16, state: &str, id: u32) -> ReferNotify {
    let frag = format!("SIP/2.0 {code} {}\r\n", crate::message::reason_phrase(code));
    let text = format!(
        "NOTIFY sip:warmline@198.51.100.7:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-n{code}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+15559870000@carrier.example>;tag=caller\r\n\
         To: <sip:+15551230000@198.51.100.7>;tag=ours\r\n\
         Call-ID: call-1@carrier\r\n\
         CSeq: {code} NOTIFY\r\n\
         Event: refer;id={id}\r\n\
         Subscription-State: {state}\r\n\
         Content-Type: message/sipfrag;version=2.0\r\n\
         Content-Length: {}\r\n\r\n{frag}",
        frag.len()
    );
    ReferNotify::parse(&request(&text)).expect("refer notify")
}

const ACTIVE: &str = "active;expires=60";
const DONE: &str = "terminated;reason=noresource";

#[test]
fn a_notify_with_sipfrag_200_completes_the_transfer() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    assert_eq!(w.on_response(&status(100, ""), t), None);
    assert_eq!(
        w.on_response(&status(202, ""), t),
        Some(ReferEvent::Accepted)
    );
    assert!(w.is_accepted());
    assert_eq!(w.poll_timeout(), Some(t + Duration::from_secs(120)));
    let t1 = t + Duration::from_millis(300);
    assert_eq!(
        w.on_notify(&notify(100, ACTIVE, 1), t1),
        Some(ReferEvent::Progress { status: 100 })
    );
    assert_eq!(
        w.on_notify(&notify(180, ACTIVE, 1), t1),
        Some(ReferEvent::Progress { status: 180 })
    );
    let t2 = t + Duration::from_secs(9);
    assert_eq!(
        w.on_notify(&notify(200, DONE, 1), t2),
        Some(ReferEvent::Finished(ReferOutcome::Succeeded {
            status: 200
        }))
    );
    assert!(w.outcome().unwrap().succeeded());
    assert_eq!(w.poll_timeout(), None);
    assert_eq!(w.handle_timeout(t + Duration::from_secs(600)), None);
}

#[test]
fn a_405_to_refer_says_the_peer_refuses_refer() {
    for code in [403, 405, 501] {
        let t = Instant::now();
        let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
        assert_eq!(
            w.on_response(&status(code, "Allow: INVITE, ACK, BYE, CANCEL\r\n"), t),
            Some(ReferEvent::Finished(ReferOutcome::PeerRefusesRefer {
                status: code
            }))
        );
        assert_eq!(w.poll_timeout(), None);
    }
}

#[test]
fn other_failures_to_refer_are_rejections_not_refusals() {
    let t = Instant::now();
    for code in [401, 481, 488, 500, 408] {
        let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
        assert_eq!(
            w.on_response(&status(code, ""), t),
            Some(ReferEvent::Finished(ReferOutcome::Rejected {
                status: code
            }))
        );
    }
}

#[test]
fn a_busy_target_fails_the_transfer_and_leaves_the_call_ours() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    let _ = w.on_response(&status(202, ""), t);
    assert_eq!(
        w.on_notify(&notify(486, DONE, 1), t),
        Some(ReferEvent::Finished(ReferOutcome::Failed { status: 486 }))
    );
    assert_eq!(w.last_status(), Some(486));
}

#[test]
fn a_refer_with_no_answer_times_out() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    assert_eq!(w.poll_timeout(), Some(t + Duration::from_secs(32)));
    assert_eq!(w.handle_timeout(t + Duration::from_secs(31)), None);
    assert_eq!(
        w.handle_timeout(t + Duration::from_secs(32)),
        Some(ReferEvent::Finished(ReferOutcome::TimedOut {
            accepted: false
        }))
    );
    // A late 202 changes nothing.
    assert_eq!(
        w.on_response(&status(202, ""), t + Duration::from_secs(33)),
        None
    );
}

#[test]
fn an_accepted_transfer_without_a_final_notify_times_out() {
    let t = Instant::now();
    let config = ReferWatchConfig {
        accept_timeout: Duration::from_secs(5),
        completion_timeout: Duration::from_secs(30),
    };
    let mut w = ReferWatch::new(t, 1, config);
    let t1 = t + Duration::from_secs(2);
    let _ = w.on_response(&status(202, ""), t1);
    let _ = w.on_notify(&notify(180, ACTIVE, 1), t1);
    assert_eq!(w.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    assert_eq!(w.handle_timeout(t + Duration::from_secs(31)), None);
    assert_eq!(
        w.handle_timeout(t1 + Duration::from_secs(30)),
        Some(ReferEvent::Finished(ReferOutcome::TimedOut {
            accepted: true
        }))
    );
    assert_eq!(w.last_status(), Some(180));
}

#[test]
fn a_notify_that_overtakes_the_202_counts_as_acceptance() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    assert_eq!(
        w.on_notify(&notify(100, ACTIVE, 1), t),
        Some(ReferEvent::Accepted)
    );
    assert!(w.is_accepted());
    // The 202 that arrives after is a duplicate acceptance: nothing new.
    assert_eq!(w.on_response(&status(202, ""), t), None);
    assert_eq!(
        w.on_notify(&notify(200, DONE, 1), t),
        Some(ReferEvent::Finished(ReferOutcome::Succeeded {
            status: 200
        }))
    );
}

#[test]
fn a_notify_about_another_refer_is_ignored() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 7, ReferWatchConfig::default());
    let _ = w.on_response(&status(202, ""), t);
    assert_eq!(w.on_notify(&notify(200, DONE, 6), t), None);
    assert!(w.is_accepted());
}

#[test]
fn an_acceptance_with_refer_sub_false_ends_without_a_report() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    assert_eq!(
        w.on_response(&status(202, "Refer-Sub: false\r\n"), t),
        Some(ReferEvent::Finished(ReferOutcome::AcceptedWithoutReport))
    );
}

#[test]
fn a_subscription_terminated_without_a_final_status_ends_the_watch() {
    let t = Instant::now();
    let mut w = ReferWatch::new(t, 1, ReferWatchConfig::default());
    let _ = w.on_response(&status(202, ""), t);
    assert_eq!(
        w.on_notify(&notify(100, "terminated;reason=timeout", 1), t),
        Some(ReferEvent::Finished(ReferOutcome::SubscriptionEnded {
            last_status: Some(100)
        }))
    );
}

/// A fresh watch and its start time, for other test files.
pub(super) struct ReferWatchFixture(pub ReferWatch, pub Instant);

impl ReferWatchFixture {
    pub(super) fn new() -> ReferWatchFixture {
        let t = Instant::now();
        ReferWatchFixture(ReferWatch::new(t, 3, ReferWatchConfig::default()), t)
    }
}
