//! Who hears whom in a room: [`Role`]s and the [`RoutePolicy`] table the
//! call sets, with the two presets issue 13 names ([`RoutePolicy::normal`]
//! and [`RoutePolicy::brief`]).
//!
//! Routing is data, not code paths (the way FreeSWITCH's member flags and
//! Janus AudioBridge's per-participant settings work): listen-in, whisper,
//! coaching and the brief are all rows and columns of one table, so a new
//! arrangement is a new table, not a new branch in the mixer.
//!
//! Invariant: nobody hears themselves. That is the mixer's rule (N−1 per
//! leg), not the table's, so no table can break it; two legs of the same
//! role (two monitors) hear each other only if the table says the role
//! hears itself.

/// What a leg is in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The person who called (phone, or a browser on `/try`).
    Caller,
    /// The AI agent: its "hearing" is the audio sent to the model.
    Agent,
    /// A human representative who takes the call over.
    Rep,
    /// A supervisor listening in: hears everyone, heard by no one.
    Monitor,
    /// A supervisor coaching the rep: hears everyone, heard by the rep only.
    Coach,
}

impl Role {
    /// Every role, in table order.
    pub const ALL: [Role; 5] = [
        Role::Caller,
        Role::Agent,
        Role::Rep,
        Role::Monitor,
        Role::Coach,
    ];

    /// The role's row and column in a [`RoutePolicy`].
    pub const fn index(self) -> usize {
        match self {
            Role::Caller => 0,
            Role::Agent => 1,
            Role::Rep => 2,
            Role::Monitor => 3,
            Role::Coach => 4,
        }
    }
}

const ROLES: usize = Role::ALL.len();

/// A speaker in the room: a leg of some role, or the hold source (music or
/// a prompt the call plays to whoever is on hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// Any leg of this role.
    Role(Role),
    /// The hold source.
    Hold,
}

/// Which role hears which speaker. `Copy` and small (30 booleans), so the
/// call can keep presets around and swap them on any tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutePolicy {
    /// `hears[listener][speaker]`, by [`Role::index`].
    hears: [[bool; ROLES]; ROLES],
    /// `hold[listener]`: the listener hears the hold source.
    hold: [bool; ROLES],
}

impl RoutePolicy {
    /// Nobody hears anyone: the starting point for a hand-built table.
    pub const fn silent() -> RoutePolicy {
        RoutePolicy {
            hears: [[false; ROLES]; ROLES],
            hold: [false; ROLES],
        }
    }

    /// The ordinary call. Everyone hears everyone (but themselves), except:
    /// nobody hears a monitor; only reps hear a coach; nobody hears the hold
    /// source.
    pub const fn normal() -> RoutePolicy {
        let mut p = RoutePolicy {
            hears: [[true; ROLES]; ROLES],
            hold: [false; ROLES],
        };
        let mut listener = 0;
        while listener < ROLES {
            p.hears[listener][Role::Monitor.index()] = false;
            p.hears[listener][Role::Coach.index()] = listener == Role::Rep.index();
            listener += 1;
        }
        p
    }

    /// The brief: the agent tells the rep about the call before the rep
    /// takes it (issue 13, protocols.md §4.5 "WHISPER").
    ///
    /// - The caller is on hold: hears only the hold source, and is heard
    ///   only by the supervisors (monitor, coach), not by the agent (whose
    ///   model would otherwise answer them) nor by the rep (who is being
    ///   briefed, as on any hold).
    /// - The agent is heard by the rep only (and the supervisors); it hears
    ///   the rep, so the rep can ask it questions.
    /// - Monitor and coach rules are the same as in [`normal`](Self::normal):
    ///   they hear everyone; the coach is heard by the rep only.
    pub const fn brief() -> RoutePolicy {
        let mut p = RoutePolicy::normal();
        let caller = Role::Caller.index();
        let agent = Role::Agent.index();
        let rep = Role::Rep.index();
        let mut speaker = 0;
        while speaker < ROLES {
            p.hears[caller][speaker] = false;
            speaker += 1;
        }
        p.hold[caller] = true;
        p.hears[agent][caller] = false;
        p.hears[rep][caller] = false;
        p
    }

    /// Whether a `listener` leg hears `speaker` (for two different legs).
    pub const fn hears(&self, listener: Role, speaker: Speaker) -> bool {
        match speaker {
            Speaker::Role(role) => self.hears[listener.index()][role.index()],
            Speaker::Hold => self.hold[listener.index()],
        }
    }

    /// Sets whether `listener` hears `speaker`; chainable.
    pub fn set(&mut self, listener: Role, speaker: Speaker, hears: bool) -> &mut RoutePolicy {
        match speaker {
            Speaker::Role(role) => self.hears[listener.index()][role.index()] = hears,
            Speaker::Hold => self.hold[listener.index()] = hears,
        }
        self
    }
}

impl Default for RoutePolicy {
    fn default() -> RoutePolicy {
        RoutePolicy::normal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_table_hides_the_monitor_and_whispers_the_coach_to_reps() {
        let p = RoutePolicy::normal();
        for listener in Role::ALL {
            assert!(!p.hears(listener, Speaker::Role(Role::Monitor)));
            assert_eq!(
                p.hears(listener, Speaker::Role(Role::Coach)),
                listener == Role::Rep
            );
            assert!(!p.hears(listener, Speaker::Hold));
            for speaker in [Role::Caller, Role::Agent, Role::Rep] {
                assert!(p.hears(listener, Speaker::Role(speaker)));
            }
        }
    }

    #[test]
    fn brief_table_puts_the_caller_on_hold_and_the_agent_to_the_rep() {
        let p = RoutePolicy::brief();
        assert!(p.hears(Role::Caller, Speaker::Hold));
        for speaker in Role::ALL {
            assert!(!p.hears(Role::Caller, Speaker::Role(speaker)));
        }
        for listener in [Role::Caller, Role::Rep, Role::Monitor, Role::Coach] {
            let hears_agent = p.hears(listener, Speaker::Role(Role::Agent));
            assert_eq!(
                hears_agent,
                matches!(listener, Role::Rep | Role::Monitor | Role::Coach),
                "{listener:?}"
            );
        }
        assert!(p.hears(Role::Agent, Speaker::Role(Role::Rep)));
        assert!(!p.hears(Role::Agent, Speaker::Role(Role::Caller)));
        assert!(p.hears(Role::Monitor, Speaker::Role(Role::Caller)));
    }
}
