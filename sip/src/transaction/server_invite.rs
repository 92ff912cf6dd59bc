//! The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §8.5–8.7).
//!
//! States: Proceeding → Completed (non-2xx final, waits for the ACK) →
//! Confirmed (absorbs ACKs for Timer I); or Proceeding → Accepted (2xx
//! final, Timer L). The 2xx itself is retransmitted by the TU, not here
//! (RFC 6026): the transaction only stays around so that retransmitted
//! INVITEs are absorbed and ACKs reach the TU.

use std::net::SocketAddr;
use std::time::Duration;

use super::timers::{Shared, Slots, Step, Timer};
use super::{Incoming, ServerTxId, Transport, TxError, TxEvent, TxIdEither};
use crate::message::Request;

/// How long the TU may stay silent before we send 100 Trying (§17.2.1).
pub(super) const TRYING_DELAY: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

/// One INVITE server transaction.
#[derive(Debug)]
pub(super) struct InviteServer {
    id: ServerTxId,
    dest: SocketAddr,
    transport: Transport,
    state: State,
    /// The 100 Trying, built when the INVITE arrived, sent only if the TU
    /// has not said anything within [`TRYING_DELAY`].
    trying: Option<Vec<u8>>,
    /// The most recent provisional, or the non-2xx final: what a
    /// retransmitted INVITE gets again.
    last: Option<Vec<u8>>,
    /// Timer G's current interval.
    g_interval: Duration,
    pub slots: Slots,
}

impl InviteServer {
    pub fn new(
        now: Duration,
        id: ServerTxId,
        dest: SocketAddr,
        transport: Transport,
        trying: Vec<u8>,
        sh: &mut Shared,
    ) -> InviteServer {
        let mut tx = InviteServer {
            id,
            dest,
            transport,
            state: State::Proceeding,
            trying: Some(trying),
            last: None,
            g_interval: sh.config.t1,
            slots: Slots::default(),
        };
        sh.arm(
            &mut tx.slots.retx,
            now + TRYING_DELAY,
            TxIdEither::Server(id),
            Timer::Trying,
        );
        tx
    }

    /// A retransmission of the INVITE arrived.
    pub fn on_retransmit(&mut self, sh: &mut Shared) {
        match self.state {
            State::Proceeding => {
                if self.last.is_none() {
                    // The peer is retransmitting, so it has not heard from
                    // us: the 100 Trying goes out now rather than later,
                    // which stops Timer A sooner.
                    self.send_trying(sh);
                } else if let Some(bytes) = &self.last {
                    sh.send_for(
                        TxIdEither::Server(self.id),
                        self.dest,
                        self.transport,
                        bytes.clone(),
                    );
                }
            }
            State::Completed => {
                if let Some(bytes) = &self.last {
                    sh.send_for(
                        TxIdEither::Server(self.id),
                        self.dest,
                        self.transport,
                        bytes.clone(),
                    );
                }
            }
            // Accepted: the TU retransmits the 2xx on its own schedule
            // (RFC 6026 §8.6), so nothing is sent. Confirmed: the ACK
            // came, the peer has our final.
            State::Accepted | State::Confirmed => {}
        }
    }

    /// An ACK with this transaction's branch arrived.
    pub fn on_ack(&mut self, now: Duration, ack: Request, sh: &mut Shared) -> (Incoming, Step) {
        match self.state {
            State::Completed => {
                sh.disarm_all(&mut self.slots);
                self.state = State::Confirmed;
                let timer_i = match self.transport {
                    Transport::Udp => sh.config.t4,
                    Transport::Tcp => Duration::ZERO,
                };
                if timer_i.is_zero() {
                    return (Incoming::Absorbed, Step::Done);
                }
                sh.arm(
                    &mut self.slots.life,
                    now + timer_i,
                    TxIdEither::Server(self.id),
                    Timer::I,
                );
                (Incoming::Absorbed, Step::Live)
            }
            // An ACK for our 2xx that reused the INVITE's branch: it is
            // the TU's (RFC 6026 §8.7).
            State::Accepted => (Incoming::Ack2xx(ack), Step::Live),
            // Confirmed: ACK retransmission. Proceeding: an ACK before any
            // final is meaningless; drop it.
            State::Confirmed | State::Proceeding => (Incoming::Absorbed, Step::Live),
        }
    }

