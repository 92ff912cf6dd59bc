//! The crate's timers composed the way a UAS uses them, in simulated time:
//! the transaction layer, the dialog, the 2xx retransmitter and the RFC 4028
//! session timer, driven only by the `now` each test passes in.
//!
//! - the 200 OK to an INVITE is resent on the T1 schedule until the ACK,
//!   and with no ACK the dialog ends with a BYE when Timer H's 64*T1 runs
//!   out (RFC 3261 §13.3.1.4, RFC 6026);
//! - our own INVITE times out on Timer B;
//! - a session timer refresh goes out before the session expires, and a
//!   session nobody refreshes ends with a BYE before its interval is up.

use std::net::SocketAddr;
use std::time::Duration;

use warmline_sip::dialog::{
    negotiate_uas, AnswerAction, AnswerRetransmit, Dialog, Refresher, SessionTimer,
    SessionTimerAction, SessionTimerConfig, SessionTimerOutcome,
};
use warmline_sip::message::{parse, Limits, Message, Method, Request, Response, SipHeaders, Uri};
use warmline_sip::transaction::{
    ClientTxId, Incoming, ServerTxId, TimerConfig, TransactionLayer, Transmit, Transport, TxEvent,
};

const CARRIER: &str = "203.0.113.10:5060";
const US: &str = "198.51.100.7:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn parse_message(bytes: &[u8]) -> Message {
    parse(bytes, &Limits::default()).expect("what we send parses")
}

fn request_of(bytes: &[u8]) -> Request {
    match parse_message(bytes) {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {} {}", r.status, r.reason),
    }
}

