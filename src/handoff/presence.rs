//! Reps, their presence and one queue per skill, behind [`RepDirectory`].
//!
//! [`InProcessDirectory`] keeps everything in one `Mutex` of this process;
//! a shared backend (a scaled-out warmline behind Kamailio) implements the
//! same trait over a store every node sees. Time enters as an argument:
//! nothing here reads a clock.
//!
//! The rules (decision 0028):
//! - a rep is *offered* a call when their chosen presence is `available`,
//!   they are not ringing or in a call, and their wrap-up is over;
//! - among those, the one idle longest (offerable since the earliest
//!   instant) rings first;
//! - a rep counts as *logged in* to a queue while their presence is not
//!   `offline`, whatever else they do: a queue with only busy or away reps
//!   makes the caller wait, a queue with nobody answers at once;
//! - waiting calls are served first come, first served: a call may claim a
//!   rep only when no call ahead of it waits in the same queue;
//! - a rep's SIP phone (decision 0032) stands in for the browser while the
//!   rep is `offline` there: registered, the rep counts as `available`; a
//!   missed ring makes them `away` until the phone registers again (a
//!   refresh counts). A presence chosen on the page (not `offline`) wins.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::RepConfig;

/// A rep's id (`[[reps]] id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RepId(pub String);

impl std::fmt::Display for RepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a rep chose on the softphone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Takes calls.
    Available,
    /// Logged in, not taking calls now (on another call, say).
    Busy,
    /// Logged in, away from the desk (a missed ring sets this too).
    Away,
    /// Not logged in.
    Offline,
}

/// What the directory says about one rep, for the softphone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RepStatus {
    /// The rep.
    pub id: RepId,
    /// Display name.
    pub name: String,
    /// Queues.
    pub skills: Vec<String>,
    /// Presence: the one chosen on the page, or the SIP phone's while the
    /// rep is `offline` there (see the module docs).
    pub presence: Presence,
    /// Whether the rep's SIP phone holds a live registration.
    pub sip_registered: bool,
    /// Ringing for, or in, a call (`None`: free).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engaged: Option<String>,
    /// Milliseconds of wrap-up left (0: none).
    pub wrap_up_ms: u64,
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This rep is now reserved for the call (ringing); release it later.
    Rep(RepId),
    /// Reps are logged in but none can be offered the call now; the call
    /// is (or stays) in the queue at this 1-based position.
    Wait {
        /// Position in the queue.
        position: usize,
    },
    /// Nobody is logged in to the queue (or everyone left was tried).
    Nobody,
}

/// How a reserved rep is given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Declined the ring: free again at once, idle time kept.
    Declined,
    /// Let the ring time out: set `away` (nobody at the desk).
    Missed,
    /// The ring was withdrawn (the caller hung up, another path won).
    Withdrawn,
    /// The call with this rep ended: wrap-up starts.
    CallEnded,
}

/// Errors of the directory.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// The id names no `[[reps]]` entry; check the config.
    #[error("no rep {0} in [[reps]]")]
    UnknownRep(RepId),
}

/// Presence and queues. See the module docs for the rules.
pub trait RepDirectory: Send + Sync + 'static {
    /// The rep whose login token this is (constant-time comparison).
    fn authenticate(&self, token: &str) -> Option<RepId>;
    /// Sets a rep's chosen presence.
    fn set_presence(
        &self,
        rep: &RepId,
        presence: Presence,
        now: Instant,
    ) -> Result<RepStatus, DirectoryError>;
    /// A rep's status.
    fn status(&self, rep: &RepId, now: Instant) -> Option<RepStatus>;
    /// Reps logged in to `skill` (presence not `offline`).
    fn logged_in(&self, skill: &str) -> usize;
    /// Reserves the longest-idle offerable rep of `skill` for `call`,
    /// skipping `exclude` (reps this call already rang). A call not yet
    /// in the queue joins it when it must wait.
    fn claim(&self, skill: &str, call: &str, exclude: &[RepId], now: Instant) -> Claim;
    /// The call's 1-based position in `skill`'s queue, if it waits.
    fn position(&self, skill: &str, call: &str) -> Option<usize>;
    /// The call stops waiting (it got a rep, gave up or ended).
    fn leave_queue(&self, skill: &str, call: &str);
    /// Gives a reserved rep back.
    fn release(&self, rep: &RepId, how: Release, now: Instant);
    /// The earliest instant at which a rep in wrap-up becomes offerable
    /// (a waiting call should try again then).
    fn next_wrap_up_end(&self, now: Instant) -> Option<Instant>;
    /// The rep's SIP phone registered (or refreshed: `true`) or lost its
    /// last binding (`false`).
    fn set_sip_registered(
        &self,
        rep: &RepId,
        registered: bool,
        now: Instant,
    ) -> Result<RepStatus, DirectoryError>;
}

