//! Between the telephony side's 8 kHz PCM and a model session's
//! [`AudioFormat`]: streaming converters, one per direction and stream.
//!
//! G.711 converts sample by sample. `audio/pcm` (16-bit little-endian) at
//! another rate goes through [`Resampler`] (decision record 0002), which
//! works on whole 20 ms frames and keeps its filter history between them.
//! Both converters therefore carry what does not fill a frame (and an odd
//! byte) into the next call: a model's deltas split audio anywhere, and
//! resetting the filter at each delta would click.
//!
//! Never reads a clock or does I/O. Allocates only in `new` and when the
//! output vectors grow.

use crate::media::frame::{Frame, MediaTime, SampleRate};
use crate::media::g711::Law;
use crate::media::resample::{ResampleError, Resampler};
use crate::model::AudioFormat;

/// Samples in 20 ms at 8 kHz.
const FRAME_8K: usize = 160;

/// Errors building a converter.
#[derive(Debug, thiserror::Error)]
pub enum ModelAudioError {
    /// `audio/pcm` at a rate the resampler does not take.
    #[error("audio/pcm at {0} Hz is not supported: use 8, 16, 24 or 48 kHz")]
    UnsupportedRate(u32),
    /// The resampler refused the rate pair (a build problem).
    #[error(transparent)]
    Resampler(#[from] ResampleError),
}

#[derive(Debug)]
enum Codec {
    G711(Law),
    /// PCM at 8 kHz: bytes only.
    Pcm8k,
    /// PCM at another rate, through a resampler.
    Pcm {
        rate: SampleRate,
        resampler: Box<Resampler>,
    },
}

fn codec(format: AudioFormat, to_8k: bool) -> Result<Codec, ModelAudioError> {
    Ok(match format {
        AudioFormat::Pcmu => Codec::G711(Law::Ulaw),
        AudioFormat::Pcma => Codec::G711(Law::Alaw),
        AudioFormat::Pcm16 { rate: 8_000 } => Codec::Pcm8k,
        AudioFormat::Pcm16 { rate } => {
            let rate = SampleRate::from_hz(rate).ok_or(ModelAudioError::UnsupportedRate(rate))?;
            let resampler = if to_8k {
                Resampler::new(rate, SampleRate::Hz8000)?
            } else {
                Resampler::new(SampleRate::Hz8000, rate)?
            };
            Codec::Pcm {
                rate,
                resampler: Box::new(resampler),
            }
        }
    })
}

/// 8 kHz PCM in, the session's input format out.
#[derive(Debug)]
pub struct Encoder {
    codec: Codec,
    carry: Vec<i16>,
    frames: u64,
}

impl Encoder {
    /// An encoder into `format`.
    pub fn new(format: AudioFormat) -> Result<Encoder, ModelAudioError> {
        Ok(Encoder {
            codec: codec(format, false)?,
            carry: Vec::with_capacity(FRAME_8K),
            frames: 0,
        })
    }

    /// Appends `pcm` (8 kHz) to `out` in the format. With a resampler,
    /// output comes in whole 20 ms frames; a partial frame waits for the
    /// next call.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        match &mut self.codec {
            Codec::G711(law) => out.extend(pcm.iter().map(|&s| law.encode(s))),
            Codec::Pcm8k => out.extend(pcm.iter().flat_map(|s| s.to_le_bytes())),
            Codec::Pcm { resampler, .. } => {
                for &s in pcm {
                    self.carry.push(s);
                    if self.carry.len() < FRAME_8K {
                        continue;
                    }
                    let at = MediaTime(self.frames * FRAME_8K as u64);
                    self.frames += 1;
                    // The carry holds exactly one 8 kHz frame; the
                    // resampler takes any frame of its input rate.
                    if let Ok(frame) = Frame::from_samples(SampleRate::Hz8000, at, &self.carry) {
                        if let Ok(wide) = resampler.process(&frame) {
                            out.extend(wide.samples().iter().flat_map(|s| s.to_le_bytes()));
                        }
                    }
                    self.carry.clear();
                }
            }
        }
    }
}