fn response_of(bytes: &[u8]) -> Response {
    match parse_message(bytes) {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

/// The carrier's INVITE, with extra header lines.
fn carrier_invite(extra: &str) -> Request {
    request_of(
        format!(
            "INVITE sip:+15551230000@198.51.100.7 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-inv1\r\n\
             Max-Forwards: 70\r\n\
             From: \"Caller\" <sip:+15559870000@carrier.example>;tag=abc123\r\n\
             To: <sip:+15551230000@198.51.100.7>\r\n\
             Call-ID: a84b4c76e66710@carrier.example\r\n\
             CSeq: 314159 INVITE\r\n\
             Contact: <sip:+15559870000@203.0.113.10:5060>\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
}

/// The carrier's ACK for our 200 (a transaction of its own).
fn carrier_ack() -> Request {
    request_of(
        b"ACK sip:agent@198.51.100.7:5060 SIP/2.0\r\n\
          Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-ack1\r\n\
          Max-Forwards: 70\r\n\
          From: \"Caller\" <sip:+15559870000@carrier.example>;tag=abc123\r\n\
          To: <sip:+15551230000@198.51.100.7>;tag=us-tag\r\n\
          Call-ID: a84b4c76e66710@carrier.example\r\n\
          CSeq: 314159 ACK\r\n\
          Content-Length: 0\r\n\r\n",
    )
}

/// A minimal UAS: what the SIP shell does with the crate, minus sockets.
struct Uas {
    tx: TransactionLayer,
    dialog: Option<Dialog>,
    answer: Option<(AnswerRetransmit, Vec<u8>)>,
    timer: Option<SessionTimer>,
    /// Everything put on the wire, with the time it left.
    wire: Vec<(Duration, Transmit)>,
    events: Vec<(Duration, TxEvent)>,
    /// Our in-dialog requests in flight, and what they were.
    pending: Vec<(ClientTxId, Method)>,
    branches: u32,
    ended: Option<(Duration, &'static str)>,
}

impl Uas {
    fn new() -> Uas {
        Uas {
            tx: TransactionLayer::new(TimerConfig::default()),
            dialog: None,
            answer: None,
            timer: None,
            wire: Vec::new(),
            events: Vec::new(),
            pending: Vec::new(),
            branches: 0,
            ended: None,
        }
    }

    fn flush(&mut self, now: Duration) {
        while let Some(t) = self.tx.poll_transmit() {
            self.wire.push((now, t));
        }
        while let Some(e) = self.tx.poll_event() {
            self.events.push((now, e));
        }
    }

    /// The earliest deadline of anything we run.
    fn next_deadline(&self) -> Option<Duration> {
        [
            self.tx.next_timeout(),
            self.answer.as_ref().and_then(|(r, _)| r.next_deadline()),
            self.timer.as_ref().map(SessionTimer::next_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer up to and including `end`, in order.
    fn run_until(&mut self, end: Duration) {
        while let Some(at) = self.next_deadline().filter(|at| *at <= end) {
            self.on_timeout(at);
        }
    }

    fn on_timeout(&mut self, now: Duration) {
        self.tx.handle_timeout(now);
        self.flush(now);
        let mut hang_up = None;
        if let Some((retransmit, bytes)) = self.answer.as_mut() {
            match retransmit.poll(now) {
                Some(AnswerAction::Resend) => {
                    let bytes = bytes.clone();
                    self.tx.send_stateless(addr(CARRIER), Transport::Udp, bytes);
                }
                Some(AnswerAction::GiveUp) => hang_up = Some("no ACK for our 200"),
                None => {}
            }
        }
        match self.timer.as_mut().and_then(|t| t.poll(now)) {
            Some(SessionTimerAction::Refresh) => self.send_in_dialog(now, Method::Update),
            Some(SessionTimerAction::Expired) => hang_up = Some("session timer expired"),
            None => {}
        }
        if let Some(reason) = hang_up {
            self.hang_up(now, reason);
        }
        self.flush(now);
        self.on_events(now);
    }

    fn on_events(&mut self, now: Duration) {
        for (_, event) in std::mem::take(&mut self.events) {
            match event {
                TxEvent::Response { id, response } if response.status >= 200 => {
                    let Some(i) = self.pending.iter().position(|(p, _)| *p == id) else {
                        continue;
                    };
                    let (_, method) = self.pending.remove(i);
                    if method == Method::Update && response.status < 300 {
                        let interval = response
                            .headers
                            .get("Session-Expires")
                            .and_then(|v| v.split(';').next())
                            .and_then(|v| v.trim().parse().ok())
                            .expect("the refresh answer names the interval");
                        if let Some(timer) = self.timer.as_mut() {
                            timer.refreshed(now, interval, Refresher::Uas);
                        }
                    }
                }
                TxEvent::Timeout { id } => {
                    if let Some(i) = self.pending.iter().position(|(p, _)| *p == id) {
                        let (_, method) = self.pending.remove(i);
                        if method == Method::Update {
                            self.hang_up(now, "session refresh timed out");
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The carrier's INVITE arrives; we answer 200 at once.
    fn invite(&mut self, now: Duration, invite: Request) {
        self.run_until(now);
        let Incoming::Request { id, request, .. } =
            self.tx
                .on_request(now, invite, addr(CARRIER), Transport::Udp)
        else {
            panic!("a new INVITE is a new transaction");
        };
        let contact = Uri::parse("sip:agent@198.51.100.7:5060").expect("contact");
        self.dialog = Some(Dialog::uas(&request, "us-tag", contact).expect("dialog"));
        let mut ok = request.response(200, "OK", Some("us-tag"));
        if let SessionTimerOutcome::Active {
            interval,
            refresher,
            ..
        } = negotiate_uas(&request, &SessionTimerConfig::default())
        {
            let who = if refresher == Refresher::Uas {
                "uas"
            } else {
                "uac"
            };
            ok.headers
                .push("Session-Expires", format!("{interval};refresher={who}"))
                .expect("header");
            self.timer = Some(SessionTimer::new(now, interval, refresher));
        }
        self.respond(now, id, ok);
    }

    fn respond(&mut self, now: Duration, id: ServerTxId, ok: Response) {
        let config = self.tx.config();
        self.answer = Some((
            AnswerRetransmit::new(now, config.t1, config.t2, false),
            ok.to_bytes(),
        ));
        self.tx.respond(now, id, ok).expect("respond");
        self.flush(now);
    }

    fn ack(&mut self, now: Duration) {
        self.run_until(now);
        match self
            .tx
            .on_request(now, carrier_ack(), addr(CARRIER), Transport::Udp)
        {
            Incoming::Ack2xx(ack) => {
                assert!(self.dialog.as_ref().is_some_and(|d| d.matches(&ack)));
                if let Some((retransmit, _)) = self.answer.as_mut() {
                    retransmit.acked();
                }
            }
            other => panic!("the ACK reaches the dialog, got {other:?}"),
        }
        self.flush(now);
    }

    fn send_in_dialog(&mut self, now: Duration, method: Method) {
        self.branches += 1;
        let branch = format!("z9hG4bK-us{}", self.branches);
        let dialog = self.dialog.as_mut().expect("a dialog");
        let mut request = dialog
            .request(method.clone(), &branch, US, "UDP")
            .expect("request");
        if method == Method::Update {
            let interval = self.timer.as_ref().map_or(0, SessionTimer::interval_secs);
            request
                .headers
                .push("Session-Expires", format!("{interval};refresher=uas"))
                .expect("header");
        }
        let id = self
            .tx
            .send_request(now, request, addr(CARRIER), Transport::Udp)
            .expect("send");
        self.pending.push((id, method));
        self.flush(now);
    }

    fn hang_up(&mut self, now: Duration, reason: &'static str) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some((now, reason));
        self.answer = None;
        self.timer = None;
        self.send_in_dialog(now, Method::Bye);
    }

    /// The carrier answers our request (the one whose bytes are given)
    /// with `status` and, for a refresh, the interval it keeps.
    fn carrier_answers(&mut self, now: Duration, sent: &[u8], status: u16, extra: Option<&str>) {
        self.run_until(now);
        let request = request_of(sent);
        let mut response = request.response(status, "OK", None);
        if let Some(value) = extra {
            response
                .headers
                .push("Session-Expires", value)
                .expect("header");
        }
        let response = response_of(&response.to_bytes());
        self.tx.on_response(now, response, addr(CARRIER));
        self.flush(now);
        self.on_events(now);
    }

    /// What went out, as (seconds since start in ms, first line).
    fn take_wire(&mut self) -> Vec<(u128, String)> {
        std::mem::take(&mut self.wire)
            .into_iter()
            .map(|(at, t)| {
                let line = String::from_utf8_lossy(&t.bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                (at.as_millis(), line)
            })
            .collect()
    }
}

fn times_of(wire: &[(u128, String)], first_line: &str) -> Vec<u128> {
    wire.iter()
        .filter(|(_, l)| l.starts_with(first_line))
        .map(|(at, _)| *at)
        .collect()
}

#[test]
fn the_200_to_an_invite_is_resent_on_the_t1_schedule_until_the_ack() {
    let mut uas = Uas::new();
    uas.invite(ms(0), carrier_invite(""));
    uas.ack(ms(5_000));
    uas.run_until(Duration::from_secs(120));
    let wire = uas.take_wire();
    // The first send, then T1, 2*T1, 4*T1, capped at T2 (4 s), until the
    // ACK at 5 s stopped it.
    assert_eq!(
        times_of(&wire, "SIP/2.0 200"),
        vec![0, 500, 1_500, 3_500],
        "{wire:?}"
    );
    assert!(times_of(&wire, "BYE").is_empty(), "{wire:?}");
    assert_eq!(uas.ended, None);
}

#[test]
fn without_an_ack_the_dialog_ends_with_a_bye_when_timer_h_fires() {
    let mut uas = Uas::new();
    uas.invite(ms(0), carrier_invite(""));
    uas.run_until(ms(32_000));
    let bye = uas
        .wire
        .iter()
        .find(|(_, t)| t.bytes.starts_with(b"BYE"))
        .map(|(_, t)| t.clone())
        .expect("a BYE");
    let wire = uas.take_wire();
    assert_eq!(
        times_of(&wire, "SIP/2.0 200"),
        vec![0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500],
        "{wire:?}"
    );
    // 64*T1 = 32 s after the 200: give up and say goodbye.
    assert_eq!(uas.ended, Some((ms(32_000), "no ACK for our 200")));
    assert_eq!(times_of(&wire, "BYE"), vec![32_000]);

    // The BYE is in the dialog: tags swapped, the caller's Contact as its
    // target, our first CSeq.
    assert_eq!(bye.dest, addr(CARRIER));
    let request = request_of(&bye.bytes);
    assert_eq!(
        request.uri.to_string(),
        "sip:+15559870000@203.0.113.10:5060"
    );
    assert_eq!(request.from().expect("From").tag(), Some("us-tag"));
    assert_eq!(request.to().expect("To").tag(), Some("abc123"));
    assert_eq!(request.cseq().expect("CSeq").seq, 1);

    // The caller's 200 to the BYE ends everything: no more 200s or BYEs,
    // and no transaction or timer is left.
    uas.carrier_answers(ms(32_100), &bye.bytes, 200, None);
    uas.run_until(Duration::from_secs(3_600));
    assert!(uas.take_wire().is_empty());
    assert!(uas.tx.is_empty(), "transactions leaked");
    assert_eq!(uas.next_deadline(), None);
}

#[test]
fn a_client_invite_times_out_on_timer_b() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut invite = Request::new(
        Method::Invite,
        Uri::parse("sip:rep@192.0.2.20:5060").expect("uri"),
    );
    for (name, value) in [
        (
            "Via",
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-out1;rport",
        ),
        ("Max-Forwards", "70"),
        ("From", "<sip:agent@198.51.100.7>;tag=us1"),
        ("To", "<sip:rep@192.0.2.20>"),
        ("Call-ID", "out-1@198.51.100.7"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:agent@198.51.100.7:5060>"),
    ] {
        invite.headers.push(name, value).expect("header");
    }
    let id = layer
        .send_request(ms(0), invite, addr("192.0.2.20:5060"), Transport::Udp)
        .expect("send");
    let mut sends = Vec::new();
    let mut timed_out = None;
    let mut collect = |layer: &mut TransactionLayer, now: Duration| {
        while layer.poll_transmit().is_some() {
            sends.push(now.as_millis());
        }
        while let Some(event) = layer.poll_event() {
            if event == (TxEvent::Timeout { id }) {
                timed_out = Some(now.as_millis());
            }
        }
    };
    collect(&mut layer, ms(0));
    while let Some(at) = layer.next_timeout() {
        layer.handle_timeout(at);
        collect(&mut layer, at);
    }
    // Timer A doubles from T1 with no cap; Timer B is 64*T1.
    assert_eq!(sends, vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(timed_out, Some(32_000));
    assert!(layer.is_empty());
}

#[test]
fn when_we_refresh_the_session_the_update_goes_out_at_half_the_interval() {
    let mut uas = Uas::new();
    uas.invite(
        ms(0),
        carrier_invite("Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n"),
    );
    uas.ack(ms(100));
    let mut refreshes = Vec::new();
    // Ten minutes of a carrier that answers every refresh 20 ms later.
    let mut now = ms(100);
    while now < Duration::from_secs(600) {
        let next = uas
            .next_deadline()
            .expect("a timer runs while the call lives");
        uas.run_until(next);
        now = next;
        let sent: Vec<Transmit> = std::mem::take(&mut uas.wire)
            .into_iter()
            .filter(|(_, t)| t.bytes.starts_with(b"UPDATE"))
            .map(|(_, t)| t)
            .collect();
        if let Some(update) = sent.first() {
            refreshes.push(now.as_millis());
            let request = request_of(&update.bytes);
            assert_eq!(
                request.headers.get("Session-Expires"),
                Some("90;refresher=uas")
            );
            now += ms(20);
            uas.carrier_answers(now, &update.bytes, 200, Some("90;refresher=uas"));
        }
    }
    assert_eq!(uas.ended, None, "a refreshed session never expires");
    // The first at 45 s, then every 45 s after each answer (20 ms later).
    assert_eq!(&refreshes[..3], &[45_000, 90_020, 135_040]);
    assert!(refreshes.windows(2).all(|w| w[1] - w[0] < 90_000));
}

#[test]
fn when_the_caller_stops_refreshing_the_session_ends_with_a_bye_before_it_expires() {
    let mut uas = Uas::new();
    uas.invite(
        ms(0),
        carrier_invite("Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n"),
    );
    uas.ack(ms(100));
    uas.run_until(Duration::from_secs(200));
    // 120 − min(32, 120/3) = 88 s after the answer.
    assert_eq!(uas.ended, Some((ms(88_000), "session timer expired")));
    let wire = uas.take_wire();
    assert_eq!(times_of(&wire, "BYE").first(), Some(&88_000));
    assert!(
        times_of(&wire, "UPDATE").is_empty(),
        "the caller is the refresher"
    );
}
