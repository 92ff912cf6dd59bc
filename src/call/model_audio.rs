//! The call's side of the model's audio formats: caller frames into the
//! session's input format, agent deltas into 8 kHz PCM for the pacer.
//!
//! With `audio/pcmu` both ways (the default) the caller's μ-law goes to the
//! model byte for byte and deltas decode by table: no resampling on the
//! telephony path. With `audio/pcm` at 24 kHz each caller frame is
//! resampled up, and each assistant item's deltas are resampled down as
//! one stream: the filter state carries across deltas (no click at their
//! boundaries) and is flushed when the item's audio is done, so nothing of
//! it is held back.

use crate::media::frame::Frame;
use crate::media::g711::Law;
use crate::model::audio::{Decoder, Encoder, ModelAudioError};
use crate::model::AudioFormat;

/// The formats a model session uses (what it announced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelAudioFormats {
    /// Caller audio sent to the model.
    pub input: AudioFormat,
    /// Agent audio received from the model.
    pub output: AudioFormat,
}

impl Default for ModelAudioFormats {
    fn default() -> Self {
        ModelAudioFormats {
            input: AudioFormat::Pcmu,
            output: AudioFormat::Pcmu,
        }
    }
}

/// Converts one call's audio to and from the model. See the module docs.
#[derive(Debug)]
pub struct ModelAudio {
    /// `None`: μ-law passes through.
    encoder: Option<Encoder>,
    decoder: Decoder,
    /// The pacer source whose stream the decoder is in.
    decoding: Option<u64>,
    pcm: Vec<i16>,
}

impl ModelAudio {
    /// Converters for `formats`.
    pub fn new(formats: ModelAudioFormats) -> Result<ModelAudio, ModelAudioError> {
        Ok(ModelAudio {
            encoder: match formats.input {
                AudioFormat::Pcmu => None,
                other => Some(Encoder::new(other)?),
            },
            decoder: Decoder::new(formats.output)?,
            decoding: None,
            pcm: Vec::with_capacity(4_800),
        })
    }

    /// μ-law both ways (cannot fail).
    pub fn pcmu() -> ModelAudio {
        ModelAudio {
            encoder: None,
            decoder: Decoder::g711(Law::Ulaw),
            decoding: None,
            pcm: Vec::with_capacity(4_800),
        }
    }

    /// The bytes of one caller frame for the model: `mulaw` itself for a
    /// μ-law session, else `frame` (its decoded 8 kHz samples) encoded.
    pub fn caller_frame(&mut self, frame: &Frame, mulaw: &[u8]) -> Vec<u8> {
        match self.encoder.as_mut() {
            None => mulaw.to_vec(),
            Some(encoder) => {
                let mut out = Vec::with_capacity(960);
                encoder.encode(frame.samples(), &mut out);
                out
            }
        }
    }

    /// 8 kHz PCM of one delta of the item playing as pacer `source`. A
    /// delta of another item starts a new stream (the last one was cut off
    /// or finished).
    pub fn agent_delta(&mut self, source: u64, audio: &[u8]) -> &[i16] {
        if self.decoding != Some(source) {
            self.decoder.reset();
            self.decoding = Some(source);
        }
        self.pcm.clear();
        self.decoder.decode(audio, &mut self.pcm);
        &self.pcm
    }

    /// The rest of `source`'s audio, once the model says it is complete.
    pub fn agent_done(&mut self, source: u64) -> &[i16] {
        self.pcm.clear();
        if self.decoding == Some(source) {
            self.decoder.finish(&mut self.pcm);
            self.decoding = None;
        }
        &self.pcm
    }
}
