//! [`EarshotVad`]: the `earshot` neural VAD, which scores 256-sample
//! (16 ms) windows at 16 kHz, adapted to 20 ms frames.
//!
//! A 20 ms frame is 320 samples, so the frames are re-chunked through a
//! fixed carry buffer: each frame completes one or two windows, and the
//! frame's score is the highest of them (a window that straddles a frame
//! boundary counts for the frame it completes in).

use super::{check_rate, VadError, VoiceDetector};
use crate::media::frame::{Frame, SampleRate};

const WINDOW: usize = 256;

/// The earshot detector at 16 kHz.
pub struct EarshotVad {
    detector: Box<earshot::Detector>,
    carry: [i16; WINDOW],
    carry_len: usize,
    threshold: f32,
    last_score: f32,
}

impl std::fmt::Debug for EarshotVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarshotVad")
            .field("threshold", &self.threshold)
            .field("last_score", &self.last_score)
            .finish()
    }
}

impl EarshotVad {
    /// A detector that calls a frame speech when its score reaches
    /// `threshold` (0..1; earshot suggests 0.5).
    pub fn new(threshold: f32) -> EarshotVad {
        EarshotVad {
            detector: Box::default(),
            carry: [0; WINDOW],
            carry_len: 0,
            threshold,
            last_score: 0.0,
        }
    }

    /// The score of the last frame, for diagnostics.
    pub fn last_score(&self) -> f32 {
        self.last_score
    }

    /// Scores one frame: the highest score of the windows it completes.
    pub fn score(&mut self, frame: &Frame) -> Result<f32, VadError> {
        check_rate("earshot", SampleRate::Hz16000, frame)?;
        let mut best = f32::MIN;
        let mut input = frame.samples();
        while !input.is_empty() {
            let take = (WINDOW - self.carry_len).min(input.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&input[..take]);
            self.carry_len += take;
            input = &input[take..];
            if self.carry_len == WINDOW {
                best = best.max(self.detector.predict_i16(&self.carry));
                self.carry_len = 0;
            }
        }
        if best == f32::MIN {
            best = self.last_score;
        }
        self.last_score = best;
        Ok(best)
    }
}

impl VoiceDetector for EarshotVad {
    fn name(&self) -> &'static str {
        "earshot"
    }

    fn input_rate(&self) -> SampleRate {
        SampleRate::Hz16000
    }

    fn is_speech(&mut self, frame: &Frame) -> Result<bool, VadError> {
        Ok(self.score(frame)? >= self.threshold)
    }

    fn reset(&mut self) {
        self.detector.reset();
        self.carry_len = 0;
        self.last_score = 0.0;
    }
}
