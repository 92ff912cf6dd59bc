//! Audio codecs as SDP names them: encoding names, clock rates and the
//! RFC 3551 static payload types.

use super::attr::Rtpmap;

/// An RTP audio payload format we can name.
///
/// Codecs are identified by encoding name (case-insensitive, RFC 8866
/// §6.6); the clock rate is checked separately by [`PayloadFormat::is`], so
/// `PCMU/16000` is not mistaken for G.711.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// RFC 4733 DTMF events (dynamic PT, usually 101).
    TelephoneEvent,
    /// RFC 3389 comfort noise, static PT 13.
    ComfortNoise,
    /// G.722, static PT 9 (its RTP clock is 8000 Hz, RFC 3551 §4.5.2).
    G722,
    /// Opus (RFC 7587), dynamic PT, always `opus/48000/2`.
    Opus,
    /// Any other encoding, by name as written.
    Other(String),
}

/// RFC 3551 static audio payload types: (PT, name, clock rate, channels).
const STATIC_AUDIO: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
];

impl Codec {
    /// The codec for an encoding name, matched case-insensitively.
    pub fn from_name(name: &str) -> Self {
        let known = [
            Codec::Pcmu,
            Codec::Pcma,
            Codec::TelephoneEvent,
            Codec::ComfortNoise,
            Codec::G722,
            Codec::Opus,
        ];
        known
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| Codec::Other(name.to_owned()))
    }

    /// The encoding name as we write it in an rtpmap.
    pub fn encoding_name(&self) -> &str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::TelephoneEvent => "telephone-event",
            Codec::ComfortNoise => "CN",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
            Codec::Other(name) => name,
        }
    }

    /// The RTP clock rate this codec must use, when it has exactly one.
    /// telephone-event has none: it follows its audio codec's rate.
    pub fn clock_rate(&self) -> Option<u32> {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::ComfortNoise | Codec::G722 => Some(8000),
            Codec::TelephoneEvent => None,
            Codec::Opus => Some(48000),
            Codec::Other(name) => STATIC_AUDIO
                .iter()
                .find(|s| s.1.eq_ignore_ascii_case(name))
                .map(|s| s.2),
        }
    }

    /// Channels as written in the rtpmap (Opus always says 2).
    pub fn channels(&self) -> u16 {
        match self {
            Codec::Opus => 2,
            _ => 1,
        }
    }

    /// The RFC 3551 static payload type, if the codec has one.
    pub fn static_payload_type(&self) -> Option<u8> {
        let name = self.encoding_name();
        let rate = self.clock_rate()?;
        STATIC_AUDIO
            .iter()
            .find(|s| s.1.eq_ignore_ascii_case(name) && s.2 == rate)
            .map(|s| s.0)
    }

    /// Whether this is a real audio codec rather than a companion format
    /// (DTMF events, comfort noise) that rides alongside one.
    pub fn is_primary(&self) -> bool {
        !matches!(self, Codec::TelephoneEvent | Codec::ComfortNoise)
    }
}

/// One payload type on an `m=` line, resolved to a codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// The payload type number used on the wire.
    pub payload_type: u8,
    /// The codec.
    pub codec: Codec,
    /// The encoding name as the SDP spelled it (or the RFC 3551 name).
    pub encoding_name: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The channel count (1 when not given).
    pub channels: u16,
}

impl PayloadFormat {
    /// Resolves an rtpmap.
    pub fn from_rtpmap(map: &Rtpmap) -> Self {
        PayloadFormat {
            payload_type: map.payload_type,
            codec: Codec::from_name(&map.encoding_name),
            encoding_name: map.encoding_name.clone(),
            clock_rate: map.clock_rate,
            channels: map.channels.unwrap_or(1),
        }
    }

    /// Resolves a static payload type that has no rtpmap (RFC 3551 §6).
    pub fn from_static(pt: u8) -> Option<Self> {
        let (pt, name, rate, channels) = *STATIC_AUDIO.iter().find(|s| s.0 == pt)?;
        Some(PayloadFormat {
            payload_type: pt,
            codec: Codec::from_name(name),
            encoding_name: name.to_owned(),
            clock_rate: rate,
            channels,
        })
    }

    /// Whether this format is `codec` at the clock rate and channel count
    /// that codec needs. Codecs with no fixed rate match by name only.
    pub fn is(&self, codec: &Codec) -> bool {
        let same_name = self
            .encoding_name
            .eq_ignore_ascii_case(codec.encoding_name());
        let rate_ok = codec.clock_rate().is_none_or(|r| r == self.clock_rate);
        let channels_ok = match codec {
            // RFC 7587 §7: opus is always written /2, whatever is sent.
            Codec::Opus => self.channels == 2,
            Codec::Other(_) => true,
            _ => self.channels == 1,
        };
        same_name && rate_ok && channels_ok
    }

    /// The rtpmap line for this format.
    pub fn rtpmap(&self) -> Rtpmap {
        Rtpmap {
            payload_type: self.payload_type,
            encoding_name: self.encoding_name.clone(),
            clock_rate: self.clock_rate,
            channels: (self.channels != 1).then_some(self.channels),
        }
    }
}
