//! The softphones' switchboard: pushes to logged-in reps (ring, card,
//! state), their answers back to the escalation of the call they name,
//! a change counter that wakes calls waiting in a queue, and the shelf of
//! cards shown to each rep (`cards`, for the card page).
//!
//! In-process: a rep's socket task holds the receiving end of its pushes;
//! each running escalation holds the receiving end of its inputs. Both
//! queues are bounded; a push waits at most [`PUSH_WAIT`] for room and
//! reports failure rather than grow (the escalation then treats a ring
//! that could not be delivered as declined).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::card::ScreenPop;
use super::cards::{CardShelf, ShelvedCard};
use super::presence::{RepId, RepStatus};

/// Pushes queued towards one rep's socket.
pub const PUSH_QUEUE: usize = 32;
/// Answers queued towards one escalation.
pub const INPUT_QUEUE: usize = 16;
/// Longest a push waits for room in a rep's queue.
pub const PUSH_WAIT: Duration = Duration::from_secs(1);

/// What the server tells a rep's softphone (serialised as the `/rep/ws`
/// message of the same `type`; docs/WEBRTC.md).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepPush {
    /// The rep's presence changed (their own choice, a missed ring,
    /// wrap-up).
    Presence {
        /// The rep's status.
        status: RepStatus,
    },
    /// A call rings: the screen pop.
    Ring {
        /// The card.
        card: Box<ScreenPop>,
        /// How long it rings, ms.
        ring_timeout_ms: u64,
    },
    /// The card of a ringing or connected call changed.
    Card {
        /// The card.
        card: Box<ScreenPop>,
    },
    /// The ring stopped before an answer.
    RingCancelled {
        /// The call.
        call_id: String,
        /// `timeout` or `caller_hung_up`.
        reason: &'static str,
    },
    /// Where the accepted call is: `brief` (the AI speaks to the rep) or
    /// `bridged` (the rep talks with the caller).
    CallState {
        /// The call.
        call_id: String,
        /// `brief` or `bridged`.
        state: &'static str,
    },
    /// The call is over for this rep: `rep_hung_up`, `handed_back`,
    /// `caller_hung_up`, `failed`.
    CallEnded {
        /// The call.
        call_id: String,
        /// Why.
        reason: &'static str,
    },
}

/// What a rep answers about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepInput {
    /// Take the ringing call.
    Accept,
    /// Refuse it.
    Decline,
    /// Skip the AI's brief.
    SkipBrief,
    /// Hang up.
    Hangup,
    /// The rep's softphone vanished: its socket closed without a hang-up
    /// (a crashed browser, a closed laptop, a lost network).
    Lost,
    /// Hand the caller back to the AI, with a note for it.
    HandBack {
        /// The rep's note.
        note: Option<String>,
    },
}

/// Where a rep's answers about one call go.
type InputSender = mpsc::Sender<(RepId, RepInput)>;

/// The in-process switchboard. See the module docs.
#[derive(Debug)]
pub struct RepHub {
    sockets: Mutex<HashMap<RepId, (u64, mpsc::Sender<RepPush>)>>,
    /// Reps whose current login is a phone line (a SIP rep's ringer), not
    /// a softphone page: they get the phone defaults (`sip_brief`).
    phones: Mutex<std::collections::HashSet<RepId>>,
    logins: std::sync::atomic::AtomicU64,
    escalations: Mutex<HashMap<String, (u64, InputSender)>>,
    changes: watch::Sender<u64>,
    /// The cards shown to each rep, for the card page.
    cards: Mutex<CardShelf>,
}

