//! Voice activity detection: per-frame speech decisions behind one trait,
//! and the onset/offset state machine that turns them into speech-started
//! and speech-stopped events.
//!
//! Two detectors are measured against each other on the labelled fixtures
//! (`cargo run --release --example vad_eval`, decision record 0003):
//! [`WebRtcVad`] (libfvad, 8 kHz, 20 ms frames) and [`EarshotVad`] (a small
//! neural network, 16 kHz, 256-sample windows).
//!
//! `Send`: libfvad's handle is a raw pointer, so [`WebRtcVad`] is not `Send`
//! and this crate forbids the `unsafe impl` that would make it so. A call
//! that uses it keeps it on the task or thread that created it (the call's
//! media loop), which is how the audio path is built anyway.

mod earshot_vad;
mod gate;
mod onset;
mod pipeline;
mod voicing;
mod webrtc;

pub use earshot_vad::EarshotVad;
pub use gate::{GateConfig, NoiseGate};
pub use onset::{OnsetConfig, OnsetDetector, VadEvent};
pub use pipeline::{CallerVad, CallerVadConfig, DetectorKind};
pub use voicing::voicing;
pub use webrtc::{WebRtcMode, WebRtcVad};

use super::frame::{Frame, SampleRate};

/// Errors from a detector.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VadError {
    /// The frame is not at the detector's rate; resample it first.
    #[error("{detector} takes {expected} frames, got {got}")]
    WrongRate {
        /// The detector.
        detector: &'static str,
        /// The rate it takes.
        expected: SampleRate,
        /// The frame's rate.
        got: SampleRate,
    },
    /// The underlying library refused the frame.
    #[error("{detector} rejected a frame of {samples} samples")]
    Rejected {
        /// The detector.
        detector: &'static str,
        /// Samples in the frame.
        samples: usize,
    },
}

/// A per-frame speech detector. Feed it consecutive 20 ms frames of one
/// stream; it keeps state between them.
pub trait VoiceDetector {
    /// Short name for logs and reports.
    fn name(&self) -> &'static str;
    /// The rate of the frames it takes.
    fn input_rate(&self) -> SampleRate;
    /// Whether the frame is speech.
    fn is_speech(&mut self, frame: &Frame) -> Result<bool, VadError>;
    /// Forgets the stream (a new call, or a resync).
    fn reset(&mut self);
}

fn check_rate(detector: &'static str, expected: SampleRate, frame: &Frame) -> Result<(), VadError> {
    if frame.rate() == expected {
        Ok(())
    } else {
        Err(VadError::WrongRate {
            detector,
            expected,
            got: frame.rate(),
        })
    }
}
