//! In-band DTMF detection on 8 kHz PCM (decoded G.711), with the Goertzel
//! algorithm over each 20 ms frame.
//!
//! A frame holds a digit when, as in ITU-T Q.24 practice:
//! - the strongest low-group and high-group tones each reach
//!   `min_tone_dbfs`;
//! - the twist is within limits (low group at most 8 dB above the high
//!   group, high group at most 4 dB above the low group);
//! - each is at least `min_group_margin_db` above the other tones of its
//!   group;
//! - the two tones carry at least `min_energy_ratio` of the frame's energy,
//!   which is what rejects speech and music, whose energy is spread;
//! - the high tone's second harmonic is weak (speech has harmonics, DTMF
//!   does not).
//!
//! A digit is reported once, when two consecutive frames (≥ 40 ms) agree
//! on it; it can repeat only after a frame without it. 20 ms frames give
//! 50 Hz resolution, enough to separate 697 from 770 Hz by 13 dB.

use super::{Digit, DigitEvent};
use crate::media::frame::Frame;

const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Detector thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InbandConfig {
    /// Each tone's amplitude must reach this, dBFS (peak of the sinusoid).
    pub min_tone_dbfs: f32,
    /// Low group may exceed high group by this much (normal twist).
    pub max_normal_twist_db: f32,
    /// High group may exceed low group by this much (reverse twist).
    pub max_reverse_twist_db: f32,
    /// Margin over the other tones of the same group.
    pub min_group_margin_db: f32,
    /// Share of the frame's energy the two tones must carry.
    pub min_energy_ratio: f32,
    /// The high tone's second harmonic must be this far below it.
    pub min_harmonic_margin_db: f32,
}

impl Default for InbandConfig {
    fn default() -> Self {
        InbandConfig {
            min_tone_dbfs: -36.0,
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            min_group_margin_db: 8.0,
            min_energy_ratio: 0.7,
            min_harmonic_margin_db: 15.0,
        }
    }
}

/// The in-band detector. Sans-IO: feed it consecutive 8 kHz frames.
#[derive(Clone, Debug)]
pub struct InbandDetector {
    config: InbandConfig,
    low_coeff: [f32; 4],
    high_coeff: [f32; 4],
    /// Digit seen in the previous frame, and the frame's timestamp.
    candidate: Option<(Digit, u64)>,
    /// Digit already reported for the current tone.
    reported: Option<Digit>,
}

fn coeff(hz: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * hz / 8_000.0).cos()
}

/// Goertzel power of `samples` at the frequency whose coefficient is `c`.
fn goertzel(samples: &[i16], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = f32::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

fn db(power_ratio: f32) -> f32 {
    10.0 * power_ratio.max(1e-20).log10()
}

impl InbandDetector {
    /// A detector with the given thresholds.
    pub fn new(config: InbandConfig) -> InbandDetector {
        InbandDetector {
            config,
            low_coeff: LOW.map(coeff),
            high_coeff: HIGH.map(coeff),
            candidate: None,
            reported: None,
        }
    }

    /// The digit present in one frame, if any.
    pub fn classify(&self, samples: &[i16]) -> Option<Digit> {
        let n = samples.len() as f32;
        if n == 0.0 {
            return None;
        }
        let low = self.low_coeff.map(|c| goertzel(samples, c));
        let high = self.high_coeff.map(|c| goertzel(samples, c));
        let (li, lp) = strongest(&low);
        let (hi, hp) = strongest(&high);
        let c = &self.config;
        // Amplitude of a bin-centred sinusoid: 2·sqrt(P)/N, relative to full scale.
        let amp_dbfs = |p: f32| 20.0 * (2.0 * p.sqrt() / n / 32768.0).max(1e-10).log10();
        if amp_dbfs(lp) < c.min_tone_dbfs || amp_dbfs(hp) < c.min_tone_dbfs {
            return None;
        }
        let twist = db(lp / hp);
        if twist > c.max_normal_twist_db || -twist > c.max_reverse_twist_db {
            return None;
        }
        let margin_ok = |powers: &[f32; 4], best: usize, bp: f32| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || db(bp / p) >= c.min_group_margin_db)
        };
        if !margin_ok(&low, li, lp) || !margin_ok(&high, hi, hp) {
            return None;
        }
        let energy: f32 = samples.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
        let tone_energy = 2.0 * (lp + hp) / n;
        if tone_energy < c.min_energy_ratio * energy {
            return None;
        }
        // Only the high tone's harmonic is checked: the low tones' second
        // harmonics (1394–1882 Hz) sit within 75 Hz of high-group tones,
        // where a 20 ms Goertzel cannot tell them apart.
        if db(hp / goertzel(samples, coeff(2.0 * HIGH[hi]))) < c.min_harmonic_margin_db {
            return None;
        }
        Digit::from_char(KEYS[li][hi])
    }

    /// Feeds one frame; returns a digit when a tone has lasted two frames.
    pub fn push(&mut self, frame: &Frame) -> Option<DigitEvent> {
        let found = self.classify(frame.samples());
        let ts = frame.timestamp().0;
        let previous = self.candidate;
        self.candidate = found.map(|d| match previous {
            Some((p, start)) if p == d => (d, start),
            _ => (d, ts),
        });
        let Some(digit) = found else {
            self.reported = None;
            return None;
        };
        if self.reported == Some(digit) {
            return None;
        }
        if self.reported.is_some() {
            // A different digit with no gap: start counting it afresh.
            self.reported = None;
        }
        match previous {
            Some((p, start)) if p == digit => {
                self.reported = Some(digit);
                Some(DigitEvent {
                    digit,
                    start,
                    duration: (ts + frame.samples().len() as u64 - start) as u32,
                })
            }
            _ => None,
        }
    }

    /// Forgets any tone in progress.
    pub fn reset(&mut self) {
        self.candidate = None;
        self.reported = None;
    }
}

fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    powers.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::{MediaTime, SampleRate};
    use crate::media::g711::{ulaw_decode, ulaw_encode};

    /// Tone bursts for `digits`: `tone_ms` on, `gap_ms` off, `level_dbfs`
    /// per tone, optionally through μ-law.
    fn signal(
        digits: &str,
        tone_ms: usize,
        gap_ms: usize,
        level_dbfs: f32,
        ulaw: bool,
    ) -> Vec<Frame> {
        let amp = 32768.0 * 10f32.powf(level_dbfs / 20.0);
        let mut s: Vec<i16> = vec![0; 8 * 30];
        for c in digits.chars() {
            let (l, h) = Digit::from_char(c).expect("key").tones();
            for i in 0..tone_ms * 8 {
                let t = i as f32 / 8000.0;
                let v = amp
                    * ((2.0 * std::f32::consts::PI * l * t).sin()
                        + (2.0 * std::f32::consts::PI * h * t).sin());
                s.push(v as i16);
            }
            s.extend(std::iter::repeat_n(0, gap_ms * 8));
        }
        s.resize(s.len().div_ceil(160) * 160, 0);
        if ulaw {
            s.iter_mut().for_each(|x| *x = ulaw_decode(ulaw_encode(*x)));
        }
        s.chunks_exact(160)
            .enumerate()
            .map(|(i, c)| {
                Frame::from_samples(SampleRate::Hz8000, MediaTime(i as u64 * 160), c)
                    .expect("frame")
            })
            .collect()
    }

    fn detect(frames: &[Frame]) -> String {
        let mut d = InbandDetector::new(InbandConfig::default());
        frames
            .iter()
            .filter_map(|f| d.push(f))
            .map(|e| e.digit.as_char())
            .collect()
    }

    #[test]
    fn all_sixteen_digits_are_detected_at_several_levels_and_through_ulaw() {
        let all = "123A456B789C*0#D";
        for level in [-6.0, -12.0, -20.0, -28.0] {
            for ulaw in [false, true] {
                assert_eq!(
                    detect(&signal(all, 80, 80, level, ulaw)),
                    all,
                    "{level} dBFS ulaw={ulaw}"
                );
            }
        }
    }

    #[test]
    fn tones_with_50_ms_gaps_give_each_digit_once() {
        assert_eq!(detect(&signal("5555", 70, 50, -15.0, true)), "5555");
    }

    #[test]
    fn a_tone_shorter_than_two_frames_is_ignored() {
        assert_eq!(detect(&signal("9", 25, 100, -15.0, false)), "");
    }

    #[test]
    fn excessive_twist_is_rejected() {
        let d = InbandDetector::new(InbandConfig::default());
        let (l, h) = Digit::from_char('1').expect("key").tones();
        let s: Vec<i16> = (0..160)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (8000.0 * (2.0 * std::f32::consts::PI * l * t).sin()
                    + 1000.0 * (2.0 * std::f32::consts::PI * h * t).sin()) as i16
            })
            .collect();
        assert_eq!(d.classify(&s), None, "18 dB of twist");
    }
}
