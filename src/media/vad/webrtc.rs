//! [`WebRtcVad`]: libfvad (the WebRTC VAD's GMM) through the `webrtc-vad`
//! crate, on 20 ms frames at 8 kHz.

use super::{check_rate, VadError, VoiceDetector};
use crate::media::frame::{Frame, SampleRate};

/// libfvad's aggressiveness: higher modes call less audio speech.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebRtcMode {
    /// Mode 0: calls the most audio speech.
    Quality,
    /// Mode 1.
    LowBitrate,
    /// Mode 2.
    Aggressive,
    /// Mode 3: calls the least audio speech.
    VeryAggressive,
}

impl WebRtcMode {
    fn to_lib(self) -> webrtc_vad::VadMode {
        match self {
            WebRtcMode::Quality => webrtc_vad::VadMode::Quality,
            WebRtcMode::LowBitrate => webrtc_vad::VadMode::LowBitrate,
            WebRtcMode::Aggressive => webrtc_vad::VadMode::Aggressive,
            WebRtcMode::VeryAggressive => webrtc_vad::VadMode::VeryAggressive,
        }
    }
}

/// The WebRTC VAD at 8 kHz.
pub struct WebRtcVad {
    inner: webrtc_vad::Vad,
    mode: WebRtcMode,
}

impl std::fmt::Debug for WebRtcVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcVad")
            .field("mode", &self.mode)
            .finish()
    }
}

impl WebRtcVad {
    /// A detector in the given mode.
    pub fn new(mode: WebRtcMode) -> WebRtcVad {
        WebRtcVad {
            inner: webrtc_vad::Vad::new_with_rate_and_mode(
                webrtc_vad::SampleRate::Rate8kHz,
                mode.to_lib(),
            ),
            mode,
        }
    }
}

impl VoiceDetector for WebRtcVad {
    fn name(&self) -> &'static str {
        "webrtc-vad"
    }

    fn input_rate(&self) -> SampleRate {
        SampleRate::Hz8000
    }

    fn is_speech(&mut self, frame: &Frame) -> Result<bool, VadError> {
        check_rate(self.name(), SampleRate::Hz8000, frame)?;
        let samples = frame.samples();
        self.inner
            .is_voice_segment(samples)
            .map_err(|()| VadError::Rejected {
                detector: "webrtc-vad",
                samples: samples.len(),
            })
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.inner.set_mode(self.mode.to_lib());
        self.inner.set_sample_rate(webrtc_vad::SampleRate::Rate8kHz);
    }
}