#[derive(Debug)]
struct RepEntry {
    config: RepConfig,
    token: Option<String>,
    presence: Presence,
    /// Offerable since (longest idle first); set when presence becomes
    /// available and when wrap-up ends.
    idle_since: Option<Instant>,
    wrap_up_until: Option<Instant>,
    engaged: Option<String>,
    /// The SIP phone holds a live registration.
    sip_registered: bool,
    /// The SIP phone let a ring time out since it last registered.
    sip_missed: bool,
}

impl RepEntry {
    /// The presence calls see: the page's, or the phone's while the page
    /// says offline.
    fn presence(&self) -> Presence {
        match (self.presence, self.sip_registered, self.sip_missed) {
            (Presence::Offline, true, false) => Presence::Available,
            (Presence::Offline, true, true) => Presence::Away,
            (chosen, _, _) => chosen,
        }
    }

    fn offerable(&self, now: Instant) -> bool {
        self.presence() == Presence::Available
            && self.engaged.is_none()
            && self.wrap_up_until.is_none_or(|t| now >= t)
    }

    /// When this rep became offerable: after wrap-up, its end.
    fn idle_key(&self, now: Instant) -> Instant {
        let since = self.idle_since.unwrap_or(now);
        match self.wrap_up_until {
            Some(end) if end > since => end,
            _ => since,
        }
    }

