//! Transaction scenarios in simulated time, with RFC-shaped messages
//! written as text and parsed by `message::parse`.

use super::*;
use crate::message::{parse, Limits, Message};

const CARRIER: &str = "203.0.113.10:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn parse_request(text: &str) -> Request {
    match parse(text.as_bytes(), &Limits::default()).expect("parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

fn parse_response(bytes: &[u8]) -> Response {
    match parse(bytes, &Limits::default()).expect("parses") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("expected a response"),
    }
}

/// A request from the carrier. `via` is the whole top Via value.
fn carrier_request(method: &str, cseq_method: &str, via: &str, to_tag: &str) -> Request {
    parse_request(&format!(
        "{method} sip:+15551230000@198.51.100.7 SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:+15559870000@carrier.example>;tag=abc123\r\n\
         To: <sip:+15551230000@198.51.100.7>{to_tag}\r\n\
         Call-ID: a84b4c76e66710@carrier.example\r\n\
         CSeq: 314159 {cseq_method}\r\n\
         Contact: <sip:+15559870000@203.0.113.10:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn carrier_via(branch: &str) -> String {
    format!("SIP/2.0/UDP 203.0.113.10:5060;branch={branch}")
}

fn carrier_invite(branch: &str) -> Request {
    carrier_request("INVITE", "INVITE", &carrier_via(branch), "")
}

/// A request of ours toward a rep's phone.
fn our_request(method: &str, branch: &str) -> Request {
    parse_request(&format!(
        "{method} sip:rep@192.0.2.20:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch};rport\r\n\
         Route: <sip:pbx.example;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:agent@198.51.100.7>;tag=us1\r\n\
         To: <sip:rep@192.0.2.20>\r\n\
         Call-ID: out-1@198.51.100.7\r\n\
         CSeq: 7 {method}\r\n\
         Contact: <sip:agent@198.51.100.7:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

/// The rep's response to one of our requests.
fn rep_response(status: u16, reason: &str, branch: &str, cseq_method: &str) -> Response {
    let tag = if status > 100 { ";tag=rep9" } else { "" };
    parse_response(
        format!(
            "SIP/2.0 {status} {reason}\r\n\
             Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch};rport=5060;received=198.51.100.7\r\n\
             From: <sip:agent@198.51.100.7>;tag=us1\r\n\
             To: <sip:rep@192.0.2.20>{tag}\r\n\
             Call-ID: out-1@198.51.100.7\r\n\
             CSeq: 7 {cseq_method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
}

/// A layer driven in simulated time, recording what it sends and says.
struct Sim {
    layer: TransactionLayer,
    sent: Vec<(Duration, Transmit)>,
    events: Vec<(Duration, TxEvent)>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            layer: TransactionLayer::new(TimerConfig::default()),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn collect(&mut self, now: Duration) {
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push((now, t));
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push((now, e));
        }
    }

    /// Fires every timer up to and including `end`.
    fn run_until(&mut self, end: Duration) {
        while let Some(at) = self.layer.next_timeout().filter(|at| *at <= end) {
            self.layer.handle_timeout(at);
            self.collect(at);
        }
    }

    fn request(&mut self, now: Duration, request: Request, transport: Transport) -> Incoming {
        self.run_until(now);
        let incoming = self
            .layer
            .on_request(now, request, addr(CARRIER), transport);
        self.collect(now);
        incoming
    }

    fn response(&mut self, now: Duration, response: Response) {
        self.run_until(now);
        self.layer
            .on_response(now, response, addr("192.0.2.20:5060"));
        self.collect(now);
    }

    fn respond(&mut self, now: Duration, id: ServerTxId, response: Response) {
        self.run_until(now);
        self.layer.respond(now, id, response).expect("respond");
        self.collect(now);
    }

    fn take_sent(&mut self) -> Vec<(Duration, Transmit)> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<(Duration, TxEvent)> {
        std::mem::take(&mut self.events)
    }

    fn sent_times(&mut self) -> Vec<Duration> {
        self.take_sent().into_iter().map(|(t, _)| t).collect()
    }

    /// Runs every timer out and checks nothing is left.
    fn assert_drains(&mut self) {
        self.run_until(Duration::from_secs(3600));
        assert_eq!(self.layer.len(), 0, "transactions leaked");
        assert!(self.layer.is_empty());
        assert_eq!(self.layer.armed_timers(), 0, "timers leaked");
        assert_eq!(self.layer.next_timeout(), None);
    }
}

fn new_server_tx(incoming: Incoming) -> (ServerTxId, Request) {
    match incoming {
        Incoming::Request { id, request, .. } => (id, request),
        other => panic!("expected a new request, got {other:?}"),
    }
}

fn status_of(t: &Transmit) -> u16 {
    parse_response(&t.bytes).status
}

fn times(list: &[f64]) -> Vec<Duration> {
    list.iter().map(|s| secs(*s)).collect()
}

#[test]
fn client_invite_retransmits_on_timer_a_doubling_and_times_out_on_timer_b() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKinv1"),
            addr("192.0.2.20:5060"),
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.run_until(secs(40.0));
    assert_eq!(
        sim.sent_times(),
        times(&[0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
    );
    assert_eq!(
        sim.take_events(),
        vec![
            (secs(32.0), TxEvent::Timeout { id }),
            (secs(32.0), TxEvent::Terminated(TxIdEither::Client(id))),
        ]
    );
    sim.assert_drains();

    // Over TCP: one send, no retransmissions, Timer B still fires.
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKinv2"),
            addr("192.0.2.20:5060"),
            Transport::Tcp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.run_until(secs(40.0));
    assert_eq!(sim.sent_times(), times(&[0.0]));
    assert_eq!(sim.take_events()[0], (secs(32.0), TxEvent::Timeout { id }));
    sim.assert_drains();
}

#[test]
fn non_invite_client_retransmits_capped_at_t2_and_times_out_on_timer_f() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("OPTIONS", "z9hG4bKopt1"),
            addr("192.0.2.20:5060"),
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.run_until(secs(40.0));
    assert_eq!(
        sim.sent_times(),
        times(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert_eq!(sim.take_events()[0], (secs(32.0), TxEvent::Timeout { id }));
    sim.assert_drains();
}

#[test]
fn non_invite_client_after_provisional_retransmits_every_t2_and_absorbs_final_retransmits() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("BYE", "z9hG4bKbye1"),
            addr("192.0.2.20:5060"),
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.response(secs(0.7), rep_response(100, "Trying", "z9hG4bKbye1", "BYE"));
    sim.response(secs(10.0), rep_response(200, "OK", "z9hG4bKbye1", "BYE"));
    // Timer E: 0.5, then 1.5 (the interval in force when the 100 came),
    // then every T2.
    assert_eq!(sim.sent_times(), times(&[0.0, 0.5, 1.5, 5.5, 9.5]));
    let events = sim.take_events();
    let statuses: Vec<u16> = events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Response { id: got, response } if *got == id => Some(response.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![100, 200]);

    // A retransmitted 200 during Timer K is absorbed.
    sim.response(secs(12.0), rep_response(200, "OK", "z9hG4bKbye1", "BYE"));
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.len(), 1);
    sim.run_until(secs(15.0));
    assert_eq!(
        sim.take_events(),
        vec![(secs(15.0), TxEvent::Terminated(TxIdEither::Client(id)))]
    );
    assert!(sim.take_sent().is_empty());
    sim.assert_drains();
}

#[test]
fn responses_are_matched_by_branch_and_cseq_method() {
    let mut sim = Sim::new();
    sim.layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKm1"),
            addr("192.0.2.20:5060"),
            Transport::Tcp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    // Same branch, but a CANCEL's response: not the INVITE's.
    sim.response(secs(0.1), rep_response(200, "OK", "z9hG4bKm1", "CANCEL"));
    // Right method, other branch.
    sim.response(
        secs(0.1),
        rep_response(180, "Ringing", "z9hG4bKm2", "INVITE"),
    );
    assert!(sim.take_events().is_empty());
    sim.response(
        secs(0.2),
        rep_response(180, "Ringing", "z9hG4bKm1", "INVITE"),
    );
    assert_eq!(sim.take_events().len(), 1);
}

#[test]
fn client_invite_acks_487_itself_with_the_same_branch_and_reacks_retransmissions() {
    let mut sim = Sim::new();
    let rep = addr("192.0.2.20:5060");
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKinv7"),
            rep,
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.response(
        secs(0.2),
        rep_response(180, "Ringing", "z9hG4bKinv7", "INVITE"),
    );
    let cancel = sim
        .layer
        .send_request(
            secs(5.0),
            our_request("CANCEL", "z9hG4bKinv7"),
            rep,
            Transport::Udp,
        )
        .expect("cancel");
    sim.collect(secs(5.0));
    sim.response(secs(5.1), rep_response(200, "OK", "z9hG4bKinv7", "CANCEL"));
    sim.take_sent();
    sim.take_events();

    sim.response(
        secs(5.2),
        rep_response(487, "Request Terminated", "z9hG4bKinv7", "INVITE"),
    );
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1, "one ACK");
    assert_eq!(sent[0].1.dest, rep);
    let ack = parse_request(std::str::from_utf8(&sent[0].1.bytes).expect("utf8"));
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:rep@192.0.2.20:5060");
    assert_eq!(
        ack.top_via().expect("via").branch(),
        Some("z9hG4bKinv7"),
        "ACK for a non-2xx reuses the INVITE's branch"
    );
    assert_eq!(ack.headers.get_all("Via").len(), 1);
    assert_eq!(ack.headers.get("CSeq"), Some("7 ACK"));
    assert_eq!(SipHeaders::to(&ack).expect("to").tag(), Some("rep9"));
    assert_eq!(ack.headers.get("Route"), Some("<sip:pbx.example;lr>"));
    let events = sim.take_events();
    assert!(matches!(
        &events[..],
        [(_, TxEvent::Response { id: got, response })] if *got == id && response.status == 487
    ));

    // The 487 again (our ACK was lost): ACK again, nothing for the TU.
    sim.response(
        secs(6.0),
        rep_response(487, "Request Terminated", "z9hG4bKinv7", "INVITE"),
    );
    let again = sim.take_sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.bytes, sent[0].1.bytes);
    assert!(sim.take_events().is_empty());

    // Timer D (32 s) ends the INVITE; Timer K ended the CANCEL.
    sim.run_until(secs(37.1));
    assert_eq!(
        sim.take_events(),
        vec![(secs(10.1), TxEvent::Terminated(TxIdEither::Client(cancel)))]
    );
    sim.run_until(secs(37.2));
    assert_eq!(
        sim.take_events(),
        vec![(secs(37.2), TxEvent::Terminated(TxIdEither::Client(id)))]
    );
    sim.assert_drains();
}

#[test]
fn invite_server_sends_100_trying_after_200_ms_when_the_tu_is_silent() {
    let mut sim = Sim::new();
    let (id, _) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKc1"), Transport::Udp));
    assert_eq!(sim.layer.next_timeout(), Some(secs(0.2)));
    sim.run_until(secs(0.199));
    assert!(sim.take_sent().is_empty());
    sim.run_until(secs(0.2));
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, secs(0.2));
    assert_eq!(sent[0].1.dest, addr(CARRIER));
    let trying = parse_response(&sent[0].1.bytes);
    assert_eq!(trying.status, 100);
    assert_eq!(SipHeaders::to(&trying).expect("to").tag(), None);

    // A TU that answers within 200 ms gets no automatic 100.
    let (id2, req2) =
        new_server_tx(sim.request(secs(1.0), carrier_invite("z9hG4bKc2"), Transport::Udp));
    sim.respond(secs(1.1), id2, req2.response(180, "Ringing", Some("ours1")));
    sim.run_until(secs(2.0));
    let statuses: Vec<u16> = sim.take_sent().iter().map(|(_, t)| status_of(t)).collect();
    assert_eq!(statuses, vec![180]);

    for (id, req) in [(id, carrier_invite("z9hG4bKc1")), (id2, req2)] {
        sim.respond(secs(2.0), id, req.response(486, "Busy Here", Some("ours1")));
        let ack = carrier_request(
            "ACK",
            "ACK",
            &carrier_via(req.top_via().expect("via").branch().expect("branch")),
            ";tag=ours1",
        );
        assert_eq!(
            sim.request(secs(2.0), ack, Transport::Udp),
            Incoming::Absorbed
        );
    }
    sim.assert_drains();
}

#[test]
fn invite_server_resends_the_last_provisional_to_a_retransmitted_invite() {
    let mut sim = Sim::new();
    let (id, req) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKr1"), Transport::Udp));
    sim.respond(secs(0.05), id, req.response(180, "Ringing", Some("t1")));
    sim.respond(
        secs(0.1),
        id,
        req.response(183, "Session Progress", Some("t1")),
    );
    sim.take_sent();
    let again = sim.request(secs(0.5), carrier_invite("z9hG4bKr1"), Transport::Udp);
    assert_eq!(again, Incoming::Absorbed);
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0].1), 183);
    assert!(sim.take_events().is_empty());

    // Before the TU says anything, a retransmission brings the 100 early.
    let (id2, req2) =
        new_server_tx(sim.request(secs(1.0), carrier_invite("z9hG4bKr2"), Transport::Udp));
    sim.request(secs(1.1), carrier_invite("z9hG4bKr2"), Transport::Udp);
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, status_of(&sent[0].1)), (secs(1.1), 100));
    sim.run_until(secs(1.5));
    assert!(sim.take_sent().is_empty(), "the 100 is not sent twice");

    sim.respond(secs(2.0), id, req.response(200, "OK", Some("t1")));
    sim.respond(secs(2.0), id2, req2.response(200, "OK", Some("t2")));
    sim.assert_drains();
}

