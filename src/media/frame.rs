//! The 20 ms mono PCM16 [`Frame`], the unit every part of the audio path
//! speaks.
//!
//! Why 20 ms: it is the packetisation time of G.711 on SIP trunks
//! (`a=ptime:20`) and of Twilio Media Streams, so one frame is one packet in
//! and one packet out, and the playout clock ticks once per frame.
//!
//! A frame stores its samples inline in a fixed array sized for the highest
//! rate we handle (48 kHz), so creating, copying and recycling frames never
//! touches the allocator. The frame knows its [`SampleRate`]; code that mixes
//! rates has to say so explicitly.

use std::fmt;

/// Duration of one frame in milliseconds.
pub const FRAME_MS: u32 = 20;

/// The largest number of samples a frame holds (20 ms at 48 kHz).
pub const MAX_FRAME_SAMPLES: usize = 960;

/// The sample rates warmline's audio path supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8 kHz: G.711 telephony (SIP trunks, Twilio).
    Hz8000,
    /// 16 kHz: wideband (G.722, earshot VAD, Gemini Live input).
    Hz16000,
    /// 24 kHz: OpenAI Realtime `audio/pcm`, Gemini Live output.
    Hz24000,
    /// 48 kHz: Opus and WebRTC.
    Hz48000,
}

impl SampleRate {
    /// Every supported rate, lowest first.
    pub const ALL: [SampleRate; 4] = [
        SampleRate::Hz8000,
        SampleRate::Hz16000,
        SampleRate::Hz24000,
        SampleRate::Hz48000,
    ];

    /// The rate in hertz.
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8_000,
            SampleRate::Hz16000 => 16_000,
            SampleRate::Hz24000 => 24_000,
            SampleRate::Hz48000 => 48_000,
        }
    }

    /// The rate for a value in hertz, if it is one we support.
    pub const fn from_hz(hz: u32) -> Option<SampleRate> {
        match hz {
            8_000 => Some(SampleRate::Hz8000),
            16_000 => Some(SampleRate::Hz16000),
            24_000 => Some(SampleRate::Hz24000),
            48_000 => Some(SampleRate::Hz48000),
            _ => None,
        }
    }

    /// Samples in one 20 ms frame at this rate.
    pub const fn samples_per_frame(self) -> usize {
        (self.hz() / 1000 * FRAME_MS) as usize
    }

    /// Samples per millisecond at this rate.
    pub const fn samples_per_ms(self) -> u32 {
        self.hz() / 1000
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

/// A position on a stream's media timeline, counted in samples at the
/// stream's own rate from the stream's start.
///
/// A count of samples rather than milliseconds so that arithmetic stays
/// exact: 1 ms at 8 kHz is 8 samples, but truncation and DTMF onsets need
/// sample accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaTime(pub u64);

impl MediaTime {
    /// This position in whole milliseconds (rounded down) at `rate`.
    pub const fn as_ms(self, rate: SampleRate) -> u64 {
        self.0 / rate.samples_per_ms() as u64
    }

    /// The position `samples` later.
    pub const fn advanced_by(self, samples: u64) -> MediaTime {
        MediaTime(self.0 + samples)
    }
}

/// One 20 ms frame of mono signed 16-bit PCM.
///
/// Invariant: exactly `rate.samples_per_frame()` samples are meaningful;
/// the rest of the inline buffer is zero and never read.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    rate: SampleRate,
    timestamp: MediaTime,
    buf: [i16; MAX_FRAME_SAMPLES],
}

impl Frame {
    /// A frame of digital silence at `rate` starting at `timestamp`.
    pub const fn silence(rate: SampleRate, timestamp: MediaTime) -> Frame {
        Frame {
            rate,
            timestamp,
            buf: [0; MAX_FRAME_SAMPLES],
        }
    }

