//! In-band DTMF generation: a dial string as 20 ms frames of 8 kHz PCM,
//! one frame per slot of a playout clock.
//!
//! Each key press is `tone_ms` of its two tones then `gap_ms` of silence;
//! a pause key is `pause_ms` of silence. Tones start on a frame boundary
//! at phase zero and stop on one, so every frame of a press is wholly tone
//! (what a 20 ms Goertzel detector, ours or a far end's, sees best) and
//! the gap is whole silent frames, which is what separates a repeated key
//! ("11"). Pure DSP: no clock, no I/O; the caller pulls frames at its own
//! pace with [`ToneSequence::next_frame`].

use super::Digit;

/// Samples in one 20 ms frame at 8 kHz.
pub const TONE_FRAME_SAMPLES: usize = 160;

/// Peak amplitude of a sine at 0 dBm0 in 16-bit linear PCM: G.711's
/// full-scale sine is +3.17 dBm0 (ITU-T G.711), 32_124 at 16 bits.
const DBM0_PEAK: f32 = 22_273.0;

/// One key of a dial string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialKey {
    /// A key press.
    Digit(Digit),
    /// A pause of [`ToneTiming::pause_ms`] with no tone.
    Pause,
}

/// How long tones, gaps and pauses last, and how loud the tones are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneTiming {
    /// Each press's tone, in ms (a multiple of 20 keeps frames whole).
    pub tone_ms: u32,
    /// Silence after each press, in ms.
    pub gap_ms: u32,
    /// A pause key's silence, in ms.
    pub pause_ms: u32,
    /// Each of the two tones' level, dBm0 (negative).
    pub level_dbm0: f32,
}

impl Default for ToneTiming {
    /// 100 ms tone, 100 ms gap, 500 ms pause, each tone at −10 dBm0
    /// (decision 0018).
    fn default() -> Self {
        ToneTiming {
            tone_ms: 100,
            gap_ms: 100,
            pause_ms: 500,
            level_dbm0: -10.0,
        }
    }
}

impl ToneTiming {
    /// Frames a key occupies.
    pub fn frames(&self, key: DialKey) -> u32 {
        let ms = match key {
            DialKey::Digit(_) => self.tone_ms + self.gap_ms,
            DialKey::Pause => self.pause_ms,
        };
        ms.div_ceil(20)
    }

    /// Frames a whole dial string occupies.
    pub fn total_frames(&self, keys: &[DialKey]) -> u32 {
        keys.iter().map(|&k| self.frames(k)).sum()
    }

    fn tone_frames(&self) -> u32 {
        self.tone_ms.div_ceil(20)
    }
}

/// What one frame of a sequence holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToneFrame {
    /// The key this frame belongs to (its tone or its gap), and whether
    /// the frame starts the press: an RFC 4733 sender starts an event
    /// there. `None` during a pause.
    pub press: Option<(Digit, bool)>,
    /// Whether the frame carries tone (false in gaps and pauses).
    pub sounding: bool,
    /// The frame's samples.
    pub samples: [i16; TONE_FRAME_SAMPLES],
}

/// A dial string as a sequence of frames. Bounded by its keys; allocates
/// nothing per frame.
#[derive(Clone, Debug)]
pub struct ToneSequence {
    keys: Vec<DialKey>,
    timing: ToneTiming,
    /// Index of the key being played.
    key: usize,
    /// Frame within that key.
    frame: u32,
}

impl ToneSequence {
    /// The frames for `keys`.
    pub fn new(keys: Vec<DialKey>, timing: ToneTiming) -> ToneSequence {
        ToneSequence {
            keys,
            timing,
            key: 0,
            frame: 0,
        }
    }

    /// Frames still to come.
    pub fn remaining_frames(&self) -> u32 {
        let rest: u32 = self
            .keys
            .iter()
            .skip(self.key)
            .map(|&k| self.timing.frames(k))
            .sum();
        rest.saturating_sub(self.frame)
    }