#[test]
fn invite_server_retransmits_486_on_timer_g_until_the_ack_and_absorbs_acks() {
    let mut sim = Sim::new();
    let (id, req) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKg1"), Transport::Udp));
    sim.respond(
        Duration::ZERO,
        id,
        req.response(486, "Busy Here", Some("b1")),
    );
    sim.run_until(secs(11.9));
    // Intervals 0.5, 1, 2, 4, 4 (capped at T2).
    assert_eq!(sim.sent_times(), times(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5]));
    // The INVITE again in Completed: the 486 again.
    assert_eq!(
        sim.request(secs(11.95), carrier_invite("z9hG4bKg1"), Transport::Udp),
        Incoming::Absorbed
    );
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0].1), 486);

    let ack = || carrier_request("ACK", "ACK", &carrier_via("z9hG4bKg1"), ";tag=b1");
    assert_eq!(
        sim.request(secs(12.0), ack(), Transport::Udp),
        Incoming::Absorbed
    );
    assert_eq!(
        sim.request(secs(13.0), ack(), Transport::Udp),
        Incoming::Absorbed
    );
    sim.run_until(secs(16.9));
    assert!(sim.take_sent().is_empty(), "no retransmits after the ACK");
    assert_eq!(sim.layer.len(), 1);
    // Timer I (T4) after the first ACK.
    sim.run_until(secs(17.0));
    assert_eq!(
        sim.take_events(),
        vec![(secs(17.0), TxEvent::Terminated(TxIdEither::Server(id)))]
    );
    sim.assert_drains();
}