    /// A frame holding a copy of `samples`.
    ///
    /// # Errors
    /// [`FrameError::WrongLength`] when `samples` is not exactly one frame at
    /// `rate`.
    pub fn from_samples(
        rate: SampleRate,
        timestamp: MediaTime,
        samples: &[i16],
    ) -> Result<Frame, FrameError> {
        let want = rate.samples_per_frame();
        if samples.len() != want {
            return Err(FrameError::WrongLength {
                rate,
                expected: want,
                got: samples.len(),
            });
        }
        let mut frame = Frame::silence(rate, timestamp);
        frame.buf[..want].copy_from_slice(samples);
        Ok(frame)
    }

    /// The frame's sample rate.
    pub const fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Where the first sample of the frame sits on its stream's timeline.
    pub const fn timestamp(&self) -> MediaTime {
        self.timestamp
    }

    /// Moves the frame to another position on the timeline.
    pub fn set_timestamp(&mut self, timestamp: MediaTime) {
        self.timestamp = timestamp;
    }

    /// The frame's samples (exactly one frame's worth).
    pub fn samples(&self) -> &[i16] {
        &self.buf[..self.rate.samples_per_frame()]
    }

    /// The frame's samples, writable.
    pub fn samples_mut(&mut self) -> &mut [i16] {
        let n = self.rate.samples_per_frame();
        &mut self.buf[..n]
    }

    /// Whether every sample is zero.
    pub fn is_digital_silence(&self) -> bool {
        self.samples().iter().all(|&s| s == 0)
    }

    /// Root-mean-square level of the frame in dBFS (full scale = 32768).
    /// Digital silence reports `f32::NEG_INFINITY`.
    pub fn level_dbfs(&self) -> f32 {
        let samples = self.samples();
        let sum_sq: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let rms = (sum_sq / samples.len() as f64).sqrt();
        if rms == 0.0 {
            f32::NEG_INFINITY
        } else {
            (20.0 * (rms / 32768.0).log10()) as f32
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("rate", &self.rate)
            .field("timestamp", &self.timestamp)
            .field("samples", &self.rate.samples_per_frame())
            .finish()
    }
}

/// What can go wrong building a [`Frame`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The caller handed over a slice that is not one 20 ms frame; the
    /// caller must re-chunk its audio into 20 ms pieces first.
    #[error("a 20 ms frame at {rate} has {expected} samples, got {got}")]
    WrongLength {
        rate: SampleRate,
        expected: usize,
        got: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_per_frame_matches_twenty_ms_at_every_rate() {
        assert_eq!(SampleRate::Hz8000.samples_per_frame(), 160);
        assert_eq!(SampleRate::Hz16000.samples_per_frame(), 320);
        assert_eq!(SampleRate::Hz24000.samples_per_frame(), 480);
        assert_eq!(SampleRate::Hz48000.samples_per_frame(), MAX_FRAME_SAMPLES);
    }

    #[test]
    fn from_samples_rejects_a_slice_that_is_not_one_frame() {
        let err = Frame::from_samples(SampleRate::Hz8000, MediaTime(0), &[0; 159]).unwrap_err();
        assert_eq!(
            err,
            FrameError::WrongLength {
                rate: SampleRate::Hz8000,
                expected: 160,
                got: 159
            }
        );
    }

    #[test]
    fn level_of_full_scale_square_wave_is_zero_dbfs() {
        let samples: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX })
            .collect();
        let frame = Frame::from_samples(SampleRate::Hz8000, MediaTime(0), &samples).unwrap();
        assert!(frame.level_dbfs().abs() < 0.01);
        assert!(Frame::silence(SampleRate::Hz8000, MediaTime(0))
            .level_dbfs()
            .is_infinite());
    }

    #[test]
    fn media_time_converts_to_ms_at_its_rate() {
        assert_eq!(MediaTime(8_000).as_ms(SampleRate::Hz8000), 1000);
        assert_eq!(MediaTime(48_000).as_ms(SampleRate::Hz48000), 1000);
    }
}