impl Default for RepHub {
    fn default() -> Self {
        RepHub {
            sockets: Mutex::default(),
            phones: Mutex::default(),
            logins: std::sync::atomic::AtomicU64::new(0),
            escalations: Mutex::default(),
            changes: watch::channel(0).0,
            cards: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RepHub {
    /// A rep's softphone connected: its pushes arrive on the receiver. A
    /// second login of the same rep replaces the first (whose receiver
    /// then ends). The number names this login for
    /// [`RepHub::disconnect`].
    pub fn connect(&self, rep: &RepId) -> (u64, mpsc::Receiver<RepPush>) {
        let (tx, rx) = mpsc::channel(PUSH_QUEUE);
        let login = self
            .logins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.sockets).insert(rep.clone(), (login, tx));
        lock(&self.phones).remove(rep);
        (login, rx)
    }

    /// [`RepHub::connect`] for a phone line: the ringer of a rep reached by
    /// SIP (`ingress::sip::rep`) takes the pushes and answers for the
    /// phone, and [`RepHub::is_phone`] says so.
    pub fn connect_phone(&self, rep: &RepId) -> (u64, mpsc::Receiver<RepPush>) {
        let connected = self.connect(rep);
        lock(&self.phones).insert(rep.clone());
        connected
    }

    /// Whether the rep's current login is a phone line.
    pub fn is_phone(&self, rep: &RepId) -> bool {
        lock(&self.phones).contains(rep)
    }

    /// A rep's softphone went away; true when it was the current login (a
    /// replaced socket must not log out its successor).
    pub fn disconnect(&self, rep: &RepId, login: u64) -> bool {
        let mut sockets = lock(&self.sockets);
        if sockets.get(rep).is_some_and(|(l, _)| *l == login) {
            sockets.remove(rep);
            lock(&self.phones).remove(rep);
            true
        } else {
            false
        }
    }

    /// Whether a rep's softphone is connected.
    pub fn is_connected(&self, rep: &RepId) -> bool {
        lock(&self.sockets).contains_key(rep)
    }

    /// Sends a push; false when the rep is not connected or its queue
    /// stayed full for [`PUSH_WAIT`].
    pub async fn push(&self, rep: &RepId, push: RepPush) -> bool {
        // Shelved whether or not it reaches them: the card page shows
        // what the rep was offered even when their softphone is closed
        // (a SIP rep's desktop, say).
        lock(&self.cards).saw(rep, &push);
        let Some((_, tx)) = lock(&self.sockets).get(rep).cloned() else {
            return false;
        };
        matches!(
            tokio::time::timeout(PUSH_WAIT, tx.send(push)).await,
            Ok(Ok(()))
        )
    }

    /// An escalation of `call_id` starts: the reps' answers about it
    /// arrive on the receiver until [`RepHub::end_escalation`] with the
    /// returned number. None while another escalation of the call runs
    /// (a call is transferred once at a time).
    pub fn start_escalation(
        &self,
        call_id: &str,
    ) -> Option<(u64, mpsc::Receiver<(RepId, RepInput)>)> {
        let mut escalations = lock(&self.escalations);
        if escalations.contains_key(call_id) {
            return None;
        }
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let number = self
            .logins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        escalations.insert(call_id.to_owned(), (number, tx));
        Some((number, rx))
    }

    /// The escalation `number` of `call_id` is over.
    pub fn end_escalation(&self, call_id: &str, number: u64) {
        let mut escalations = lock(&self.escalations);
        if escalations.get(call_id).is_some_and(|(n, _)| *n == number) {
            escalations.remove(call_id);
        }
    }

    /// A rep's answer about `call_id`; false when no escalation of that
    /// call runs (a late or forged answer).
    pub async fn answer(&self, rep: &RepId, call_id: &str, input: RepInput) -> bool {
        let Some((_, tx)) = lock(&self.escalations).get(call_id).cloned() else {
            return false;
        };
        // Answers are control: wait for room (the escalation reads
        // promptly; its queue holds 16).
        tx.send((rep.clone(), input)).await.is_ok()
    }

    /// The card of `call_id` for `rep`: None when the call was never
    /// offered to them (or has left the shelf).
    pub fn card_for(&self, rep: &RepId, call_id: &str) -> Option<ShelvedCard> {
        lock(&self.cards).card_for(rep, call_id)
    }

    /// Some rep's presence changed: waiting calls try again.
    pub fn reps_changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Notified on every [`RepHub::reps_changed`].
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
