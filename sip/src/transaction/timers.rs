//! The timer queue and the output queues every transaction writes into.
//!
//! Timers live in one ordered map keyed by (deadline, sequence number), so
//! `next_timeout` is the first key and a cancelled timer is removed
//! exactly; each transaction remembers the keys of the timers it armed.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use super::{TimerConfig, Transmit, Transport, TxEvent, TxIdEither};

/// A timer's identity in the queue.
pub(super) type TimerKey = (Duration, u64);

/// Which RFC 3261 / RFC 6026 timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// INVITE client retransmit (UDP).
    A,
    /// INVITE client timeout in Calling.
    B,
    /// INVITE client: absorb non-2xx final retransmits.
    D,
    /// Non-INVITE client retransmit (UDP).
    E,
    /// Non-INVITE client timeout.
    F,
    /// INVITE server: retransmit the non-2xx final (UDP).
    G,
    /// INVITE server: give up waiting for the ACK.
    H,
    /// INVITE server: absorb ACK retransmits.
    I,
    /// Non-INVITE server: absorb request retransmits.
    J,
    /// Non-INVITE client: absorb response retransmits.
    K,
    /// INVITE server Accepted state (RFC 6026).
    L,
    /// INVITE client Accepted state (RFC 6026).
    M,
    /// INVITE server: the TU has been silent for 200 ms, send 100 Trying.
    Trying,
    /// INVITE client: we sent a CANCEL and no final response came within
    /// 64*T1 (RFC 3261 §9.1), so the transaction is given up.
    CancelGuard,
}

/// The two timers a transaction can have armed at once: a retransmit
/// (or 100 Trying) timer and a lifetime timer.
#[derive(Debug, Default)]
pub(super) struct Slots {
    /// A, E, G or Trying.
    pub retx: Option<TimerKey>,
    /// B, D, F, H, I, J, K, L, M or CancelGuard.
    pub life: Option<TimerKey>,
}

/// What the transactions share: configuration, timers and output queues.
#[derive(Debug)]
pub(super) struct Shared {
    pub config: TimerConfig,
    timers: BTreeMap<TimerKey, (TxIdEither, Timer)>,
    seq: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl Shared {
    pub fn new(config: TimerConfig) -> Shared {
        Shared {
            config,
            timers: BTreeMap::new(),
            seq: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Arms `timer` at `at` in `slot`, replacing what the slot held.
    pub fn arm(
        &mut self,
        slot: &mut Option<TimerKey>,
        at: Duration,
        owner: TxIdEither,
        timer: Timer,
    ) {
        self.disarm(slot);
        self.seq += 1;
        let key = (at, self.seq);
        self.timers.insert(key, (owner, timer));
        *slot = Some(key);
    }

    /// Cancels the timer in `slot`, if any.
    pub fn disarm(&mut self, slot: &mut Option<TimerKey>) {
        if let Some(key) = slot.take() {
            self.timers.remove(&key);
        }
    }

    /// Cancels both timers of a transaction.
    pub fn disarm_all(&mut self, slots: &mut Slots) {
        self.disarm(&mut slots.retx);
        self.disarm(&mut slots.life);
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<(TxIdEither, Timer)> {
        let (&key, _) = self.timers.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.timers.remove(&key)
    }

    /// Number of armed timers (tests check nothing is left behind).
    #[cfg(test)]
    pub fn armed(&self) -> usize {
        self.timers.len()
    }

    /// Queues bytes that belong to no transaction.
    pub fn send(&mut self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit {
            dest,
            transport,
            bytes,
            owner: None,
        });
    }

    /// Queues bytes on behalf of transaction `owner`.
    pub fn send_for(
        &mut self,
        owner: TxIdEither,
        dest: SocketAddr,
        transport: Transport,
        bytes: Vec<u8>,
    ) {
        self.transmits.push_back(Transmit {
            dest,
            transport,
            bytes,
            owner: Some(owner),
        });
    }

    /// Queues an event for the TU.
    pub fn event(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }

    pub fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn pop_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

/// Whether a transaction lives on after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Still running.
    Live,
    /// Reached Terminated: the layer removes it.
    Done,
}
