//! The SIP endpoint's cost per message and per timer pass at 10, 100 and
//! 1,000 live calls, built without sockets from the endpoint's sans-IO
//! parts: the real transaction layer (one live INVITE server transaction
//! per call), real dialogs, and the endpoint's `CallTable`.
//!
//! - `sip_in_dialog_message/<calls>`: an in-dialog INFO over TCP is
//!   parsed, taken on by the transaction layer, matched to its dialog, its
//!   CSeq checked, answered 200, the call re-scheduled, then the loop's
//!   next deadline and a timer pass (the INFO's Timer J) — what the
//!   endpoint task does per message.
//! - `sip_timer_pass/<calls>`: one call falls due; the pass visits it,
//!   re-arms it and computes the next deadline.
//! - The `_scan` variants run the same steps the way the endpoint did
//!   before the `CallTable` (every call looked at for the dialog match, the
//!   next deadline and the timer pass), on the same data: the "before".
//!
//! Run: `cargo bench --bench sip_endpoint`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use warmline::ingress::sip::calls::{dialog_key, CallTable, Schedule, Scheduled};
use warmline_sip::dialog::Dialog;
use warmline_sip::message::{self, Host, Limits, Message, Request, SipHeaders, Uri};
use warmline_sip::transaction::{Incoming, ServerTxId, TimerConfig, TransactionLayer, Transport};

const SIZES: [usize; 3] = [10, 100, 1_000];

/// What the endpoint keeps per call, reduced to what lookup and
/// scheduling read.
struct BenchCall {
    dialog: Dialog,
    deadline: Option<Duration>,
    trunk: usize,
    ended: bool,
}

impl Scheduled for BenchCall {
    fn schedule(&self) -> Schedule {
        Schedule {
            deadline: self.deadline,
            live_in: (!self.ended).then_some(self.trunk),
        }
    }
}

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes(), &Limits::default()) {
        Ok(Message::Request(r)) => r,
        _ => panic!("bench request does not parse"),
    }
}

fn invite(i: usize) -> String {
    format!(
        "INVITE sip:+15551230000@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-inv-{i};rport\r\n\
         From: <sip:+1555987{i:04}@127.0.0.1>;tag=from-{i}\r\n\
         To: <sip:+15551230000@127.0.0.1:5060>\r\n\
         Call-ID: call-{i}@bench\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn info(i: usize, seq: u64) -> String {
    format!(
        "INFO sip:warmline@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-info-{i}-{seq}\r\n\
         From: <sip:+1555987{i:04}@127.0.0.1>;tag=from-{i}\r\n\
         To: <sip:+15551230000@127.0.0.1:5060>;tag=to-{i}\r\n\
         Call-ID: call-{i}@bench\r\n\
         CSeq: {seq} INFO\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// `n` answered calls, each with a live INVITE server transaction and a
/// session-timer deadline spread over the next half hour.
fn setup(n: usize) -> (TransactionLayer, Vec<(String, BenchCall)>) {
    let mut tx = TransactionLayer::new(TimerConfig::default());
    let peer: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
    let mut calls = Vec::with_capacity(n);
    for i in 0..n {
        let request = parse(&invite(i));
        let Incoming::Request { id, request, .. } =
            tx.on_request(Duration::ZERO, request, peer, Transport::Udp)
        else {
            panic!("INVITE not taken on");
        };
        let local_tag = format!("to-{i}");
        let _ = tx.respond(
            Duration::ZERO,
            id,
            request.response(200, "OK", Some(&local_tag)),
        );
        let contact = Uri::sip(
            Some("warmline"),
            Host::Ip("127.0.0.1".parse().expect("ip")),
            Some(5060),
        );
        let dialog = Dialog::uas(&request, &local_tag, contact).expect("dialog");
        let key = dialog_key(&dialog.call_id, &dialog.remote_tag);
        calls.push((
            key,
            BenchCall {
                dialog,
                deadline: Some(Duration::from_secs(900) + Duration::from_millis(i as u64)),
                trunk: i % 4,
                ended: false,
            },
        ));
    }
    while tx.poll_transmit().is_some() {}
    while tx.poll_event().is_some() {}
    (tx, calls)
}

fn min_deadline(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses an in-dialog request and hands it to the transaction layer.
fn take_on(
    tx: &mut TransactionLayer,
    now: Duration,
    bytes: &[u8],
) -> Option<(ServerTxId, Request)> {
    let peer: SocketAddr = "127.0.0.1:5070".parse().ok()?;
    let Ok(Message::Request(request)) = message::parse(bytes, &Limits::default()) else {
        return None;
    };
    match tx.on_request(now, request, peer, Transport::Tcp) {
        Incoming::Request { id, request, .. } => Some((id, request)),
        _ => None,
    }
}

/// Answers 200 and drains what the layer queued, as the endpoint's flush.
fn answer(tx: &mut TransactionLayer, now: Duration, id: ServerTxId, request: &Request) {
    let _ = tx.respond(now, id, request.response(200, "OK", None));
    while let Some(t) = tx.poll_transmit() {
        black_box(t);
    }
}

fn in_dialog_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_in_dialog_message");
    for n in SIZES {
        let (mut tx, calls) = setup(n);
        let mut table = CallTable::new();
        for (key, call) in calls {
            table.insert(key, call);
        }
        table.settle();
        let mut seq = 1u64;
        let mut now = Duration::ZERO;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                seq += 1;
                now += Duration::from_micros(1);
                let bytes = info((seq as usize * 7_919) % n, seq);
                let (id, request) = take_on(&mut tx, now, bytes.as_bytes())?;
                // find_dialog: one probe, then the To tag.
                let key = dialog_key(request.call_id()?, request.from().ok()?.tag()?);
                let found = table
                    .get(&key)
                    .is_some_and(|c| !c.ended && c.dialog.matches(&request));
                if found {
                    if let Some(call) = table.get_mut(&key) {
                        let _ = call.dialog.accept_remote_cseq(&request);
                    }
                }
                answer(&mut tx, now, id, &request);
                table.settle();
                // The loop's timer pass (the INFO's Timer J) and next deadline.
                tx.handle_timeout(now);
                while tx.poll_event().is_some() {}
                while let Some(key) = table.pop_due(now) {
                    black_box(key);
                }
                table.settle();
                black_box(min_deadline(tx.next_timeout(), table.next_deadline()))
            })
        });
    }
    group.finish();
}

