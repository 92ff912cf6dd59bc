//! Opus at the edge of the WebRTC leg: browser Opus in, 20 ms μ-law
//! frames out for today's 8 kHz call path, and back.
//!
//! libopus decodes straight to 8 kHz and encodes from 8 kHz (its own
//! resampler is part of the codec), so no second resampling stage runs
//! here; the RTP clock stays 48 kHz whatever rate the codec works at
//! (RFC 7587). Decision 0023 says why.

use crate::call::leg::FRAME_SAMPLES_8K;
use crate::media::g711::{ulaw_decode, Law};

/// Longest Opus frame a browser sends, 120 ms, at 8 kHz.
const MAX_DECODED: usize = 960;

/// The RTP clock ticks of one 20 ms frame (48 kHz, RFC 7587).
pub const RTP_TICKS_PER_FRAME: u64 = 960;

/// Why Opus failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus refused to build a codec (a bug or a broken build).
    #[error(
        "libopus could not build its codec: {0}; rebuild warmline (the opus crate bundles libopus)"
    )]
    Init(opus::Error),
    /// A packet did not decode: the browser sent something that is not Opus.
    #[error("an Opus packet did not decode: {0}")]
    Decode(opus::Error),
    /// A frame did not encode.
    #[error("a frame did not encode as Opus: {0}")]
    Encode(opus::Error),
}

/// Opus both ways for one call.
pub struct OpusCodec {
    decoder: opus::Decoder,
    encoder: opus::Encoder,
    /// Decoded caller audio not yet a whole 20 ms frame.
    carry: Vec<i16>,
    pcm: Box<[i16; MAX_DECODED]>,
}

impl std::fmt::Debug for OpusCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusCodec")
            .field("carry", &self.carry.len())
            .finish()
    }
}

impl OpusCodec {
    /// A decoder and an encoder at 8 kHz mono, the encoder tuned for
    /// speech at 24 kb/s with in-band FEC.
    pub fn new() -> Result<OpusCodec, CodecError> {
        let decoder = opus::Decoder::new(8_000, opus::Channels::Mono).map_err(CodecError::Init)?;
        let mut encoder = opus::Encoder::new(8_000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(CodecError::Init)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(24_000))
            .map_err(CodecError::Init)?;
        let _ = encoder.set_inband_fec(true);
        Ok(OpusCodec {
            decoder,
            encoder,
            carry: Vec::with_capacity(MAX_DECODED + FRAME_SAMPLES_8K),
            pcm: Box::new([0; MAX_DECODED]),
        })
    }

    /// Decodes one Opus packet and appends every whole 20 ms μ-law frame
    /// it completes to `out`.
    pub fn decode(
        &mut self,
        packet: &[u8],
        out: &mut Vec<[u8; FRAME_SAMPLES_8K]>,
    ) -> Result<(), CodecError> {
        let n = self
            .decoder
            .decode(packet, &mut self.pcm[..], false)
            .map_err(CodecError::Decode)?;
        self.carry.extend_from_slice(&self.pcm[..n]);
        let whole = self.carry.len() / FRAME_SAMPLES_8K * FRAME_SAMPLES_8K;
        for chunk in self.carry[..whole].chunks_exact(FRAME_SAMPLES_8K) {
            let mut frame = [0u8; FRAME_SAMPLES_8K];
            for (code, &sample) in frame.iter_mut().zip(chunk) {
                *code = Law::Ulaw.encode(sample);
            }
            out.push(frame);
        }
        self.carry.drain(..whole);
        Ok(())
    }

    /// Encodes one 20 ms μ-law frame as one Opus packet into `out`;
    /// returns its length.
    pub fn encode(&mut self, mulaw: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
        let mut pcm = [0i16; FRAME_SAMPLES_8K];
        for (sample, &code) in pcm.iter_mut().zip(mulaw) {
            *sample = ulaw_decode(code);
        }
        self.encoder.encode(&pcm, out).map_err(CodecError::Encode)
    }
}

/// Samples of a 20 ms frame at 16 kHz, the room's rate.
const WIDE_FRAME: usize = 320;
/// Longest Opus frame a browser sends, 120 ms, at 16 kHz.
const MAX_DECODED_WIDE: usize = 1_920;

/// Opus both ways at 16 kHz for a leg linked to a call's room (decision
/// 0024): libopus decodes straight to the mixer's rate and encodes from
/// it, so the browser's wideband audio reaches the room with no resampler
/// and no G.711 step.
pub struct WideOpus {
    decoder: opus::Decoder,
    encoder: opus::Encoder,
    carry: Vec<i16>,
    pcm: Box<[i16; MAX_DECODED_WIDE]>,
}

impl std::fmt::Debug for WideOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WideOpus")
            .field("carry", &self.carry.len())
            .finish()
    }
}

