//! Pause, then decide: the judge of a sound heard while the agent speaks.
//!
//! When a candidate interruption arrives (voiced caller sound that is not
//! the agent's echo, see [`super::barge_in`]) the call pauses the agent at
//! once, keeping what was not yet played. The judge then watches the
//! caller's sound frame by frame:
//! - the sound stops (no caller sound for `resume_after_quiet_ms`) without
//!   still going when `false_interruption_timeout_ms` have passed since the
//!   pause: it was a
//!   cough, a click, a short backchannel ("mm-hm", "okay"), so the agent
//!   resumes from the sample where it paused and the model hears nothing of
//!   it (a false interruption);
//! - the sound is still going when the window closes, or the model's
//!   transcript of it arrives in time with words that are not a
//!   backchannel: it is an interruption (cancel and truncate).
//!
//! This is LiveKit's `false_interruption_timeout` with
//! `resume_false_interruption`, except that the window is counted from the
//! pause and the decision uses only what warmline hears (duration, voicing,
//! level against the echo) plus the model's transcript when it is early;
//! there is no speech recogniser of our own. Decision record 0010.
//!
//! Sans-IO: frames and time in, a [`Judgement`] out.

use std::time::Duration;

use crate::media::frame::MediaTime;

/// Turn-taking settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnConfig {
    /// After pausing the agent for a sound, how long warmline waits for
    /// the sound to prove itself an interruption. A sound that stops
    /// within it resumes the agent; one still going when it closes is an
    /// interruption. 0 disables pausing: every candidate interrupts at once.
    pub false_interruption_timeout_ms: u32,
    /// Caller quiet that ends a sound.
    pub resume_after_quiet_ms: u32,
    /// Without a model-side end of turn, how long after warmline's own
    /// end of the caller's turn a response is requested anyway.
    pub end_of_turn_fallback_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            false_interruption_timeout_ms: 700,
            resume_after_quiet_ms: 300,
            end_of_turn_fallback_ms: 1_200,
        }
    }
}

/// What the judge decided on this input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Nothing changes.
    Wait,
    /// The sound was not an interruption: resume the agent.
    Resume,
    /// The sound is an interruption: cancel and truncate.
    Interrupt,
}

/// A pause in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Where the caller's sound began (caller stream samples).
    pub onset: MediaTime,
    /// When the agent's audio stopped, on the call clock.
    pub paused_at: Duration,
    /// What started it.
    pub trigger: &'static str,
    last_sound: Duration,
}

/// The per-call judge. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct TurnJudge {
    config: TurnConfig,
    pause: Option<Pause>,
    /// The last resume: when, and the pause it ended (for a series).
    resumed: Option<(Duration, Pause)>,
}

/// A pause this soon after a resume continues the same sound: speech with
/// a gap between words is one interruption, not two short sounds.
const SERIES_GAP: Duration = Duration::from_millis(500);

/// Quiet this short still counts as the sound going on.
const STILL_GOING: Duration = Duration::from_millis(20);

/// Short acknowledgements that do not take the turn.
const BACKCHANNELS: &[&str] = &[
    "mm", "mmhm", "mmhmm", "mhm", "hm", "hmm", "uhhuh", "uh", "huh", "ah", "oh", "yeah", "yes",
    "yep", "ok", "okay", "right", "sure", "alright", "aha", "ja", "i see", "got it", "cool",
];

/// Whether a transcript is only a backchannel ("Mm-hmm.", "Okay, okay").
pub fn is_backchannel(transcript: &str) -> bool {
    let cleaned: String = transcript
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    if words.is_empty() {
        return true;
    }
    let joined = words.join(" ");
    if BACKCHANNELS.contains(&joined.as_str()) {
        return true;
    }
    words.len() <= 3 && words.iter().all(|w| BACKCHANNELS.contains(w))
}

