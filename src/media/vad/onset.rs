//! The onset/offset state machine over per-frame speech decisions.
//!
//! Speech starts when speech frames have run for `min_speech_ms` without a
//! break; it stops when non-speech frames have run for `hangover_ms`. Short
//! noises shorter than `min_speech_ms` never start speech, and pauses
//! shorter than `hangover_ms` never stop it.
//!
//! Times are sample-accurate in this sense: `at` is a [`MediaTime`] in
//! samples of the stream's own rate. For a start, it is refined inside the
//! first speech frame to the first 1 ms block whose energy comes within
//! 20 dB of that frame's loudest block, so the onset is placed where the
//! sound rises, not at the frame boundary. For a stop, it is the start of
//! the first non-speech frame. `detected_at` is when the event could be
//! known (the end of the frame that confirmed it); the difference is the
//! detection latency.

use crate::media::frame::{Frame, MediaTime, SampleRate};

/// Timing of the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnsetConfig {
    /// Speech must run this long before speech-started fires.
    pub min_speech_ms: u32,
    /// Non-speech must run this long before speech-stopped fires.
    pub hangover_ms: u32,
}

impl Default for OnsetConfig {
    fn default() -> Self {
        OnsetConfig {
            min_speech_ms: 60,
            hangover_ms: 300,
        }
    }
}

/// A change of the caller's speech state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VadEvent {
    /// The caller started speaking.
    SpeechStarted {
        /// Where the speech begins in the stream.
        at: MediaTime,
        /// When the start was confirmed (end of the confirming frame).
        detected_at: MediaTime,
    },
    /// The caller stopped speaking.
    SpeechStopped {
        /// Where the speech ended (start of the first silent frame).
        at: MediaTime,
        /// When the stop was confirmed.
        detected_at: MediaTime,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Silence,
    /// Speech frames seen since `onset`, not yet long enough.
    Rising {
        onset: MediaTime,
        speech_ms: u32,
    },
    Speaking,
    /// Silent frames seen since `offset`, not yet long enough.
    Falling {
        offset: MediaTime,
        silence_ms: u32,
    },
}

/// Turns frame decisions into [`VadEvent`]s. Sans-IO.
#[derive(Clone, Debug)]
pub struct OnsetDetector {
    config: OnsetConfig,
    state: State,
    /// Onset of the speech in progress (set when it is confirmed).
    onset: Option<MediaTime>,
}

impl OnsetDetector {
    /// A detector in the silent state.
    pub fn new(config: OnsetConfig) -> OnsetDetector {
        OnsetDetector {
            config,
            state: State::Silence,
            onset: None,
        }
    }

    /// Whether the caller is speaking (including a hangover in progress).
    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speaking | State::Falling { .. })
    }

    /// Where the current (or rising) speech began.
    pub fn onset(&self) -> Option<MediaTime> {
        match self.state {
            State::Rising { onset, .. } => Some(onset),
            State::Speaking | State::Falling { .. } => self.onset,
            State::Silence => None,
        }
    }

    /// Back to silence without an event (new stream or resync).
    pub fn reset(&mut self) {
        self.state = State::Silence;
        self.onset = None;
    }

    /// Feeds one frame and its decision.
    pub fn push(&mut self, frame: &Frame, is_speech: bool) -> Option<VadEvent> {
        let rate = frame.rate();
        let frame_ms = (frame.samples().len() as u64 / u64::from(rate.samples_per_ms())) as u32;
        let start = frame.timestamp();
        let end = start.advanced_by(frame.samples().len() as u64);
        match (self.state, is_speech) {
            (State::Silence, true) => {
                let onset = refine_onset(frame, rate);
                let speech_ms = frame_ms;
                self.state = State::Rising { onset, speech_ms };
                self.confirm_start(onset, speech_ms, end)
            }
            (State::Silence, false) => None,
            (State::Rising { onset, speech_ms }, true) => {
                let speech_ms = speech_ms + frame_ms;
                self.state = State::Rising { onset, speech_ms };
                self.confirm_start(onset, speech_ms, end)
            }
            (State::Rising { .. }, false) => {
                self.state = State::Silence;
                None
            }
            (State::Speaking, true) => None,
            (State::Speaking, false) => {
                self.state = State::Falling {
                    offset: start,
                    silence_ms: frame_ms,
                };
                self.confirm_stop(start, frame_ms, end)
            }
            (State::Falling { .. }, true) => {
                self.state = State::Speaking;
                None
            }
            (State::Falling { offset, silence_ms }, false) => {
                let silence_ms = silence_ms + frame_ms;
                self.state = State::Falling { offset, silence_ms };
                self.confirm_stop(offset, silence_ms, end)
            }
        }
    }

    fn confirm_start(
        &mut self,
        onset: MediaTime,
        speech_ms: u32,
        end: MediaTime,
    ) -> Option<VadEvent> {
        if speech_ms < self.config.min_speech_ms {
            return None;
        }
        self.state = State::Speaking;
        self.onset = Some(onset);
        Some(VadEvent::SpeechStarted {
            at: onset,
            detected_at: end,
        })
    }

    fn confirm_stop(
        &mut self,
        offset: MediaTime,
        silence_ms: u32,
        end: MediaTime,
    ) -> Option<VadEvent> {
        if silence_ms < self.config.hangover_ms {
            return None;
        }
        self.state = State::Silence;
        Some(VadEvent::SpeechStopped {
            at: offset,
            detected_at: end,
        })
    }
}

