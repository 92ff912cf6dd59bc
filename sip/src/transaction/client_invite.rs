//! The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4).
//!
//! States: Calling (Timer A retransmits on UDP, doubling with no cap;
//! Timer B gives up) → Proceeding (a provisional came) → Completed (a
//! non-2xx final came: we ACK it ourselves with the INVITE's branch and
//! Timer D absorbs its retransmissions) or Accepted (a 2xx came: Timer M
//! keeps the transaction so that retransmitted or forked 2xx still reach
//! the TU, which ACKs them end to end).

use std::net::SocketAddr;
use std::time::Duration;

use super::timers::{Shared, Slots, Step, Timer};
use super::{ClientTxId, Transport, TxEvent, TxIdEither};
use crate::message::{Method, Request, Response, SipHeaders};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

/// One INVITE client transaction.
#[derive(Debug)]
pub(super) struct InviteClient {
    id: ClientTxId,
    dest: SocketAddr,
    transport: Transport,
    state: State,
    /// The INVITE, kept to build the ACK for a non-2xx final.
    invite: Request,
    /// The INVITE as sent, for Timer A.
    bytes: Vec<u8>,
    /// The ACK we sent for the non-2xx final, re-sent for each
    /// retransmission of that final.
    ack: Option<Vec<u8>>,
    /// Timer A's current interval.
    a_interval: Duration,
    pub slots: Slots,
}

impl InviteClient {
    /// Whether no final response has reached the TU yet: a transport
    /// failure then ends the transaction as a failure the TU must hear of.
    pub fn awaiting_final(&self) -> bool {
        matches!(self.state, State::Calling | State::Proceeding)
    }

    /// Sends the INVITE and arms A (UDP) and B.
    pub fn start(
        now: Duration,
        id: ClientTxId,
        dest: SocketAddr,
        transport: Transport,
        invite: Request,
        sh: &mut Shared,
    ) -> InviteClient {
        let owner = TxIdEither::Client(id);
        let bytes = invite.to_bytes();
        let mut tx = InviteClient {
            id,
            dest,
            transport,
            state: State::Calling,
            invite,
            bytes,
            ack: None,
            a_interval: sh.config.t1,
            slots: Slots::default(),
        };
        sh.send_for(owner, dest, transport, tx.bytes.clone());
        if transport == Transport::Udp {
            sh.arm(&mut tx.slots.retx, now + tx.a_interval, owner, Timer::A);
        }
        sh.arm(&mut tx.slots.life, now + sh.config.t1 * 64, owner, Timer::B);
        tx
    }

    /// The TU sent a CANCEL for this INVITE. RFC 3261 §9.1: if no final
    /// response comes within 64*T1, the transaction is destroyed. In
    /// Calling, Timer B already bounds it.
    pub fn on_cancel_sent(&mut self, now: Duration, sh: &mut Shared) {
        if self.state == State::Proceeding && self.slots.life.is_none() {
            sh.arm(
                &mut self.slots.life,
                now + sh.config.t1 * 64,
                TxIdEither::Client(self.id),
                Timer::CancelGuard,
            );
        }
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, now: Duration, response: Response, sh: &mut Shared) -> Step {
        let owner = TxIdEither::Client(self.id);
        let status = response.status;
        match (self.state, status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                if self.state == State::Calling {
                    // Proceeding stops retransmission, and Timer B only
                    // runs in Calling (§17.1.1.2): from here the TU
                    // bounds the wait (CANCEL, then the cancel guard).
                    sh.disarm_all(&mut self.slots);
                    self.state = State::Proceeding;
                }
                sh.event(TxEvent::Response {
                    id: self.id,
                    response,
                });
                Step::Live
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                sh.disarm_all(&mut self.slots);
                self.state = State::Accepted;
                sh.arm(
                    &mut self.slots.life,
                    now + sh.config.t1 * 64,
                    owner,
                    Timer::M,
                );
                sh.event(TxEvent::Response {
                    id: self.id,
                    response,
                });
                Step::Live
            }
            (State::Calling | State::Proceeding, _) => {
                sh.disarm_all(&mut self.slots);
                self.state = State::Completed;
                self.ack = build_ack(&self.invite, &response).map(|a| a.to_bytes());
                if let Some(ack) = &self.ack {
                    sh.send_for(
                        TxIdEither::Client(self.id),
                        self.dest,
                        self.transport,
                        ack.clone(),
                    );
                }
                sh.event(TxEvent::Response {
                    id: self.id,
                    response,
                });
                match self.transport {
                    Transport::Tcp => Step::Done,
                    Transport::Udp => {
                        // Timer D: "at least 32 s" on UDP, not tied to T1.
                        sh.arm(
                            &mut self.slots.life,
                            now + Duration::from_secs(32),
                            owner,
                            Timer::D,
                        );
                        Step::Live
                    }
                }
            }
            // RFC 6026 §8.4: every 2xx in Accepted goes up, so the TU can
            // ACK a retransmitted or forked 2xx.
            (State::Accepted, 200..=299) => {
                sh.event(TxEvent::Response {
                    id: self.id,
                    response,
                });
                Step::Live
            }
            // A retransmitted non-2xx final: ACK it again, absorb it.
            (State::Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    sh.send_for(
                        TxIdEither::Client(self.id),
                        self.dest,
                        self.transport,
                        ack.clone(),
                    );
                }
                Step::Live
            }
            // Late provisionals, or a mix of 2xx and non-2xx: nothing to do.
            _ => Step::Live,
        }
    }

    /// One of our timers fired.
    pub fn on_timer(&mut self, now: Duration, timer: Timer, sh: &mut Shared) -> Step {
        match (self.state, timer) {
            (State::Calling, Timer::A) => {
                sh.send_for(
                    TxIdEither::Client(self.id),
                    self.dest,
                    self.transport,
                    self.bytes.clone(),
                );
                // No T2 cap for Timer A (§17.1.1.2).
                self.a_interval *= 2;
                sh.arm(
                    &mut self.slots.retx,
                    now + self.a_interval,
                    TxIdEither::Client(self.id),
                    Timer::A,
                );
                Step::Live
            }
            (State::Calling, Timer::B) | (State::Proceeding, Timer::CancelGuard) => {
                sh.event(TxEvent::Timeout { id: self.id });
                Step::Done
            }
            (State::Completed, Timer::D) | (State::Accepted, Timer::M) => Step::Done,
            _ => Step::Live,
        }
    }
}

/// The ACK for a non-2xx final (RFC 3261 §17.1.1.3): the INVITE's
/// Request-URI, top Via (so the same branch), From, Call-ID, CSeq number
/// and Route; the response's To (with the tag). `None` only if the INVITE
/// lacks a header it must have had to be sent.
pub(super) fn build_ack(invite: &Request, response: &Response) -> Option<Request> {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let h = &mut ack.headers;
    h.push("Via", *invite.headers.get_all("Via").first()?)
        .ok()?;
    for route in invite.headers.get_all("Route") {
        h.push("Route", route).ok()?;
    }
    h.push("Max-Forwards", "70").ok()?;
    h.push("From", invite.headers.get("From")?).ok()?;
    h.push("To", response.headers.get("To")?).ok()?;
    h.push("Call-ID", invite.call_id()?).ok()?;
    let cseq = invite.cseq().ok()?;
    h.push("CSeq", format!("{} ACK", cseq.seq)).ok()?;
    Some(ack)
}
