//! The UAS core's 2xx retransmission (RFC 3261 §13.3.1.4 as amended by
//! RFC 6026): the INVITE server transaction hands the 2xx to the core,
//! which re-sends it at T1, 2·T1, … capped at T2 until the ACK arrives,
//! and gives up after 64·T1, when the session must end with BYE.

use std::time::Duration;

/// What the retransmitter wants done now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerAction {
    /// Send the 2xx again.
    Resend,
    /// No ACK after 64·T1: end the session (send BYE).
    GiveUp,
}

/// Retransmits one 2xx until it is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerRetransmit {
    t2: Duration,
    interval: Duration,
    next_at: Option<Duration>,
    give_up_at: Duration,
    reliable: bool,
}

impl AnswerRetransmit {
    /// The 2xx went out at `now`. On a reliable transport (TCP) it is not
    /// re-sent, but the ACK is still awaited for 64·T1.
    pub fn new(now: Duration, t1: Duration, t2: Duration, reliable: bool) -> AnswerRetransmit {
        AnswerRetransmit {
            t2,
            interval: t1,
            next_at: (!reliable).then_some(now + t1),
            give_up_at: now + t1 * 64,
            reliable,
        }
    }

    /// The ACK arrived: nothing more to do.
    pub fn acked(&mut self) {
        self.next_at = None;
        self.give_up_at = Duration::MAX;
    }

    /// Whether the ACK is still awaited.
    pub fn waiting(&self) -> bool {
        self.give_up_at != Duration::MAX
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        if !self.waiting() {
            return None;
        }
        Some(
            self.next_at
                .map_or(self.give_up_at, |n| n.min(self.give_up_at)),
        )
    }

    /// What to do at `now`, if anything.
    pub fn poll(&mut self, now: Duration) -> Option<AnswerAction> {
        if !self.waiting() {
            return None;
        }
        if now >= self.give_up_at {
            self.acked();
            return Some(AnswerAction::GiveUp);
        }
        match self.next_at {
            Some(at) if now >= at && !self.reliable => {
                self.interval = (self.interval * 2).min(self.t2);
                self.next_at = Some(at + self.interval);
                Some(AnswerAction::Resend)
            }
            _ => None,
        }
    }
}
