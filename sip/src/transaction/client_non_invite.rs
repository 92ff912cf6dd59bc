//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! States: Trying → Proceeding (a provisional came) → Completed (a final
//! came; Timer K absorbs its retransmissions) → Terminated. Timer E
//! retransmits on UDP: T1 doubling up to T2 while Trying, every T2 once
//! Proceeding. Timer F gives up.

use std::net::SocketAddr;
use std::time::Duration;

use super::timers::{Shared, Slots, Step, Timer};
use super::{ClientTxId, Transport, TxEvent, TxIdEither};
use crate::message::Response;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(super) struct NonInviteClient {
    id: ClientTxId,
    dest: SocketAddr,
    transport: Transport,
    state: State,
    /// The request as sent, for retransmission.
    bytes: Vec<u8>,
    /// Timer E's current interval.
    e_interval: Duration,
    pub slots: Slots,
}

impl NonInviteClient {
    /// Whether no final response has reached the TU yet.
    pub fn awaiting_final(&self) -> bool {
        self.state != State::Completed
    }

    /// Sends the request and arms E (UDP) and F.
    pub fn start(
        now: Duration,
        id: ClientTxId,
        dest: SocketAddr,
        transport: Transport,
        bytes: Vec<u8>,
        sh: &mut Shared,
    ) -> NonInviteClient {
        let owner = TxIdEither::Client(id);
        let mut tx = NonInviteClient {
            id,
            dest,
            transport,
            state: State::Trying,
            bytes,
            e_interval: sh.config.t1,
            slots: Slots::default(),
        };
        sh.send_for(owner, dest, transport, tx.bytes.clone());
        if transport == Transport::Udp {
            sh.arm(&mut tx.slots.retx, now + tx.e_interval, owner, Timer::E);
        }
        sh.arm(&mut tx.slots.life, now + sh.config.t1 * 64, owner, Timer::F);
        tx
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, now: Duration, response: Response, sh: &mut Shared) -> Step {
        if self.state == State::Completed {
            // A retransmitted final: absorbed (Timer K's purpose).
            return Step::Live;
        }
        let status = response.status;
        sh.event(TxEvent::Response {
            id: self.id,
            response,
        });
        if status < 200 {
            self.state = State::Proceeding;
            return Step::Live;
        }
        self.state = State::Completed;
        sh.disarm_all(&mut self.slots);
        match self.transport {
            Transport::Tcp => Step::Done,
            Transport::Udp => {
                sh.arm(
                    &mut self.slots.life,
                    now + sh.config.t4,
                    TxIdEither::Client(self.id),
                    Timer::K,
                );
                Step::Live
            }
        }
    }

    /// One of our timers fired.
    pub fn on_timer(&mut self, now: Duration, timer: Timer, sh: &mut Shared) -> Step {
        match (self.state, timer) {
            (State::Trying | State::Proceeding, Timer::E) => {
                sh.send_for(
                    TxIdEither::Client(self.id),
                    self.dest,
                    self.transport,
                    self.bytes.clone(),
                );
                self.e_interval = if self.state == State::Proceeding {
                    sh.config.t2
                } else {
                    (self.e_interval * 2).min(sh.config.t2)
                };
                sh.arm(
                    &mut self.slots.retx,
                    now + self.e_interval,
                    TxIdEither::Client(self.id),
                    Timer::E,
                );
                Step::Live
            }
            (State::Trying | State::Proceeding, Timer::F) => {
                sh.event(TxEvent::Timeout { id: self.id });
                Step::Done
            }
            (State::Completed, Timer::K) => Step::Done,
            _ => Step::Live,
        }
    }
}