/// The first 1 ms block of `frame` within 20 dB of its loudest block.
fn refine_onset(frame: &Frame, rate: SampleRate) -> MediaTime {
    let block = rate.samples_per_ms() as usize;
    let energy = |chunk: &[i16]| {
        chunk
            .iter()
            .map(|&s| i64::from(s) * i64::from(s))
            .sum::<i64>()
    };
    let loudest = frame.samples().chunks(block).map(energy).max().unwrap_or(0);
    // 20 dB in energy is a factor of 100.
    let first = frame
        .samples()
        .chunks(block)
        .position(|c| energy(c) * 100 >= loudest)
        .unwrap_or(0);
    frame.timestamp().advanced_by((first * block) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64, loud: bool) -> Frame {
        let mut f = Frame::silence(SampleRate::Hz8000, MediaTime(index * 160));
        if loud {
            f.samples_mut()
                .iter_mut()
                .enumerate()
                .for_each(|(i, s)| *s = if i % 2 == 0 { 8000 } else { -8000 });
        }
        f
    }

    fn run(decisions: &[bool], config: OnsetConfig) -> Vec<(usize, VadEvent)> {
        let mut d = OnsetDetector::new(config);
        decisions
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| d.push(&frame(i as u64, s), s).map(|e| (i, e)))
            .collect()
    }

    #[test]
    fn speech_starts_only_after_min_speech_ms_and_reports_the_first_frame() {
        let events = run(&[false, true, true, true, true], OnsetConfig::default());
        assert_eq!(
            events,
            vec![(
                3,
                VadEvent::SpeechStarted {
                    at: MediaTime(160),
                    detected_at: MediaTime(640)
                }
            )]
        );
    }

    #[test]
    fn a_burst_shorter_than_min_speech_never_starts_speech() {
        let events = run(
            &[true, true, false, true, false, false],
            OnsetConfig::default(),
        );
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_pause_shorter_than_the_hangover_does_not_stop_speech() {
        let mut decisions = vec![true; 5];
        decisions.extend([false; 10]); // 200 ms pause < 300 ms hangover
        decisions.extend([true; 5]);
        let events = run(&decisions, OnsetConfig::default());
        assert_eq!(events.len(), 1, "only the first start: {events:?}");
    }

    #[test]
    fn silence_past_the_hangover_stops_speech_at_the_first_silent_frame() {
        let mut decisions = vec![true; 5];
        decisions.extend([false; 15]);
        let events = run(&decisions, OnsetConfig::default());
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            (
                19,
                VadEvent::SpeechStopped {
                    at: MediaTime(5 * 160),
                    detected_at: MediaTime(20 * 160)
                }
            )
        );
    }

    #[test]
    fn speech_never_starts_twice_without_a_stop() {
        let events = run(&[true; 50], OnsetConfig::default());
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn onset_is_refined_to_where_the_sound_rises_inside_the_frame() {
        let mut f = Frame::silence(SampleRate::Hz8000, MediaTime(1600));
        for s in &mut f.samples_mut()[83..] {
            *s = 5000;
        }
        let mut d = OnsetDetector::new(OnsetConfig {
            min_speech_ms: 20,
            hangover_ms: 100,
        });
        match d.push(&f, true) {
            // Block 10 (samples 80..88) is the first within 20 dB of the peak.
            Some(VadEvent::SpeechStarted { at, .. }) => assert_eq!(at, MediaTime(1600 + 80)),
            other => panic!("expected a start, got {other:?}"),
        }
    }
}
