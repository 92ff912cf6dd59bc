//! The long-silence flag (issue 17, decision 0038): a call where neither
//! side has been heard for a while, while the AI holds it, is flagged for
//! the supervisors watching the live calls.
//!
//! Measured on the call clock the ticks bring, from what the core itself
//! sees on each 20 ms tick: the caller's real speech (as barge-in and the
//! silence clocks judge it: not echo, not noise) and the agent's audio
//! released to the caller (the model's, not the hold tone, the filler or
//! a prompt). A working tone under a slow tool is silence here: the
//! caller hears nobody. "Holds" means the stream has started, the agent
//! is in the room and at the front (not sidelined by a hold or a rep),
//! and the call is not over.
//!
//! [`LongSilence`] is pure: time in, a [`SilenceChange`] out, once when
//! the silence passes its bound and once when it ends (someone speaks,
//! or the AI stops holding the call). It never asks the model for
//! anything: the re-prompt of `silence` does that.

use std::time::Duration;

use super::{CallCore, CallOutput};

/// The flag went up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceChange {
    /// Nobody has been heard since `since` (call clock), for the bound.
    Began {
        /// When the last voice was heard (or the AI took the call).
        since: Duration,
    },
    /// Someone spoke, or the AI stopped holding the call.
    Ended {
        /// When the silence began.
        since: Duration,
        /// How long it lasted.
        lasted: Duration,
    },
}

/// The detector: a bound (zero: off), when a voice was last heard, and
/// whether the flag is up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LongSilence {
    after: Duration,
    voice_at: Option<Duration>,
    flagged: bool,
}

impl LongSilence {
    /// Flags `after` of silence; `Duration::ZERO` never flags.
    pub fn new(after: Duration) -> LongSilence {
        LongSilence {
            after,
            voice_at: None,
            flagged: false,
        }
    }

    /// Whether the flag is up.
    pub fn flagged(&self) -> bool {
        self.flagged
    }

    /// One tick at `now`: `voice` when either side was heard in it,
    /// `holds` while the AI holds the call.
    #[must_use]
    pub fn tick(&mut self, now: Duration, voice: bool, holds: bool) -> Option<SilenceChange> {
        if self.after.is_zero() {
            return None;
        }
        if !holds || voice {
            let ended = self.end(now);
            self.voice_at = holds.then_some(now);
            return ended;
        }
        let since = *self.voice_at.get_or_insert(now);
        if !self.flagged && now >= since + self.after {
            self.flagged = true;
            return Some(SilenceChange::Began { since });
        }
        None
    }

    /// The AI stops holding the call (it leaves, is sidelined): the flag
    /// comes down if it was up, and the clock waits for the next tick
    /// that holds.
    #[must_use]
    pub fn reset(&mut self, now: Duration) -> Option<SilenceChange> {
        let ended = self.end(now);
        self.voice_at = None;
        ended
    }

    fn end(&mut self, now: Duration) -> Option<SilenceChange> {
        if !std::mem::take(&mut self.flagged) {
            return None;
        }
        let since = self.voice_at.unwrap_or(now);
        Some(SilenceChange::Ended {
            since,
            lasted: now.saturating_sub(since),
        })
    }
}

impl CallCore {
    /// Runs the long-silence flag on a tick in which the agent was heard
    /// (`agent_voice`) or not.
    pub(super) fn long_silence_tick(&mut self, now: Duration, agent_voice: bool) {
        let holds = self.stream_started_at.is_some()
            && !self.hung_up
            && !self.sidelined()
            && self.model_state != super::ModelState::Closed;
        let voice = agent_voice || self.caller_speaking();
        if let Some(change) = self.long_silence.tick(now, voice, holds) {
            self.outputs.push_back(CallOutput::LongSilence(change));
        }
    }

    /// The AI stopped holding the call at `now`: the flag comes down.
    pub(super) fn long_silence_reset(&mut self, now: Duration) {
        if let Some(change) = self.long_silence.reset(now) {
            self.outputs.push_back(CallOutput::LongSilence(change));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    /// Runs `detector` over `from..to` (call clock) with `voice` and
    /// `holds`, collecting the changes.
    fn run(
        detector: &mut LongSilence,
        from: Duration,
        to: Duration,
        voice: bool,
        holds: bool,
    ) -> Vec<(Duration, SilenceChange)> {
        let mut changes = Vec::new();
        let mut now = from;
        while now < to {
            if let Some(change) = detector.tick(now, voice, holds) {
                changes.push((now, change));
            }
            now += TICK;
        }
        changes
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn ten_seconds_with_nobody_heard_raises_the_flag_once_and_a_voice_lowers_it() {
        let mut d = LongSilence::new(ms(10000));
        // The agent speaks for 3 s, then nobody for 15 s.
        assert!(run(&mut d, ms(0), ms(3000), true, true).is_empty());
        let quiet = run(&mut d, ms(3000), ms(18000), false, true);
        let began = ms(2980);
        assert_eq!(
            quiet,
            [(began + ms(10000), SilenceChange::Began { since: began })]
        );
        assert!(d.flagged());
        // The caller speaks at 18 s.
        let spoke = run(&mut d, ms(18000), ms(18500), true, true);
        assert_eq!(
            spoke,
            [(
                ms(18000),
                SilenceChange::Ended {
                    since: began,
                    lasted: ms(18000) - began
                }
            )]
        );
        assert!(!d.flagged());
    }

    #[test]
    fn nine_seconds_of_quiet_between_voices_raises_nothing() {
        let mut d = LongSilence::new(ms(10000));
        let mut changes = Vec::new();
        for turn in 0..6 {
            let at = ms(turn * 10_000);
            changes.extend(run(&mut d, at, at + ms(1000), true, true));
            changes.extend(run(&mut d, at + ms(1000), at + ms(10000), false, true));
        }
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn silence_counts_only_while_the_ai_holds_the_call() {
        let mut d = LongSilence::new(ms(10000));
        // Before the stream and while a rep has the caller: never flagged,
        // however long.
        assert!(run(&mut d, ms(0), ms(60000), false, false).is_empty());
        // The AI takes the call at 60 s: the clock starts then.
        let quiet = run(&mut d, ms(60000), ms(75000), false, true);
        assert_eq!(
            quiet,
            [(ms(70000), SilenceChange::Began { since: ms(60000) })]
        );
        // A rep takes over at 75 s: the flag comes down at once.
        assert_eq!(
            d.reset(ms(75000)),
            Some(SilenceChange::Ended {
                since: ms(60000),
                lasted: ms(15000)
            })
        );
        assert_eq!(d.reset(ms(75000)), None);
        assert!(run(&mut d, ms(75000), ms(200000), false, false).is_empty());
    }

    #[test]
    fn a_zero_bound_never_flags() {
        let mut d = LongSilence::new(Duration::ZERO);
        assert!(run(&mut d, ms(0), ms(600000), false, true).is_empty());
    }
}