#[test]
fn invite_server_without_ack_reports_ack_timeout_on_timer_h_and_ends() {
    let mut sim = Sim::new();
    let (id, req) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKh1"), Transport::Udp));
    sim.respond(
        Duration::ZERO,
        id,
        req.response(486, "Busy Here", Some("b1")),
    );
    sim.run_until(secs(31.9));
    assert_eq!(
        sim.sent_times(),
        times(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert!(sim.take_events().is_empty());
    sim.run_until(secs(32.0));
    assert_eq!(
        sim.take_events(),
        vec![
            (secs(32.0), TxEvent::AckTimeout { id }),
            (secs(32.0), TxEvent::Terminated(TxIdEither::Server(id))),
        ]
    );
    assert_eq!(sim.layer.len(), 0);
    assert_eq!(
        sim.layer
            .respond(secs(33.0), id, req.response(486, "Busy Here", None)),
        Err(TxError::UnknownTransaction)
    );
    sim.assert_drains();
}

#[test]
fn invite_server_over_tcp_sends_the_final_once_and_ends_on_the_ack() {
    let mut sim = Sim::new();
    let (id, req) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKt1"), Transport::Tcp));
    sim.respond(secs(0.1), id, req.response(603, "Decline", Some("d1")));
    sim.run_until(secs(10.0));
    assert_eq!(sim.sent_times(), times(&[0.1]));
    let ack = carrier_request("ACK", "ACK", &carrier_via("z9hG4bKt1"), ";tag=d1");
    assert_eq!(
        sim.request(secs(10.0), ack, Transport::Tcp),
        Incoming::Absorbed
    );
    // Timer I is zero on TCP.
    assert_eq!(sim.layer.len(), 0);
    sim.assert_drains();
}

#[test]
fn invite_server_after_2xx_forwards_acks_absorbs_invites_and_ends_on_timer_l() {
    let mut sim = Sim::new();
    let (id, req) =
        new_server_tx(sim.request(Duration::ZERO, carrier_invite("z9hG4bKok1"), Transport::Udp));
    sim.respond(secs(0.1), id, req.response(200, "OK", Some("ok1")));
    assert_eq!(sim.sent_times(), times(&[0.1]));

    // The carrier did not get our 200 yet and retransmits the INVITE: the
    // transaction absorbs it and sends nothing (the TU re-sends the 200).
    assert_eq!(
        sim.request(secs(0.5), carrier_invite("z9hG4bKok1"), Transport::Udp),
        Incoming::Absorbed
    );
    sim.run_until(secs(5.0));
    assert!(sim.take_sent().is_empty(), "no 2xx retransmission here");

    // The TU's own 2xx retransmission still goes out through respond.
    sim.respond(secs(5.0), id, req.response(200, "OK", Some("ok1")));
    assert_eq!(sim.take_sent().len(), 1);
    assert_eq!(
        sim.layer
            .respond(secs(5.1), id, req.response(486, "Busy Here", Some("ok1"))),
        Err(TxError::AlreadyFinal)
    );

    // The 2xx ACK: a new branch per RFC 3261, and one that reuses the
    // INVITE's branch: both reach the TU.
    let ack_new = carrier_request("ACK", "ACK", &carrier_via("z9hG4bKack1"), ";tag=ok1");
    assert!(matches!(
        sim.request(secs(6.0), ack_new, Transport::Udp),
        Incoming::Ack2xx(a) if a.method == Method::Ack
    ));
    let ack_same = carrier_request("ACK", "ACK", &carrier_via("z9hG4bKok1"), ";tag=ok1");
    assert!(matches!(
        sim.request(secs(6.1), ack_same, Transport::Udp),
        Incoming::Ack2xx(_)
    ));
    assert_eq!(sim.layer.len(), 1);
    sim.run_until(secs(32.0));
    assert_eq!(sim.layer.len(), 1, "Timer L is 64*T1 after the 2xx");
    sim.run_until(secs(32.1));
    assert_eq!(
        sim.take_events(),
        vec![(secs(32.1), TxEvent::Terminated(TxIdEither::Server(id)))]
    );
    sim.assert_drains();
}

#[test]
fn cancel_names_the_pending_invite_it_matches_and_none_otherwise() {
    let mut sim = Sim::new();
    let (invite, req) = new_server_tx(sim.request(
        Duration::ZERO,
        carrier_invite("z9hG4bKcan1"),
        Transport::Udp,
    ));
    let cancel = |via: &str| carrier_request("CANCEL", "CANCEL", via, "");

    match sim.request(
        secs(1.0),
        cancel(&carrier_via("z9hG4bKcan1")),
        Transport::Udp,
    ) {
        Incoming::Request {
            id,
            request,
            cancels,
        } => {
            assert_ne!(id, invite, "CANCEL is a transaction of its own");
            assert_eq!(request.method, Method::Cancel);
            assert_eq!(cancels, Some(invite));
            sim.respond(secs(1.0), id, request.response(200, "OK", Some("x1")));
        }
        other => panic!("expected the CANCEL, got {other:?}"),
    }
    // Unknown branch, and right branch from another sent-by: no match.
    for via in [
        carrier_via("z9hG4bKcan9"),
        "SIP/2.0/UDP 203.0.113.99:5060;branch=z9hG4bKcan1".to_owned(),
    ] {
        match sim.request(secs(1.5), cancel(&via), Transport::Udp) {
            Incoming::Request {
                id,
                request,
                cancels,
            } => {
                assert_eq!(cancels, None);
                sim.respond(
                    secs(1.5),
                    id,
                    request.response(481, "Call/Transaction Does Not Exist", Some("x2")),
                );
            }
            other => panic!("expected the CANCEL, got {other:?}"),
        }
    }
    // A BYE with the INVITE's branch is not a CANCEL and creates its own
    // transaction rather than matching the INVITE.
    let bye = carrier_request("BYE", "BYE", &carrier_via("z9hG4bKcan1"), ";tag=x1");
    let (bye_id, bye_req) = new_server_tx(sim.request(secs(1.6), bye, Transport::Udp));
    sim.respond(secs(1.6), bye_id, bye_req.response(200, "OK", None));

    sim.respond(
        secs(2.0),
        invite,
        req.response(487, "Request Terminated", Some("x1")),
    );
    let ack = carrier_request("ACK", "ACK", &carrier_via("z9hG4bKcan1"), ";tag=x1");
    assert_eq!(
        sim.request(secs(2.1), ack, Transport::Udp),
        Incoming::Absorbed
    );
    sim.assert_drains();
}

/// Sends an OPTIONS from `source` with `via` and answers it, returning
/// where the 200 went and the Via it carried.
fn answer_from(source: &str, via: &str, transport: Transport) -> (SocketAddr, Transport, String) {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let incoming = layer.on_request(
        Duration::ZERO,
        carrier_request("OPTIONS", "OPTIONS", via, ""),
        addr(source),
        transport,
    );
    let (id, request) = new_server_tx(incoming);
    layer
        .respond(Duration::ZERO, id, request.response(200, "OK", Some("o1")))
        .expect("respond");
    let t = layer.poll_transmit().expect("a response");
    let via = parse_response(&t.bytes)
        .headers
        .get("Via")
        .expect("via")
        .to_owned();
    (t.dest, t.transport, via)
}

#[test]
fn responses_go_to_the_top_via_per_rfc_3261_and_rfc_3581() {
    // rport: the source ip:port, with rport and received filled in.
    let (dest, _, via) = answer_from(
        "203.0.113.10:40123",
        "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKn1;rport",
        Transport::Udp,
    );
    assert_eq!(dest, addr("203.0.113.10:40123"));
    assert_eq!(
        via,
        "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKn1;rport=40123;received=203.0.113.10"
    );
    // No rport: the source IP with the sent-by port.
    let (dest, _, via) = answer_from(
        "203.0.113.10:40123",
        "SIP/2.0/UDP carrier.example:5070;branch=z9hG4bKn2",
        Transport::Udp,
    );
    assert_eq!(dest, addr("203.0.113.10:5070"));
    assert_eq!(
        via,
        "SIP/2.0/UDP carrier.example:5070;branch=z9hG4bKn2;received=203.0.113.10"
    );
    // No port in sent-by: 5060. Same IP as the source: Via untouched.
    let (dest, _, via) = answer_from(
        "203.0.113.10:40123",
        "SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKn3",
        Transport::Udp,
    );
    assert_eq!(dest, addr("203.0.113.10:5060"));
    assert_eq!(via, "SIP/2.0/UDP 203.0.113.10;branch=z9hG4bKn3");
    // TCP: back over the connection it came on, whatever the Via says.
    let (dest, transport, _) = answer_from(
        "203.0.113.10:40123",
        "SIP/2.0/TCP 203.0.113.10:5060;branch=z9hG4bKn4",
        Transport::Tcp,
    );
    assert_eq!(
        (dest, transport),
        (addr("203.0.113.10:40123"), Transport::Tcp)
    );
}

#[test]
fn non_invite_server_resends_the_last_response_until_timer_j() {
    let mut sim = Sim::new();
    let options = || carrier_request("OPTIONS", "OPTIONS", &carrier_via("z9hG4bKo1"), "");
    let (id, req) = new_server_tx(sim.request(Duration::ZERO, options(), Transport::Udp));
    // Retransmitted before the TU answers: nothing to re-send.
    assert_eq!(
        sim.request(secs(0.5), options(), Transport::Udp),
        Incoming::Absorbed
    );
    assert!(sim.take_sent().is_empty());
    sim.respond(secs(0.6), id, req.response(200, "OK", Some("o1")));
    assert_eq!(
        sim.layer
            .respond(secs(0.6), id, req.response(200, "OK", Some("o1"))),
        Err(TxError::AlreadyFinal)
    );
    assert_eq!(
        sim.request(secs(1.5), options(), Transport::Udp),
        Incoming::Absorbed
    );
    assert_eq!(
        sim.request(secs(32.5), options(), Transport::Udp),
        Incoming::Absorbed
    );
    let sent = sim.take_sent();
    assert_eq!(
        sent.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        times(&[0.6, 1.5, 32.5])
    );
    assert!(sent.iter().all(|(_, t)| t.bytes == sent[0].1.bytes));
    // Timer J is 64*T1 after the final.
    sim.run_until(secs(32.6));
    assert_eq!(
        sim.take_events(),
        vec![(secs(32.6), TxEvent::Terminated(TxIdEither::Server(id)))]
    );
    // After that, the same request is new again.
    let (id2, req2) = new_server_tx(sim.request(secs(33.0), options(), Transport::Udp));
    assert_ne!(id2, id);
    sim.respond(secs(33.0), id2, req2.response(200, "OK", Some("o1")));
    sim.assert_drains();

    // Over TCP Timer J is zero: the final ends the transaction.
    let (id3, req3) = new_server_tx(sim.request(secs(40.0), options(), Transport::Tcp));
    sim.respond(secs(40.0), id3, req3.response(200, "OK", Some("o1")));
    assert_eq!(sim.layer.len(), 0);
    sim.assert_drains();
}

#[test]
fn over_the_transaction_cap_new_requests_get_a_stateless_503() {
    let mut sim = Sim::new();
    sim.layer = TransactionLayer::new(TimerConfig::default()).with_max_transactions(2);
    let opt = |branch: &str| carrier_request("OPTIONS", "OPTIONS", &carrier_via(branch), "");
    let (a, ra) = new_server_tx(sim.request(Duration::ZERO, opt("z9hG4bKq1"), Transport::Udp));
    let (b, rb) = new_server_tx(sim.request(Duration::ZERO, opt("z9hG4bKq2"), Transport::Udp));
    assert_eq!(
        sim.request(Duration::ZERO, opt("z9hG4bKq3"), Transport::Udp),
        Incoming::Rejected {
            error: TxError::Overloaded { max: 2 }
        }
    );
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    let busy = parse_response(&sent[0].1.bytes);
    assert_eq!(busy.status, 503);
    assert_eq!(busy.headers.get("Retry-After"), Some("5"));
    assert!(SipHeaders::to(&busy).expect("to").tag().is_some());
    assert_eq!(sent[0].1.dest, addr(CARRIER));
    assert_eq!(sim.layer.len(), 2);
    assert_eq!(
        sim.layer.send_request(
            Duration::ZERO,
            our_request("OPTIONS", "z9hG4bKq4"),
            addr("192.0.2.20:5060"),
            Transport::Udp
        ),
        Err(TxError::Overloaded { max: 2 })
    );
    // Retransmissions of live transactions are still absorbed.
    assert_eq!(
        sim.request(secs(0.1), opt("z9hG4bKq1"), Transport::Udp),
        Incoming::Absorbed
    );
    // An ACK is never answered, even when full.
    let ack = carrier_request("ACK", "ACK", &carrier_via("z9hG4bKq5"), ";tag=z");
    assert!(matches!(
        sim.request(secs(0.1), ack, Transport::Udp),
        Incoming::Ack2xx(_)
    ));
    assert!(sim.take_sent().is_empty());

    sim.respond(secs(0.2), a, ra.response(200, "OK", Some("o")));
    sim.respond(secs(0.2), b, rb.response(200, "OK", Some("o")));
    sim.assert_drains();
    // Room again once they are gone.
    assert!(matches!(
        sim.request(secs(100.0), opt("z9hG4bKq3"), Transport::Udp),
        Incoming::Request { .. }
    ));
}

#[test]
fn client_invite_passes_every_2xx_up_in_accepted_until_timer_m() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKacc1"),
            addr("192.0.2.20:5060"),
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.response(secs(1.0), rep_response(200, "OK", "z9hG4bKacc1", "INVITE"));
    sim.response(secs(1.5), rep_response(200, "OK", "z9hG4bKacc1", "INVITE"));
    // A late non-2xx in Accepted is dropped.
    sim.response(
        secs(1.6),
        rep_response(500, "Server Internal Error", "z9hG4bKacc1", "INVITE"),
    );
    let oks = sim
        .take_events()
        .into_iter()
        .filter(|(_, e)| matches!(e, TxEvent::Response { id: got, response } if *got == id && response.status == 200))
        .count();
    assert_eq!(oks, 2);
    // Retransmits stopped with the 2xx (Timer A at 0.5 only), and the layer
    // sends no ACK for a 2xx: that is the TU's, via send_stateless.
    assert_eq!(sim.sent_times(), times(&[0.0, 0.5]));
    sim.run_until(secs(32.9));
    assert_eq!(sim.layer.len(), 1);
    sim.run_until(secs(33.0));
    assert_eq!(
        sim.take_events(),
        vec![(secs(33.0), TxEvent::Terminated(TxIdEither::Client(id)))]
    );
    sim.assert_drains();

    sim.layer
        .send_stateless(addr("192.0.2.20:5060"), Transport::Udp, b"ACK".to_vec());
    let t = sim.layer.poll_transmit().expect("stateless");
    assert_eq!(t.bytes, b"ACK");
}

#[test]
fn client_invite_in_proceeding_gives_up_64_t1_after_a_cancel_without_a_final() {
    let mut sim = Sim::new();
    let rep = addr("192.0.2.20:5060");
    let id = sim
        .layer
        .send_request(
            Duration::ZERO,
            our_request("INVITE", "z9hG4bKg9"),
            rep,
            Transport::Udp,
        )
        .expect("send");
    sim.collect(Duration::ZERO);
    sim.response(
        secs(0.1),
        rep_response(180, "Ringing", "z9hG4bKg9", "INVITE"),
    );
    // Timer B does not run in Proceeding: the TU bounds the ring time.
    sim.run_until(secs(100.0));
    assert_eq!(sim.layer.len(), 1);
    sim.layer
        .send_request(
            secs(100.0),
            our_request("CANCEL", "z9hG4bKg9"),
            rep,
            Transport::Udp,
        )
        .expect("cancel");
    sim.collect(secs(100.0));
    sim.response(secs(100.1), rep_response(200, "OK", "z9hG4bKg9", "CANCEL"));
    sim.take_events();
    sim.run_until(secs(132.0));
    assert_eq!(
        sim.take_events()
            .into_iter()
            .filter(|(_, e)| matches!(e, TxEvent::Timeout { .. }))
            .collect::<Vec<_>>(),
        vec![(secs(132.0), TxEvent::Timeout { id })]
    );
    sim.assert_drains();
}

#[test]
fn send_request_refuses_ack_a_missing_branch_and_duplicates() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let rep = addr("192.0.2.20:5060");
    assert_eq!(
        layer.send_request(
            Duration::ZERO,
            our_request("ACK", "z9hG4bKa1"),
            rep,
            Transport::Udp
        ),
        Err(TxError::AckIsNotATransaction)
    );
    for branch in ["1234", "z9hG4bK"] {
        assert_eq!(
            layer.send_request(
                Duration::ZERO,
                our_request("OPTIONS", branch),
                rep,
                Transport::Udp
            ),
            Err(TxError::MissingBranch)
        );
    }
    layer
        .send_request(
            Duration::ZERO,
            our_request("OPTIONS", "z9hG4bKd1"),
            rep,
            Transport::Udp,
        )
        .expect("first");
    assert_eq!(
        layer.send_request(
            Duration::ZERO,
            our_request("OPTIONS", "z9hG4bKd1"),
            rep,
            Transport::Udp
        ),
        Err(TxError::DuplicateTransaction)
    );
    assert_eq!(layer.len(), 1);
}

