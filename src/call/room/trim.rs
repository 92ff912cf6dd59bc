//! How a leg's queue in the room gives back latency it no longer needs:
//! a jitter buffer's shrink, sans-IO, one per queue (the caller's and each
//! linked leg's).
//!
//! A queue fills at the leg's pace and empties at the room's tick. Both
//! are 20 ms, but on two clocks: a burst (a scheduler stall, two packets
//! in one datagram read) leaves a frame standing that the steady state
//! never drains, and every frame after it waits one tick longer, for the
//! rest of the call. Measured on live bridges, that was a standing 20 ms
//! on one call in two (decision 0031).
//!
//! The rule: when, for a whole [`WINDOW_TICKS`] window, every tick left
//! at least one frame behind, one frame is surplus. It is dropped at the
//! next quiet frame at the head of the queue (a pause between words, as
//! NetEq accelerates in low-energy audio), or after [`FORCE_AFTER_TICKS`]
//! of unbroken speech. A queue that drains by itself cancels the trim.

/// Ticks a queue must stand at least one frame deep before one frame is
/// surplus (500 ms).
pub const WINDOW_TICKS: u32 = 25;
/// Ticks a surplus frame waits for a quiet one before the head frame is
/// dropped anyway (3 s).
pub const FORCE_AFTER_TICKS: u32 = 150;
/// A frame whose RMS is below this (about −40 dBFS) is quiet enough to
/// drop unheard.
pub const QUIET_RMS: f64 = 328.0;

/// One queue's shrink state. See the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StandingTrim {
    /// Ticks into the current window.
    ticks: u32,
    /// The fewest frames any tick of this window left behind.
    least_left: Option<usize>,
    /// Ticks since a surplus frame was found, while it waits for a quiet
    /// head frame.
    waiting: Option<u32>,
}

impl StandingTrim {
    /// Called once per tick after the tick took its frame: `left` frames
    /// are still queued and `head_is_quiet` says whether the next one is
    /// quiet (asked only while a surplus frame waits, so the audio path
    /// measures nothing on the ticks that cannot drop). Returns whether to
    /// drop that head frame now.
    pub fn after_tick(&mut self, left: usize, head_is_quiet: impl FnOnce() -> bool) -> bool {
        if let Some(waited) = self.waiting {
            if left == 0 {
                // Drained by itself: nothing stands any more.
                self.waiting = None;
            } else if waited >= FORCE_AFTER_TICKS || head_is_quiet() {
                self.waiting = None;
                self.restart_window();
                return true;
            } else {
                self.waiting = Some(waited + 1);
            }
            return false;
        }
        self.least_left = Some(self.least_left.map_or(left, |l| l.min(left)));
        self.ticks += 1;
        if self.ticks >= WINDOW_TICKS {
            if self.least_left.is_some_and(|l| l >= 1) {
                self.waiting = Some(0);
            }
            self.restart_window();
        }
        false
    }

    fn restart_window(&mut self) {
        self.ticks = 0;
        self.least_left = None;
    }
}

/// Whether `samples` are quiet enough to drop unheard ([`QUIET_RMS`]).
pub fn is_quiet(samples: &[i16]) -> bool {
    if samples.is_empty() {
        return true;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / samples.len() as f64).sqrt() < QUIET_RMS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ticks` ticks with `left` frames behind each; returns the
    /// ticks (0-based) at which a drop was asked for.
    fn drops(trim: &mut StandingTrim, ticks: u32, left: usize, quiet: bool) -> Vec<u32> {
        (0..ticks)
            .filter(|_| trim.after_tick(left, || quiet))
            .collect()
    }

    #[test]
    fn a_frame_standing_for_a_whole_window_is_dropped_at_the_next_quiet_head() {
        let mut trim = StandingTrim::default();
        assert_eq!(drops(&mut trim, WINDOW_TICKS, 1, true), Vec::<u32>::new());
        assert!(
            trim.after_tick(1, || true),
            "the first quiet head after the window"
        );
    }

    #[test]
    fn a_queue_that_empties_once_in_the_window_keeps_its_frames() {
        let mut trim = StandingTrim::default();
        for t in 0..10 * WINDOW_TICKS {
            let left = usize::from(t % WINDOW_TICKS != 7);
            assert!(!trim.after_tick(left, || true), "tick {t}");
        }
    }

    #[test]
    fn speech_at_the_head_waits_for_a_pause_or_three_seconds() {
        let mut trim = StandingTrim::default();
        drops(&mut trim, WINDOW_TICKS, 1, false);
        // Speech: nothing dropped until the force deadline.
        let speech = drops(&mut trim, FORCE_AFTER_TICKS + 1, 1, false);
        assert_eq!(speech, vec![FORCE_AFTER_TICKS]);
        // A pause comes sooner on the next surplus frame.
        drops(&mut trim, WINDOW_TICKS, 1, false);
        assert_eq!(drops(&mut trim, 3, 1, false), Vec::<u32>::new());
        assert!(trim.after_tick(1, || true));
    }

    #[test]
    fn a_surplus_that_drains_by_itself_is_not_dropped() {
        let mut trim = StandingTrim::default();
        drops(&mut trim, WINDOW_TICKS, 2, false);
        assert!(!trim.after_tick(0, || true));
        assert_eq!(
            drops(&mut trim, WINDOW_TICKS - 1, 0, true),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn two_standing_frames_go_one_window_at_a_time() {
        let mut trim = StandingTrim::default();
        let mut left = 2;
        let mut dropped_at = Vec::new();
        for t in 0..4 * WINDOW_TICKS {
            if trim.after_tick(left, || true) {
                left -= 1;
                dropped_at.push(t);
            }
        }
        assert_eq!(dropped_at, vec![WINDOW_TICKS, 2 * WINDOW_TICKS + 1]);
    }

    #[test]
    fn quiet_is_below_minus_40_dbfs() {
        assert!(is_quiet(&[0; 160]));
        assert!(is_quiet(&[200; 160]));
        assert!(!is_quiet(&[2_000; 160]));
        assert!(is_quiet(&[]));
    }
}