/// The session's output format in, 8 kHz PCM out.
#[derive(Debug)]
pub struct Decoder {
    codec: Codec,
    odd_byte: Option<u8>,
    carry: Vec<i16>,
    /// Input samples (at the input rate) since the last reset.
    taken: u64,
    /// 8 kHz samples handed out since the last reset.
    given: u64,
}

impl Decoder {
    /// A G.711 decoder (cannot fail).
    pub fn g711(law: Law) -> Decoder {
        Decoder {
            codec: Codec::G711(law),
            odd_byte: None,
            carry: Vec::new(),
            taken: 0,
            given: 0,
        }
    }

    /// A decoder from `format`.
    pub fn new(format: AudioFormat) -> Result<Decoder, ModelAudioError> {
        let codec = codec(format, true)?;
        let frame = match &codec {
            Codec::Pcm { rate, .. } => rate.samples_per_frame(),
            _ => FRAME_8K,
        };
        Ok(Decoder {
            codec,
            odd_byte: None,
            carry: Vec::with_capacity(frame),
            taken: 0,
            given: 0,
        })
    }

    /// Appends the 8 kHz PCM of `bytes` to `out`. Resampled audio comes out
    /// in whole 20 ms frames, delayed by the resampler's 1.5 ms; the rest
    /// waits for the next delta or [`finish`](Self::finish).
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        match &mut self.codec {
            Codec::G711(law) => {
                out.extend(bytes.iter().map(|&c| law.decode(c)));
                self.given += bytes.len() as u64;
            }
            Codec::Pcm8k | Codec::Pcm { .. } => {
                let mut rest = bytes;
                if let (Some(low), Some((&high, tail))) = (self.odd_byte, rest.split_first()) {
                    self.odd_byte = None;
                    self.pcm_sample(i16::from_le_bytes([low, high]), out);
                    rest = tail;
                }
                let mut pairs = rest.chunks_exact(2);
                for pair in pairs.by_ref() {
                    self.pcm_sample(i16::from_le_bytes([pair[0], pair[1]]), out);
                }
                if let [last] = pairs.remainder() {
                    self.odd_byte = Some(*last);
                }
            }
        }
    }

    fn pcm_sample(&mut self, sample: i16, out: &mut Vec<i16>) {
        self.taken += 1;
        let Codec::Pcm { rate, resampler } = &mut self.codec else {
            out.push(sample);
            self.given += 1;
            return;
        };
        self.carry.push(sample);
        if self.carry.len() == rate.samples_per_frame() {
            let frame = Frame::from_samples(*rate, MediaTime(self.taken), &self.carry);
            if let Ok(narrow) = frame
                .map_err(|_| ())
                .and_then(|f| resampler.process(&f).map_err(|_| ()))
            {
                out.extend_from_slice(narrow.samples());
                self.given += FRAME_8K as u64;
            }
            self.carry.clear();
        }
    }

    /// The stream is complete: appends what is still held back (the
    /// partial frame and the resampler's delay), so the whole stream comes
    /// out, then forgets it. Call before the next stream.
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        if let Codec::Pcm { rate, resampler } = &mut self.codec {
            // All of the input's duration, shifted by the filter delay.
            let target =
                self.taken * 8_000 / u64::from(rate.hz()) + resampler.delay_samples() as u64;
            let n = rate.samples_per_frame();
            while self.given < target {
                self.carry.resize(n, 0);
                let frame = Frame::from_samples(*rate, MediaTime(self.taken), &self.carry);
                self.carry.clear();
                let Ok(narrow) = frame
                    .map_err(|_| ())
                    .and_then(|f| resampler.process(&f).map_err(|_| ()))
                else {
                    break;
                };
                let take = (target - self.given).min(FRAME_8K as u64) as usize;
                out.extend_from_slice(&narrow.samples()[..take]);
                self.given += take as u64;
            }
        }
        self.reset();
    }

    /// Forgets the stream without flushing it (a barge-in discarded it).
    pub fn reset(&mut self) {
        if let Codec::Pcm { resampler, .. } = &mut self.codec {
            resampler.reset();
        }
        self.odd_byte = None;
        self.carry.clear();
        self.taken = 0;
        self.given = 0;
    }
}

#[cfg(test)]
mod tests;