#[test]
fn respond_refuses_unknown_ids_and_bad_status_codes() {
    let mut sim = Sim::new();
    let (id, req) = new_server_tx(sim.request(
        Duration::ZERO,
        carrier_request("INFO", "INFO", &carrier_via("z9hG4bKi1"), ";tag=x"),
        Transport::Udp,
    ));
    let mut bad = req.response(200, "OK", None);
    bad.status = 99;
    assert_eq!(
        sim.layer.respond(Duration::ZERO, id, bad),
        Err(TxError::InvalidStatus(99))
    );
    assert_eq!(
        sim.layer.respond(
            Duration::ZERO,
            ServerTxId(999),
            req.response(200, "OK", None)
        ),
        Err(TxError::UnknownTransaction)
    );
    sim.respond(Duration::ZERO, id, req.response(200, "OK", None));
    sim.assert_drains();
}

#[test]
fn legacy_rfc_2543_branches_still_match_retransmissions() {
    let mut sim = Sim::new();
    let via = "SIP/2.0/UDP 203.0.113.10:5060;branch=oldstyle42";
    let (id, req) = new_server_tx(sim.request(
        Duration::ZERO,
        carrier_request("INVITE", "INVITE", via, ""),
        Transport::Udp,
    ));
    sim.respond(
        secs(0.1),
        id,
        req.response(480, "Temporarily Unavailable", Some("l1")),
    );
    sim.take_sent();
    assert_eq!(
        sim.request(
            secs(0.2),
            carrier_request("INVITE", "INVITE", via, ""),
            Transport::Udp
        ),
        Incoming::Absorbed
    );
    assert_eq!(sim.take_sent().len(), 1);
    assert_eq!(
        sim.request(
            secs(0.3),
            carrier_request("ACK", "ACK", via, ";tag=l1"),
            Transport::Udp
        ),
        Incoming::Absorbed
    );
    sim.assert_drains();
}

#[test]
fn a_request_with_an_unusable_via_is_rejected_without_a_transaction() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut req = carrier_invite("z9hG4bKv1");
    req.headers.set("Via", "nonsense").expect("set");
    assert!(matches!(
        layer.on_request(Duration::ZERO, req, addr(CARRIER), Transport::Udp),
        Incoming::Rejected {
            error: TxError::BadVia(_)
        }
    ));
    assert_eq!(layer.len(), 0);
    assert_eq!(layer.poll_transmit(), None);
}

mod transport_errors;
