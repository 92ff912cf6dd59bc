//! Transaction scenarios in simulated time, with RFC-shaped messages
//! written as text and parsed by `message::parse`.

use super::*;
use crate::message::{parse, Limits, Message};

const CARRIER: &str = "203.0.113.10:5060";
const US: &str = "198.51.100.7:5060";

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
        self.layer.on_response(now, response, addr("192.0.2.20:5060"));
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
    sim.response(secs(0.1), rep_response(180, "Ringing", "z9hG4bKm2", "INVITE"));
    assert!(sim.take_events().is_empty());
    sim.response(secs(0.2), rep_response(180, "Ringing", "z9hG4bKm1", "INVITE"));
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
    sim.response(secs(0.2), rep_response(180, "Ringing", "z9hG4bKinv7", "INVITE"));
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
