//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! States: Trying → Proceeding (a provisional was sent) → Completed (a
//! final was sent; Timer J absorbs retransmitted requests by re-sending
//! the final) → Terminated. CANCEL is one of these too.

use std::net::SocketAddr;
use std::time::Duration;

use super::timers::{Shared, Slots, Step, Timer};
use super::{ServerTxId, Transport, TxError, TxIdEither};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(super) struct NonInviteServer {
    id: ServerTxId,
    dest: SocketAddr,
    transport: Transport,
    state: State,
    /// The last response sent, re-sent to a retransmitted request.
    last: Option<Vec<u8>>,
    pub slots: Slots,
}

impl NonInviteServer {
    pub fn new(id: ServerTxId, dest: SocketAddr, transport: Transport) -> NonInviteServer {
        NonInviteServer {
            id,
            dest,
            transport,
            state: State::Trying,
            last: None,
            slots: Slots::default(),
        }
    }

    /// A retransmission of the request arrived. In Trying there is nothing
    /// to re-send: the TU has not answered yet.
    pub fn on_retransmit(&mut self, sh: &mut Shared) {
        if let Some(bytes) = &self.last {
            sh.send_for(
                TxIdEither::Server(self.id),
                self.dest,
                self.transport,
                bytes.clone(),
            );
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
        if self.state == State::Completed {
            return Err(TxError::AlreadyFinal);
        }
        sh.send_for(
            TxIdEither::Server(self.id),
            self.dest,
            self.transport,
            bytes.clone(),
        );
        self.last = Some(bytes);
        if status < 200 {
            self.state = State::Proceeding;
            return Ok(Step::Live);
        }
        self.state = State::Completed;
        // Timer J: on a reliable transport the peer does not retransmit,
        // so there is nothing to absorb.
        match self.transport {
            Transport::Tcp => Ok(Step::Done),
            Transport::Udp => {
                sh.arm(
                    &mut self.slots.life,
                    now + sh.config.t1 * 64,
                    TxIdEither::Server(self.id),
                    Timer::J,
                );
                Ok(Step::Live)
            }
        }
    }

    /// One of our timers fired.
    pub fn on_timer(&mut self, timer: Timer) -> Step {
        match (self.state, timer) {
            (State::Completed, Timer::J) => Step::Done,
            _ => Step::Live,
        }
    }
}