    /// The next frame, or `None` when the sequence is over.
    pub fn next_frame(&mut self) -> Option<ToneFrame> {
        loop {
            let key = *self.keys.get(self.key)?;
            if self.frame < self.timing.frames(key) {
                break;
            }
            self.key += 1;
            self.frame = 0;
        }
        let key = self.keys[self.key];
        let index = self.frame;
        self.frame += 1;
        let mut samples = [0i16; TONE_FRAME_SAMPLES];
        let DialKey::Digit(digit) = key else {
            return Some(ToneFrame {
                press: None,
                sounding: false,
                samples,
            });
        };
        let sounding = index < self.timing.tone_frames();
        if sounding {
            let amp = DBM0_PEAK * 10f32.powf(self.timing.level_dbm0 / 20.0);
            let (low, high) = digit.tones();
            let start = index as usize * TONE_FRAME_SAMPLES;
            for (i, s) in samples.iter_mut().enumerate() {
                let t = (start + i) as f32 / 8_000.0;
                let tau = 2.0 * std::f32::consts::PI * t;
                let v = amp * ((tau * low).sin() + (tau * high).sin());
                *s = v.clamp(-32_768.0, 32_767.0) as i16;
            }
        }
        Some(ToneFrame {
            press: Some((digit, index == 0)),
            sounding,
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::{InbandConfig, InbandDetector};
    use crate::media::frame::{Frame, MediaTime, SampleRate};
    use crate::media::g711::{ulaw_decode, ulaw_encode};

    fn keys(s: &str) -> Vec<DialKey> {
        s.chars()
            .map(|c| match c {
                'w' => DialKey::Pause,
                c => DialKey::Digit(Digit::from_char(c).expect("key")),
            })
            .collect()
    }

    /// What the in-band detector hears of `s`, through μ-law as on a call.
    fn detected(s: &str, timing: ToneTiming) -> String {
        let mut seq = ToneSequence::new(keys(s), timing);
        let mut detector = InbandDetector::new(InbandConfig::default());
        let mut out = String::new();
        // A little line silence before and after.
        let silence = [0i16; TONE_FRAME_SAMPLES];
        let frames = std::iter::once(silence)
            .chain(std::iter::from_fn(|| seq.next_frame().map(|f| f.samples)))
            .chain(std::iter::repeat_n(silence, 3));
        for (n, samples) in frames.enumerate() {
            let line: Vec<i16> = samples
                .iter()
                .map(|&s| ulaw_decode(ulaw_encode(s)))
                .collect();
            let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(n as u64 * 160), &line)
                .expect("a frame");
            if let Some(event) = detector.push(&frame) {
                out.push(event.digit.as_char());
            }
        }
        out
    }

    #[test]
    fn every_key_is_detected_by_the_inband_detector_through_ulaw() {
        let all = "123A456B789C*0#D";
        assert_eq!(detected(all, ToneTiming::default()), all);
    }

    #[test]
    fn the_gap_separates_repeated_keys() {
        assert_eq!(detected("11", ToneTiming::default()), "11");
        assert_eq!(detected("0000", ToneTiming::default()), "0000");
        // Without a gap the two presses are one tone, heard once: the gap
        // is what makes the second.
        let no_gap = ToneTiming {
            gap_ms: 0,
            ..ToneTiming::default()
        };
        assert_eq!(detected("11", no_gap), "1");
    }

    #[test]
    fn a_pause_is_silent_frames_and_keys_around_it_are_heard() {
        let timing = ToneTiming::default();
        let mut seq = ToneSequence::new(keys("5w5"), timing);
        assert_eq!(seq.remaining_frames(), 10 + 25 + 10);
        let frames: Vec<ToneFrame> = std::iter::from_fn(|| seq.next_frame()).collect();
        assert_eq!(frames.len(), 45);
        assert_eq!(seq.remaining_frames(), 0);
        let starts: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.press.is_some_and(|(_, first)| first))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(starts, [0, 35]);
        assert!(frames[10..35]
            .iter()
            .all(|f| f.press.is_none() && !f.sounding && f.samples == [0; 160]));
        assert_eq!(frames.iter().filter(|f| f.sounding).count(), 10);
        assert_eq!(detected("5w5", timing), "55");
    }

    #[test]
    fn tones_sit_at_the_configured_level_without_clipping() {
        let mut seq = ToneSequence::new(keys("D"), ToneTiming::default());
        let frame = seq.next_frame().expect("a frame");
        let peak = frame
            .samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        // Two tones at −10 dBm0 (7_043 peak each) add to at most 14_087.
        assert!((12_000..=14_100).contains(&peak), "{peak}");
        let rms = (frame
            .samples
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / 160.0)
            .sqrt();
        // Each tone's RMS is peak/√2; two uncorrelated tones add in power.
        assert!((rms - 7_043.0).abs() < 400.0, "{rms}");
    }
}