    fn status(&self, now: Instant) -> RepStatus {
        RepStatus {
            id: RepId(self.config.id.clone()),
            name: self.config.name.clone(),
            skills: self.config.queues(),
            presence: self.presence(),
            sip_registered: self.sip_registered,
            engaged: self.engaged.clone(),
            wrap_up_ms: self
                .wrap_up_until
                .map_or(0, |t| t.saturating_duration_since(now).as_millis() as u64),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    reps: BTreeMap<RepId, RepEntry>,
    queues: BTreeMap<String, VecDeque<String>>,
}

/// The directory of this process. See the module docs.
#[derive(Debug)]
pub struct InProcessDirectory {
    state: Mutex<State>,
    wrap_up: Duration,
}

impl InProcessDirectory {
    /// A directory of `reps`, every rep offline; `token` looks up a rep's
    /// login token by its `token_env` (an unset variable: that rep cannot
    /// log in).
    pub fn new(
        reps: &[RepConfig],
        wrap_up: Duration,
        token: &dyn Fn(&str) -> Option<String>,
    ) -> InProcessDirectory {
        let reps = reps
            .iter()
            .map(|r| {
                (
                    RepId(r.id.clone()),
                    RepEntry {
                        config: r.clone(),
                        token: token(&r.token_env).filter(|t| !t.is_empty()),
                        presence: Presence::Offline,
                        idle_since: None,
                        wrap_up_until: None,
                        engaged: None,
                        sip_registered: false,
                        sip_missed: false,
                    },
                )
            })
            .collect();
        InProcessDirectory {
            state: Mutex::new(State {
                reps,
                queues: BTreeMap::new(),
            }),
            wrap_up,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; go on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Compares two tokens without an early exit on the first difference.
fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl RepDirectory for InProcessDirectory {
    fn authenticate(&self, token: &str) -> Option<RepId> {
        if token.is_empty() {
            return None;
        }
        let state = self.lock();
        let mut found = None;
        for (id, rep) in &state.reps {
            if rep.token.as_deref().is_some_and(|t| same_token(t, token)) {
                found = Some(id.clone());
            }
        }
        found
    }

    fn set_presence(
        &self,
        rep: &RepId,
        presence: Presence,
        now: Instant,
    ) -> Result<RepStatus, DirectoryError> {
        let mut state = self.lock();
        let entry = state
            .reps
            .get_mut(rep)
            .ok_or_else(|| DirectoryError::UnknownRep(rep.clone()))?;
        let before = entry.presence();
        entry.presence = presence;
        if entry.presence() == Presence::Available && before != Presence::Available {
            entry.idle_since = Some(now);
        }
        Ok(entry.status(now))
    }

    fn status(&self, rep: &RepId, now: Instant) -> Option<RepStatus> {
        self.lock().reps.get(rep).map(|r| r.status(now))
    }

    fn logged_in(&self, skill: &str) -> usize {
        self.lock()
            .reps
            .values()
            .filter(|r| {
                r.presence() != Presence::Offline && r.config.queues().iter().any(|s| s == skill)
            })
            .count()
    }

    fn claim(&self, skill: &str, call: &str, exclude: &[RepId], now: Instant) -> Claim {
        let mut state = self.lock();
        let candidates = || {
            state.reps.iter().filter(|(id, r)| {
                r.config.queues().iter().any(|s| s == skill) && !exclude.contains(id)
            })
        };
        if candidates().all(|(_, r)| r.presence() == Presence::Offline) {
            drop(state);
            self.leave_queue(skill, call);
            return Claim::Nobody;
        }
        let ahead = state
            .queues
            .get(skill)
            .and_then(|q| q.iter().position(|c| c == call))
            .unwrap_or_else(|| state.queues.get(skill).map_or(0, VecDeque::len));
        let best = candidates()
            .filter(|(_, r)| r.offerable(now))
            .min_by_key(|(id, r)| (r.idle_key(now), (*id).clone()))
            .map(|(id, _)| id.clone());
        match best {
            Some(id) if ahead == 0 => {
                if let Some(q) = state.queues.get_mut(skill) {
                    q.retain(|c| c != call);
                }
                if let Some(r) = state.reps.get_mut(&id) {
                    r.engaged = Some(call.to_owned());
                }
                Claim::Rep(id)
            }
            _ => {
                let queue = state.queues.entry(skill.to_owned()).or_default();
                let position = match queue.iter().position(|c| c == call) {
                    Some(i) => i + 1,
                    None => {
                        queue.push_back(call.to_owned());
                        queue.len()
                    }
                };
                Claim::Wait { position }
            }
        }
    }

    fn position(&self, skill: &str, call: &str) -> Option<usize> {
        self.lock()
            .queues
            .get(skill)
            .and_then(|q| q.iter().position(|c| c == call))
            .map(|i| i + 1)
    }

    fn leave_queue(&self, skill: &str, call: &str) {
        let mut state = self.lock();
        if let Some(q) = state.queues.get_mut(skill) {
            q.retain(|c| c != call);
            if q.is_empty() {
                state.queues.remove(skill);
            }
        }
    }

    fn release(&self, rep: &RepId, how: Release, now: Instant) {
        let mut state = self.lock();
        let Some(entry) = state.reps.get_mut(rep) else {
            return;
        };
        entry.engaged = None;
        match how {
            Release::Declined | Release::Withdrawn => {}
            // A phone alone has no presence control: its next REGISTER
            // makes the rep available again.
            Release::Missed if entry.presence == Presence::Offline => entry.sip_missed = true,
            Release::Missed => entry.presence = Presence::Away,
            Release::CallEnded => {
                entry.wrap_up_until = Some(now + self.wrap_up);
                entry.idle_since = Some(now + self.wrap_up);
            }
        }
    }

    fn next_wrap_up_end(&self, now: Instant) -> Option<Instant> {
        self.lock()
            .reps
            .values()
            .filter(|r| r.presence() == Presence::Available && r.engaged.is_none())
            .filter_map(|r| r.wrap_up_until)
            .filter(|t| *t > now)
            .min()
    }

    fn set_sip_registered(
        &self,
        rep: &RepId,
        registered: bool,
        now: Instant,
    ) -> Result<RepStatus, DirectoryError> {
        let mut state = self.lock();
        let entry = state
            .reps
            .get_mut(rep)
            .ok_or_else(|| DirectoryError::UnknownRep(rep.clone()))?;
        let before = entry.presence();
        entry.sip_registered = registered;
        entry.sip_missed = false;
        if entry.presence() == Presence::Available && before != Presence::Available {
            entry.idle_since = Some(now);
        }
        Ok(entry.status(now))
    }
}

#[cfg(test)]
mod tests;