impl WideOpus {
    /// A decoder and an encoder at 16 kHz mono, speech at 32 kb/s with
    /// in-band FEC.
    pub fn new() -> Result<WideOpus, CodecError> {
        let decoder = opus::Decoder::new(16_000, opus::Channels::Mono).map_err(CodecError::Init)?;
        let mut encoder = opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(CodecError::Init)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(32_000))
            .map_err(CodecError::Init)?;
        let _ = encoder.set_inband_fec(true);
        Ok(WideOpus {
            decoder,
            encoder,
            carry: Vec::with_capacity(MAX_DECODED_WIDE + WIDE_FRAME),
            pcm: Box::new([0; MAX_DECODED_WIDE]),
        })
    }

    /// Decodes one packet and appends every whole 20 ms 16 kHz frame it
    /// completes to `out`.
    pub fn decode(
        &mut self,
        packet: &[u8],
        out: &mut std::collections::VecDeque<crate::media::frame::Frame>,
    ) -> Result<(), CodecError> {
        use crate::media::frame::{Frame, MediaTime, SampleRate};
        let n = self
            .decoder
            .decode(packet, &mut self.pcm[..], false)
            .map_err(CodecError::Decode)?;
        self.carry.extend_from_slice(&self.pcm[..n]);
        let whole = self.carry.len() / WIDE_FRAME * WIDE_FRAME;
        for chunk in self.carry[..whole].chunks_exact(WIDE_FRAME) {
            if let Ok(frame) = Frame::from_samples(SampleRate::Hz16000, MediaTime(0), chunk) {
                out.push_back(frame);
            }
        }
        self.carry.drain(..whole);
        Ok(())
    }

    /// Encodes one 20 ms frame (320 samples at 16 kHz) into `out`;
    /// returns its length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        self.encoder.encode(pcm, out).map_err(CodecError::Encode)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wideband_tone_survives_an_opus_round_trip_at_16_khz() {
        let mut codec = WideOpus::new().expect("codec");
        let mut packet = [0u8; 1500];
        let mut decoded = std::collections::VecDeque::new();
        for i in 0..25 {
            // 5 kHz: above what a phone line carries.
            let pcm: Vec<i16> = (0..320)
                .map(|k| {
                    let t = (i * 320 + k) as f32 / 16_000.0;
                    (8000.0 * (2.0 * std::f32::consts::PI * 5_000.0 * t).sin()) as i16
                })
                .collect();
            let n = codec.encode(&pcm, &mut packet).expect("encode");
            codec.decode(&packet[..n], &mut decoded).expect("decode");
        }
        assert_eq!(decoded.len(), 25);
        let last = decoded.back().expect("frames");
        let rms = (last
            .samples()
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / 320.0)
            .sqrt();
        let db = 20.0 * (rms / (8000.0 / 2f64.sqrt())).log10();
        assert!(db.abs() < 3.0, "level changed by {db:.1} dB");
    }

    use super::*;

    fn tone_frame(start: usize) -> [u8; FRAME_SAMPLES_8K] {
        let mut frame = [0u8; FRAME_SAMPLES_8K];
        for (i, code) in frame.iter_mut().enumerate() {
            let t = (start + i) as f32 / 8000.0;
            let sample = (8000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16;
            *code = Law::Ulaw.encode(sample);
        }
        frame
    }

    #[test]
    fn a_tone_survives_an_opus_round_trip_at_its_level() {
        let mut codec = OpusCodec::new().expect("codec");
        let mut packet = [0u8; 1500];
        let mut decoded = Vec::new();
        for i in 0..25 {
            let n = codec
                .encode(&tone_frame(i * FRAME_SAMPLES_8K), &mut packet)
                .expect("encode");
            assert!(n > 0 && n < 200, "a 20 ms packet at 24 kb/s is small: {n}");
            codec.decode(&packet[..n], &mut decoded).expect("decode");
        }
        assert_eq!(decoded.len(), 25, "one 20 ms frame out per packet in");
        // After the codec's start-up, the tone's level is back (±3 dB).
        let rms = |frame: &[u8]| {
            let sum: f64 = frame
                .iter()
                .map(|&c| f64::from(ulaw_decode(c)).powi(2))
                .sum();
            (sum / frame.len() as f64).sqrt()
        };
        let sent = rms(&tone_frame(0));
        let got = rms(&decoded[20][..]);
        let db = 20.0 * (got / sent).log10();
        assert!(db.abs() < 3.0, "level changed by {db:.1} dB");
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        let mut codec = OpusCodec::new().expect("codec");
        let mut out = Vec::new();
        // A code-3 TOC byte (arbitrary frame count) with no count byte.
        let result = codec.decode(&[0x03], &mut out);
        assert!(matches!(result, Err(CodecError::Decode(_))), "{result:?}");
        assert!(out.is_empty());
    }
}