    /// The TU answers.
    pub fn respond(
        &mut self,
        now: Duration,
        status: u16,
        bytes: Vec<u8>,
        sh: &mut Shared,
    ) -> Result<Step, TxError> {
        let id = TxIdEither::Server(self.id);
        match (self.state, status) {
            (State::Proceeding, 100..=199) => {
                self.trying = None;
                sh.disarm(&mut self.slots.retx);
                sh.send_for(
                    TxIdEither::Server(self.id),
                    self.dest,
                    self.transport,
                    bytes.clone(),
                );
                self.last = Some(bytes);
                Ok(Step::Live)
            }
            (State::Proceeding, 200..=299) => {
                self.trying = None;
                self.last = None;
                sh.disarm_all(&mut self.slots);
                sh.send_for(
                    TxIdEither::Server(self.id),
                    self.dest,
                    self.transport,
                    bytes,
                );
                self.state = State::Accepted;
                sh.arm(&mut self.slots.life, now + sh.config.t1 * 64, id, Timer::L);
                Ok(Step::Live)
            }
            (State::Proceeding, _) => {
                self.trying = None;
                sh.disarm_all(&mut self.slots);
                sh.send_for(
                    TxIdEither::Server(self.id),
                    self.dest,
                    self.transport,
                    bytes.clone(),
                );
                self.last = Some(bytes);
                self.state = State::Completed;
                if self.transport == Transport::Udp {
                    self.g_interval = sh.config.t1;
                    sh.arm(&mut self.slots.retx, now + self.g_interval, id, Timer::G);
                }
                sh.arm(&mut self.slots.life, now + sh.config.t1 * 64, id, Timer::H);
                Ok(Step::Live)
            }
            // RFC 6026 §8.5: further 2xx from the TU (its retransmissions,
            // or a 2xx in another dialog) go straight to the transport.
            (State::Accepted, 200..=299) => {
                sh.send_for(
                    TxIdEither::Server(self.id),
                    self.dest,
                    self.transport,
                    bytes,
                );
                Ok(Step::Live)
            }
            _ => Err(TxError::AlreadyFinal),
        }
    }

    /// One of our timers fired.
    pub fn on_timer(&mut self, now: Duration, timer: Timer, sh: &mut Shared) -> Step {
        let id = TxIdEither::Server(self.id);
        match (self.state, timer) {
            (State::Proceeding, Timer::Trying) => {
                self.slots.retx = None;
                self.send_trying(sh);
                Step::Live
            }
            (State::Completed, Timer::G) => {
                if let Some(bytes) = &self.last {
                    sh.send_for(
                        TxIdEither::Server(self.id),
                        self.dest,
                        self.transport,
                        bytes.clone(),
                    );
                }
                self.g_interval = (self.g_interval * 2).min(sh.config.t2);
                sh.arm(&mut self.slots.retx, now + self.g_interval, id, Timer::G);
                Step::Live
            }
            (State::Completed, Timer::H) => {
                sh.event(TxEvent::AckTimeout { id: self.id });
                Step::Done
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => Step::Done,
            // A timer from a state we have left; disarming should have
            // removed it, so this is only defensive.
            _ => Step::Live,
        }
    }

    fn send_trying(&mut self, sh: &mut Shared) {
        if let Some(bytes) = self.trying.take() {
            sh.disarm(&mut self.slots.retx);
            sh.send_for(
                TxIdEither::Server(self.id),
                self.dest,
                self.transport,
                bytes.clone(),
            );
            self.last = Some(bytes);
        }
    }
}