/// The same message the way the endpoint did it before: every call looked
/// at to find the dialog and for the next deadline.
fn in_dialog_message_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_in_dialog_message_scan");
    for n in SIZES {
        let (mut tx, calls) = setup(n);
        let mut map: HashMap<String, BenchCall> = calls.into_iter().collect();
        let mut seq = 1u64;
        let mut now = Duration::ZERO;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                seq += 1;
                now += Duration::from_micros(1);
                let bytes = info((seq as usize * 7_919) % n, seq);
                let (id, request) = take_on(&mut tx, now, bytes.as_bytes())?;
                let key = map
                    .iter()
                    .find(|(_, c)| !c.ended && c.dialog.matches(&request))
                    .map(|(k, _)| k.clone());
                if let Some(call) = key.and_then(|k| map.get_mut(&k)) {
                    let _ = call.dialog.accept_remote_cseq(&request);
                }
                answer(&mut tx, now, id, &request);
                tx.handle_timeout(now);
                while tx.poll_event().is_some() {}
                let mut next = tx.next_timeout();
                for call in map.values() {
                    next = min_deadline(next, call.deadline);
                }
                black_box(next)
            })
        });
    }
    group.finish();
}

/// One call falls due: visit it, push its deadline on, next deadline.
fn timer_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_timer_pass");
    for n in SIZES {
        let (tx, calls) = setup(n);
        let keys: Vec<String> = calls.iter().map(|(k, _)| k.clone()).collect();
        let mut table = CallTable::new();
        for (key, call) in calls {
            table.insert(key, call);
        }
        table.settle();
        let mut round = 0usize;
        let now = Duration::from_secs(1);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                round += 1;
                let key = &keys[(round * 7_919) % n];
                if let Some(call) = table.get_mut(key) {
                    call.deadline = Some(now);
                }
                table.settle();
                // The pass.
                while let Some(due) = table.pop_due(now) {
                    if let Some(call) = table.get_mut(&due) {
                        call.deadline = Some(Duration::from_secs(900));
                    }
                }
                table.settle();
                black_box(min_deadline(tx.next_timeout(), table.next_deadline()))
            })
        });
    }
    group.finish();
}

fn timer_pass_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_timer_pass_scan");
    for n in SIZES {
        let (tx, calls) = setup(n);
        let keys: Vec<String> = calls.iter().map(|(k, _)| k.clone()).collect();
        let mut map: HashMap<String, BenchCall> = calls.into_iter().collect();
        let mut round = 0usize;
        let now = Duration::from_secs(1);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                round += 1;
                let key = &keys[(round * 7_919) % n];
                if let Some(call) = map.get_mut(key) {
                    call.deadline = Some(now);
                }
                // The pass as it was: every key cloned, every call polled.
                let all: Vec<String> = map.keys().cloned().collect();
                for k in all {
                    if let Some(call) = map.get_mut(&k) {
                        if call.deadline.is_some_and(|d| d <= now) {
                            call.deadline = Some(Duration::from_secs(900));
                        }
                    }
                }
                let mut next = tx.next_timeout();
                for call in map.values() {
                    next = min_deadline(next, call.deadline);
                }
                black_box(next)
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    in_dialog_message,
    in_dialog_message_scan,
    timer_pass,
    timer_pass_scan
);
criterion_main!(benches);
