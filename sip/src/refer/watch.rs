//! The referrer's view of one transfer: REFER sent, then its response, then the NOTIFYs,
//! until a final result or a timeout. Sans-IO: every input carries `now`, and
//! [`ReferWatch::poll_timeout`] says when to call [`ReferWatch::handle_timeout`].

use std::time::{Duration, Instant};

use super::ReferNotify;
use crate::message::Response;

/// How long to wait at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferWatchConfig {
    /// From sending the REFER to its final response. The transaction layer gives up after
    /// 64·T1 = 32 s (and reports a 408, which ends the watch sooner); this is the backstop.
    pub accept_timeout: Duration,
    /// From the 2xx to the final NOTIFY: ringing the target and its answer.
    pub completion_timeout: Duration,
}

impl Default for ReferWatchConfig {
    /// 32 s to be accepted, 120 s to complete.
    fn default() -> ReferWatchConfig {
        ReferWatchConfig {
            accept_timeout: Duration::from_secs(32),
            completion_timeout: Duration::from_secs(120),
        }
    }
}

/// How a transfer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferOutcome {
    /// A 2xx sipfrag: the transferee reached the target. Hang up our leg.
    Succeeded {
        /// The final status reported (200…).
        status: u16,
    },
    /// A sipfrag of 300 or more: the transferee tried and the target refused or failed.
    /// The call is still ours.
    Failed {
        /// The final status reported (486, 603, 408…).
        status: u16,
    },
    /// The peer answered the REFER 403, 405 or 501: it does not do REFER (or not for us).
    /// Fall back to bridging the call ourselves.
    PeerRefusesRefer {
        /// The response status.
        status: u16,
    },
    /// Any other failure response to the REFER (401/407 to answer with credentials in a new
    /// REFER, 481, 488, 5xx, 408 from the transaction layer…).
    Rejected {
        /// The response status.
        status: u16,
    },
    /// The peer accepted with `Refer-Sub: false` (RFC 4488): no NOTIFYs will come, so the
    /// result of the transfer is unknown here (the peer will usually hang up on success).
    AcceptedWithoutReport,
    /// The subscription was terminated without a final status (a NOTIFY saying
    /// `terminated` with a 1xx sipfrag, for example on `reason=timeout`).
    SubscriptionEnded {
        /// The last status reported, if any.
        last_status: Option<u16>,
    },
    /// No answer in time: `accepted` says whether the REFER had been accepted.
    TimedOut {
        /// Whether a 2xx (or a NOTIFY) had arrived.
        accepted: bool,
    },
}

impl ReferOutcome {
    /// Whether the transferee is known to have reached the target.
    pub fn succeeded(&self) -> bool {
        matches!(self, ReferOutcome::Succeeded { .. })
    }
}

/// What an input changed, for the caller to act on or log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum ReferEvent {
    /// The REFER was accepted (a 2xx, or a NOTIFY that overtook it).
    Accepted,
    /// A provisional status from the transferee (100 Trying, 180 Ringing…).
    Progress {
        /// The status reported.
        status: u16,
    },
    /// The transfer is over; the watch ignores every later input.
    Finished(ReferOutcome),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// REFER sent, no final response yet.
    Sent,
    /// Accepted, waiting for a final NOTIFY.
    Accepted,
    /// Over.
    Done(ReferOutcome),
}

/// One transfer we asked for, from the REFER to its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferWatch {
    config: ReferWatchConfig,
    refer_cseq: u32,
    phase: Phase,
    deadline: Instant,
    last_status: Option<u16>,
}

impl ReferWatch {
    /// A watch for the REFER with CSeq number `refer_cseq`, sent at `now`.
    pub fn new(now: Instant, refer_cseq: u32, config: ReferWatchConfig) -> ReferWatch {
        ReferWatch {
            config,
            refer_cseq,
            phase: Phase::Sent,
            deadline: after(now, config.accept_timeout),
            last_status: None,
        }
    }

    /// The outcome, once over.
    pub fn outcome(&self) -> Option<&ReferOutcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Whether the REFER has been accepted (and the transfer is not over).
    pub fn is_accepted(&self) -> bool {
        self.phase == Phase::Accepted
    }

    /// The last status a NOTIFY reported.
    pub fn last_status(&self) -> Option<u16> {
        self.last_status
    }

    /// When to call [`ReferWatch::handle_timeout`]; `None` once over.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done(_) => None,
            _ => Some(self.deadline),
        }
    }

    /// Ends the watch as timed out if `now` is at or past the deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ReferEvent> {
        let accepted = match self.phase {
            Phase::Done(_) => return None,
            Phase::Sent => false,
            Phase::Accepted => true,
        };
        (now >= self.deadline).then(|| self.finish(ReferOutcome::TimedOut { accepted }))
    }

    /// A response to the REFER (the caller matched it to the REFER's transaction). 1xx is
    /// ignored, and so is anything after the first final response.
    pub fn on_response(&mut self, response: &Response, now: Instant) -> Option<ReferEvent> {
        if self.phase != Phase::Sent {
            return None;
        }
        let status = response.status;
        Some(match status {
            0..=199 => return None,
            200..=299 => {
                let no_sub = response
                    .headers
                    .get("Refer-Sub")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
                if no_sub {
                    self.finish(ReferOutcome::AcceptedWithoutReport)
                } else {
                    self.accept(now)
                }
            }
            403 | 405 | 501 => self.finish(ReferOutcome::PeerRefusesRefer { status }),
            _ => self.finish(ReferOutcome::Rejected { status }),
        })
    }

    /// A NOTIFY the caller matched to this dialog, parsed with [`ReferNotify::parse`]. One
    /// whose `id` names another REFER is ignored. A NOTIFY may overtake the 202 (RFC 3515
    /// §2.4.4 does not order them); it then counts as the acceptance too, and a provisional
    /// status in it is reported as [`ReferEvent::Accepted`] (see [`ReferWatch::last_status`]).
    ///
    /// Answer the NOTIFY 200 whatever this returns.
    pub fn on_notify(&mut self, notify: &ReferNotify, now: Instant) -> Option<ReferEvent> {
        if matches!(self.phase, Phase::Done(_)) {
            return None;
        }
        if notify.id.is_some_and(|id| id != self.refer_cseq) {
            return None;
        }
        let was_sent = self.phase == Phase::Sent;
        if was_sent {
            let _ = self.accept(now);
        }
        self.last_status = Some(notify.status);
        let status = notify.status;
        Some(match status {
            200..=299 => self.finish(ReferOutcome::Succeeded { status }),
            300.. => self.finish(ReferOutcome::Failed { status }),
            _ if notify.is_terminated() => self.finish(ReferOutcome::SubscriptionEnded {
                last_status: Some(status),
            }),
            _ if was_sent => ReferEvent::Accepted,
            _ => ReferEvent::Progress { status },
        })
    }

    fn accept(&mut self, now: Instant) -> ReferEvent {
        self.phase = Phase::Accepted;
        self.deadline = after(now, self.config.completion_timeout);
        ReferEvent::Accepted
    }

    fn finish(&mut self, outcome: ReferOutcome) -> ReferEvent {
        self.phase = Phase::Done(outcome.clone());
        ReferEvent::Finished(outcome)
    }
}

/// `now + d`; `now` (an immediate timeout) if a configured duration overflows `Instant`.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}
