//! Refusals (a bad Twilio signature, an unknown stream token, a SIP
//! source no trunk allows, a call offered while draining): every one is
//! counted in [`REFUSED`](crate::metrics::REFUSED) by ingress and reason,
//! and logged at most once per [`WINDOW`] per ingress and reason, so a
//! scanner or a misconfigured peer cannot flood the log.
//!
//! The first refusal of a kind is logged with its detail; later ones in
//! the same window are only counted, and the first one after the window
//! says how many were suppressed. The decision is a sans-IO
//! [`RefusalLimiter`] taking the time as an argument; [`refused`] is the
//! process-wide shell that reads the clock and logs.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One log line per kind of refusal per this long, at most.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Every (ingress, reason) refused somewhere in the code: their counters
/// start at zero.
pub const KINDS: [(&str, &str); 21] = [
    ("twilio", "signature"),
    ("twilio", "not_configured"),
    ("twilio", "stream_token"),
    ("twilio", "not_websocket"),
    ("twilio", "draining"),
    ("sip", "unknown_source"),
    ("sip", "malformed"),
    ("sip", "draining"),
    // A called number no route matches, with no default agent.
    ("twilio", "no_route"),
    ("sip", "no_route"),
    // No port, a refused offer or no worker for a browser call.
    ("webrtc", "unavailable"),
    ("webrtc", "draining"),
    ("webrtc", "no_route"),
    // A browser offered a call of its own while `[web] try` is off.
    ("webrtc", "try_off"),
    // A `join` with a wrong admin token, or for a call that is not live.
    ("webrtc", "unauthorized"),
    ("webrtc", "unknown_call"),
    // A /rep login with a token no [[reps]] entry holds.
    ("rep", "token"),
    // A REGISTER from outside `[sip] register_allow` (decision 0032).
    ("sip", "register_source"),
    // A REGISTER with wrong credentials, or for another rep's address.
    ("sip", "register_forbidden"),
    // A REGISTER dropped: its source failed too often.
    ("sip", "register_rate_limited"),
    // An in-dialog REFER from a trunk (a possible toll-fraud attempt).
    ("sip", "inbound_refer"),
];

/// What to do with one refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` of the same kind went unlogged since the last
    /// line.
    Log {
        /// Refusals counted but not logged since the last logged one.
        suppressed: u64,
    },
    /// Count it only.
    Suppress,
}

/// Rate-limits refusal logs per key. Bounded: keys are `&'static str`
/// pairs named in the code, never taken from the network.
#[derive(Debug, Default)]
pub struct RefusalLimiter {
    windows: HashMap<(&'static str, &'static str), Window>,
}

#[derive(Debug)]
struct Window {
    logged_at: Instant,
    suppressed: u64,
}

impl RefusalLimiter {
    /// A refusal of kind (`ingress`, `reason`) at `now`.
    pub fn refusal(
        &mut self,
        ingress: &'static str,
        reason: &'static str,
        now: Instant,
    ) -> Verdict {
        match self.windows.get_mut(&(ingress, reason)) {
            Some(w) if now.saturating_duration_since(w.logged_at) < WINDOW => {
                w.suppressed += 1;
                Verdict::Suppress
            }
            Some(w) => {
                let suppressed = std::mem::take(&mut w.suppressed);
                w.logged_at = now;
                Verdict::Log { suppressed }
            }
            None => {
                self.windows.insert(
                    (ingress, reason),
                    Window {
                        logged_at: now,
                        suppressed: 0,
                    },
                );
                Verdict::Log { suppressed: 0 }
            }
        }
    }
}

fn limiter() -> &'static Mutex<RefusalLimiter> {
    static LIMITER: OnceLock<Mutex<RefusalLimiter>> = OnceLock::new();
    LIMITER.get_or_init(Default::default)
}

/// Counts a refusal and logs it (rate-limited) as a warning: `what` says
/// what was refused and why, `detail` names the peer or the value.
pub fn refused(
    ingress: &'static str,
    reason: &'static str,
    what: &str,
    detail: &dyn std::fmt::Display,
) {
    metrics::counter!(crate::metrics::REFUSED, "ingress" => ingress, "reason" => reason)
        .increment(1);
    let verdict = match limiter().lock() {
        Ok(mut limiter) => limiter.refusal(ingress, reason, Instant::now()),
        // A poisoned lock only loses rate limiting: log.
        Err(_) => Verdict::Log { suppressed: 0 },
    };
    if let Verdict::Log { suppressed } = verdict {
        if suppressed > 0 {
            tracing::warn!(
                ingress,
                reason,
                %detail,
                suppressed,
                "{what} (and {suppressed} more like it in the last {}s, not logged; all are counted in warmline_refused_total)",
                WINDOW.as_secs()
            );
        } else {
            tracing::warn!(ingress, reason, %detail, "{what} (more like it within {}s are counted in warmline_refused_total, not logged)", WINDOW.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_once_per_window_and_then_says_how_many_were_suppressed() {
        let mut limiter = RefusalLimiter::default();
        let t0 = Instant::now();
        assert_eq!(
            limiter.refusal("twilio", "signature", t0),
            Verdict::Log { suppressed: 0 }
        );
        for i in 1..200u64 {
            let at = t0 + Duration::from_millis(i * 10);
            assert_eq!(
                limiter.refusal("twilio", "signature", at),
                Verdict::Suppress
            );
        }
        assert_eq!(
            limiter.refusal("twilio", "signature", t0 + WINDOW),
            Verdict::Log { suppressed: 199 }
        );
        assert_eq!(
            limiter.refusal("twilio", "signature", t0 + WINDOW + Duration::from_secs(1)),
            Verdict::Suppress
        );
    }

    #[test]
    fn each_kind_of_refusal_has_its_own_window() {
        let mut limiter = RefusalLimiter::default();
        let t0 = Instant::now();
        assert!(matches!(
            limiter.refusal("twilio", "signature", t0),
            Verdict::Log { .. }
        ));
        assert!(matches!(
            limiter.refusal("twilio", "stream_token", t0),
            Verdict::Log { .. }
        ));
        assert!(matches!(
            limiter.refusal("sip", "signature", t0),
            Verdict::Log { .. }
        ));
        assert_eq!(
            limiter.refusal("twilio", "signature", t0),
            Verdict::Suppress
        );
    }
}
