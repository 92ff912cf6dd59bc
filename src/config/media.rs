//! What `[media]` means to the components it configures: the caller's VAD
//! (every call, Twilio and SIP, and the demo agent's own turn detection)
//! and the SIP leg's jitter buffer.

use super::{MediaConfig, VadKind};
use crate::media::jitter::JitterConfig;
use crate::media::vad::{CallerVadConfig, DetectorKind, OnsetConfig};

/// earshot's speech-score threshold: the measured choice of decision
/// record 0003 (0.3 behind the noise gate matches the WebRTC VAD on
/// onsets; higher thresholds confirm onsets too late for barge-in).
pub const EARSHOT_THRESHOLD: f32 = 0.3;

impl MediaConfig {
    /// The caller's VAD: `vad`, `vad_min_speech_ms` and `vad_hangover_ms`,
    /// with the noise gate (decision record 0003) in front of either
    /// detector.
    pub fn caller_vad(&self) -> CallerVadConfig {
        let defaults = CallerVadConfig::default();
        CallerVadConfig {
            detector: match self.vad {
                VadKind::Webrtc => defaults.detector,
                VadKind::Earshot => DetectorKind::Earshot(EARSHOT_THRESHOLD),
            },
            onset: OnsetConfig {
                min_speech_ms: self.vad_min_speech_ms,
                hangover_ms: self.vad_hangover_ms,
            },
            ..defaults
        }
    }

    /// The SIP leg's jitter buffer: its target depth adapts between
    /// `jitter_min_ms` and `jitter_max_ms` (the law is the call's).
    pub fn jitter(&self) -> JitterConfig {
        JitterConfig {
            min_depth_ms: self.jitter_min_ms,
            max_depth_ms: self.jitter_max_ms,
            ..JitterConfig::default()
        }
    }
}

#[cfg(test)]
mod tests;