impl TurnJudge {
    /// A judge with no pause in progress.
    pub fn new(config: TurnConfig) -> TurnJudge {
        TurnJudge {
            config,
            pause: None,
            resumed: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> TurnConfig {
        self.config
    }

    /// The pause in progress, if any.
    pub fn pause(&self) -> Option<Pause> {
        self.pause
    }

    /// Whether pausing is enabled (otherwise candidates interrupt at once).
    pub fn pauses(&self) -> bool {
        self.config.false_interruption_timeout_ms > 0
    }

    /// The agent was paused for a sound that began at `onset`. A pause
    /// shortly after a resume continues that pause's sound: its window,
    /// onset and pause time carry over.
    pub fn paused(&mut self, now: Duration, onset: MediaTime, trigger: &'static str) {
        let pause = match self.resumed.take() {
            Some((resumed_at, earlier)) if now.saturating_sub(resumed_at) <= SERIES_GAP => Pause {
                last_sound: now,
                ..earlier
            },
            _ => Pause {
                onset,
                paused_at: now,
                trigger,
                last_sound: now,
            },
        };
        self.pause = Some(pause);
    }

    /// Ends the pause because the agent resumed.
    pub fn resumed(&mut self, now: Duration) -> Option<Pause> {
        let pause = self.pause.take()?;
        self.resumed = Some((now, pause));
        Some(pause)
    }

    /// Ends the pause (interrupted, or the playback is gone).
    pub fn clear(&mut self) -> Option<Pause> {
        self.resumed = None;
        self.pause.take()
    }

    /// One caller frame while paused: `sounding` says the caller made
    /// sound of their own in it.
    pub fn frame(&mut self, now: Duration, sounding: bool) -> Judgement {
        let Some(pause) = self.pause.as_mut() else {
            return Judgement::Wait;
        };
        if sounding {
            pause.last_sound = now;
        }
        let quiet = now.saturating_sub(pause.last_sound);
        if quiet >= Duration::from_millis(u64::from(self.config.resume_after_quiet_ms)) {
            return Judgement::Resume;
        }
        let paused_for = now.saturating_sub(pause.paused_at);
        let window = Duration::from_millis(u64::from(self.config.false_interruption_timeout_ms));
        // Once the window has closed, sound in this frame (or the last
        // one) makes it an interruption; a sound that had already fallen
        // quiet gets the rest of its quiet to resume.
        if paused_for >= window && quiet <= STILL_GOING {
            return Judgement::Interrupt;
        }
        Judgement::Wait
    }

    /// The model's transcript of the caller arrived while paused.
    pub fn transcript(&mut self, transcript: &str) -> Judgement {
        if self.pause.is_some() && !is_backchannel(transcript) {
            Judgement::Interrupt
        } else {
            Judgement::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_sound_that_stops_inside_the_window_resumes_and_one_that_goes_on_interrupts() {
        let mut j = TurnJudge::new(TurnConfig::default());
        j.paused(MS(1_000), MediaTime(0), "local_vad");
        let mut t = 1_000;
        while t < 1_300 {
            t += 20;
            assert_eq!(j.frame(MS(t), true), Judgement::Wait);
        }
        let mut verdict = Judgement::Wait;
        while verdict == Judgement::Wait {
            t += 20;
            verdict = j.frame(MS(t), false);
        }
        assert_eq!((verdict, t), (Judgement::Resume, 1_600));
        j.resumed(MS(t));
        // More speech soon after is the same sound: the window has closed.
        j.paused(MS(t + 200), MediaTime(0), "local_vad");
        assert_eq!(j.pause().map(|p| p.paused_at), Some(MS(1_000)));
        assert_eq!(j.frame(MS(t + 220), true), Judgement::Interrupt);
        j.clear();

        j.paused(MS(5_000), MediaTime(0), "local_vad");
        let mut t = 5_000;
        let mut verdict = Judgement::Wait;
        while verdict == Judgement::Wait {
            t += 20;
            verdict = j.frame(MS(t), true);
        }
        assert_eq!((verdict, t), (Judgement::Interrupt, 5_700));
    }

    #[test]
    fn resume_after_quiet_ms_sets_how_long_a_sound_must_stop_before_the_agent_resumes() {
        let resume_at = |quiet_ms| {
            let mut j = TurnJudge::new(TurnConfig {
                resume_after_quiet_ms: quiet_ms,
                ..TurnConfig::default()
            });
            j.paused(MS(1_000), MediaTime(0), "local_vad");
            let mut t = 1_000;
            while t < 1_100 {
                t += 20;
                j.frame(MS(t), true);
            }
            loop {
                t += 20;
                if j.frame(MS(t), false) == Judgement::Resume {
                    return t;
                }
            }
        };
        assert_eq!(resume_at(300), 1_400);
        assert_eq!(resume_at(500), 1_600);
    }

    #[test]
    fn words_in_an_early_transcript_interrupt_and_backchannels_do_not() {
        for words in ["Mm-hmm.", "okay okay", "Yeah", "Right.", "uh-huh", ""] {
            assert!(is_backchannel(words), "{words}");
        }
        for words in ["No, stop.", "Wait, I need", "What about Tuesday?"] {
            assert!(!is_backchannel(words), "{words}");
        }
        let mut j = TurnJudge::new(TurnConfig::default());
        assert_eq!(j.transcript("No, stop."), Judgement::Wait);
        j.paused(MS(0), MediaTime(0), "local_vad");
        assert_eq!(j.transcript("Mm-hmm."), Judgement::Wait);
        assert_eq!(j.transcript("No, stop."), Judgement::Interrupt);
    }
}
