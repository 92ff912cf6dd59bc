//! RFC 4028 session timers for the UAS: negotiating `Session-Expires` and
//! `Min-SE` on the INVITE, and the timer that follows — the refresher
//! refreshes at half the interval; the other side ends the session if no
//! refresh arrives by `interval − min(32 s, interval/3)`.

use std::time::Duration;

use crate::message::{Request, SipHeaders};

/// Our session-timer policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The interval we ask for when the caller asks for none, seconds.
    pub session_expires: u32,
    /// The smallest interval we accept, seconds (RFC 4028 floor: 90).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> SessionTimerConfig {
        SessionTimerConfig {
            session_expires: 1800,
            min_se: 90,
        }
    }
}

/// Which side refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The caller.
    Uac,
    /// We do.
    Uas,
}

/// The result of negotiating on an INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerOutcome {
    /// A timer runs with this interval.
    Active {
        /// Seconds.
        interval: u32,
        /// Who refreshes.
        refresher: Refresher,
        /// Whether the caller supports timers (then the 2xx carries
        /// `Require: timer`).
        uac_supports: bool,
    },
    /// The caller's interval is below our Min-SE: answer 422 with it.
    TooSmall {
        /// Our Min-SE.
        min_se: u32,
    },
}

impl SessionTimerOutcome {
    /// Headers for the 2xx (or the 422).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        match *self {
            SessionTimerOutcome::Active {
                interval,
                refresher,
                uac_supports,
            } => {
                let who = match refresher {
                    Refresher::Uac => "uac",
                    Refresher::Uas => "uas",
                };
                let mut h = vec![("Session-Expires", format!("{interval};refresher={who}"))];
                if uac_supports {
                    h.push(("Require", "timer".to_owned()));
                }
                h
            }
            SessionTimerOutcome::TooSmall { min_se } => vec![("Min-SE", min_se.to_string())],
        }
    }
}

fn delta_seconds(value: &str) -> Option<(u32, Option<&str>)> {
    let mut parts = value.split(';').map(str::trim);
    let delta = parts.next()?.parse().ok()?;
    let refresher = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim());
    Some((delta, refresher))
}

/// Negotiates the timer of a dialog-creating (or refreshing) INVITE.
pub fn negotiate_uas(request: &Request, config: &SessionTimerConfig) -> SessionTimerOutcome {
    let uac_supports = request.supports("timer");
    let asked = request
        .headers
        .get("Session-Expires")
        .and_then(delta_seconds);
    let caller_min_se = request
        .headers
        .get("Min-SE")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(90);
    let min_se = config.min_se.max(90);
    match asked {
        Some((delta, _)) if delta < min_se => SessionTimerOutcome::TooSmall { min_se },
        Some((delta, refresher)) => {
            let refresher = match refresher {
                Some(r) if r.eq_ignore_ascii_case("uas") => Refresher::Uas,
                Some(r) if r.eq_ignore_ascii_case("uac") && uac_supports => Refresher::Uac,
                // Unspecified: the caller refreshes when it can (as ezk).
                _ if uac_supports => Refresher::Uac,
                _ => Refresher::Uas,
            };
            SessionTimerOutcome::Active {
                interval: delta,
                refresher,
                uac_supports,
            }
        }
        None => SessionTimerOutcome::Active {
            interval: config.session_expires.max(caller_min_se).max(min_se),
            refresher: if uac_supports {
                Refresher::Uac
            } else {
                Refresher::Uas
            },
            uac_supports,
        },
    }
}

/// What the timer wants done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerAction {
    /// We are the refresher: send a refresh (re-INVITE or UPDATE) now.
    Refresh,
    /// No refresh came in time: send BYE.
    Expired,
}

/// A running session timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    refresher: Refresher,
    last_refresh: Duration,
    refresh_sent: bool,
}

impl SessionTimer {
    /// Starts at `now` (the 2xx).
    pub fn new(now: Duration, interval_secs: u32, refresher: Refresher) -> SessionTimer {
        SessionTimer {
            interval: Duration::from_secs(u64::from(interval_secs)),
            refresher,
            last_refresh: now,
            refresh_sent: false,
        }
    }

    /// A refresh succeeded at `now` (either side's), possibly with a new
    /// interval and refresher.
    pub fn refreshed(&mut self, now: Duration, interval_secs: u32, refresher: Refresher) {
        *self = SessionTimer::new(now, interval_secs, refresher);
    }

    /// The interval, seconds.
    pub fn interval_secs(&self) -> u64 {
        self.interval.as_secs()
    }

    /// Who refreshes.
    pub fn refresher(&self) -> Refresher {
        self.refresher
    }

    fn expiry(&self) -> Duration {
        let guard = Duration::from_secs(32).min(self.interval / 3);
        self.last_refresh + self.interval - guard
    }

    fn refresh_at(&self) -> Duration {
        self.last_refresh + self.interval / 2
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Duration {
        match self.refresher {
            Refresher::Uas if !self.refresh_sent => self.refresh_at(),
            _ => self.expiry(),
        }
    }

    /// What to do at `now`, if anything.
    pub fn poll(&mut self, now: Duration) -> Option<SessionTimerAction> {
        if now >= self.expiry() {
            return Some(SessionTimerAction::Expired);
        }
        if self.refresher == Refresher::Uas && !self.refresh_sent && now >= self.refresh_at() {
            self.refresh_sent = true;
            return Some(SessionTimerAction::Refresh);
        }
        None
    }
}
