//! RTP packets (RFC 3550 §5.1): a borrowing parser and a writer into reused
//! buffers.
//!
//! Parsing never copies or allocates: [`RtpPacketView`] borrows the CSRC
//! list, the header extension and the payload from the datagram. Every
//! length the packet declares (CSRC count, extension length, padding count)
//! is checked against the bytes actually present, so no input can panic.

use crate::media::jitter::RtpPacket;

/// Bytes of the fixed RTP header.
pub const RTP_HEADER_BYTES: usize = 12;
/// The only RTP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;

/// Why bytes are not an RTP packet (or a packet does not fit a buffer).
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer than 12 bytes: not even the fixed header is there.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte fixed header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The version bits are not 2; typically not RTP at all (STUN, DTLS or
    /// garbage on the media port).
    #[error("RTP version {version} is not 2; the datagram is probably not RTP")]
    BadVersion {
        /// The version bits found.
        version: u8,
    },
    /// The CSRC count promises more identifiers than the packet holds.
    #[error("CSRC count {count} needs {needed} header bytes but the packet has {len}")]
    CsrcOverflow {
        /// The CC field.
        count: u8,
        /// Header bytes that count implies.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The X bit is set but the extension header or its declared words are
    /// not all there.
    #[error(
        "header extension needs {needed} bytes from offset {offset} but only {available} remain"
    )]
    BadExtensionLength {
        /// Where the extension starts.
        offset: usize,
        /// Bytes the extension declares (4-byte header included).
        needed: usize,
        /// Bytes left after the fixed header and CSRCs.
        available: usize,
    },
    /// The P bit is set but the padding count is zero or longer than what
    /// follows the header (a sender bug, or a truncated datagram).
    #[error("padding of {padding} bytes does not fit the {available} bytes after the header")]
    BadPadding {
        /// The padding count (last byte), 0 if there was no byte to read.
        padding: u8,
        /// Bytes after the header (payload plus padding).
        available: usize,
    },
    /// The output buffer cannot hold the packet being written.
    #[error("output buffer of {capacity} bytes cannot hold a {needed}-byte RTP packet")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        capacity: usize,
    },
}

/// The fixed-header fields a receiver acts on and a sender sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// M bit: first packet of a talkspurt (audio) or of a DTMF event.
    pub marker: bool,
    /// Payload type, 0–127 (0 PCMU, 8 PCMA, dynamic for telephone-event).
    pub payload_type: u8,
    /// Sequence number; wraps at 2^16.
    pub sequence: u16,
    /// Media timestamp in clock-rate units (8 kHz for G.711).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// An RTP header extension (RFC 3550 §5.3.1), borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" 16 bits (0xBEDE for RFC 8285 one-byte
    /// headers).
    pub profile: u16,
    /// The extension words, without the 4-byte extension header.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing from the datagram it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacketView<'a> {
    /// Fixed-header fields.
    pub header: RtpHeader,
    /// The CSRC identifiers as raw big-endian words (4 bytes each); see
    /// [`csrcs`](RtpPacketView::csrcs).
    pub csrc_bytes: &'a [u8],
    /// The header extension, when the X bit is set.
    pub extension: Option<RtpExtension<'a>>,
    /// The payload with any padding removed.
    pub payload: &'a [u8],
    /// Padding bytes that were stripped (0 when the P bit is clear).
    pub padding: u8,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> RtpPacketView<'a> {
    /// Parses one RTP datagram. Never panics; every declared length is
    /// checked against `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<RtpPacketView<'a>, RtpError> {
        let len = bytes.len();
        let too_short = RtpError::TooShort { len };
        let (Some(&b0), Some(&b1), Some(sequence), Some(timestamp), Some(ssrc)) = (
            bytes.first(),
            bytes.get(1),
            be16(bytes, 2),
            be32(bytes, 4),
            be32(bytes, 8),
        ) else {
            return Err(too_short);
        };
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let count = b0 & 0x0F;
        let csrc_end = RTP_HEADER_BYTES + 4 * usize::from(count);
        let csrc_bytes = bytes
            .get(RTP_HEADER_BYTES..csrc_end)
            .ok_or(RtpError::CsrcOverflow {
                count,
                needed: csrc_end,
                len,
            })?;

        let mut offset = csrc_end;
        let extension = if has_extension {
            let available = len - csrc_end;
            let bad = |needed| RtpError::BadExtensionLength {
                offset: csrc_end,
                needed,
                available,
            };
            let (Some(profile), Some(words)) = (be16(bytes, offset), be16(bytes, offset + 2))
            else {
                return Err(bad(4));
            };
            let needed = 4 + 4 * usize::from(words);
            let data = bytes.get(offset + 4..offset + needed).ok_or(bad(needed))?;
            offset += needed;
            Some(RtpExtension { profile, data })
        } else {
            None
        };

        // `offset <= len` holds: every step above was a successful `get`.
        let rest = bytes.get(offset..).unwrap_or_default();
        let (payload, padding) = if has_padding {
            // The count includes itself, so 0 is as invalid as too many.
            let padding = rest.last().copied().unwrap_or(0);
            if padding == 0 || usize::from(padding) > rest.len() {
                return Err(RtpError::BadPadding {
                    padding,
                    available: rest.len(),
                });
            }
            (&rest[..rest.len() - usize::from(padding)], padding)
        } else {
            (rest, 0)
        };

        Ok(RtpPacketView {
            header: RtpHeader {
                marker: b1 & 0x80 != 0,
                payload_type: b1 & 0x7F,
                sequence,
                timestamp,
                ssrc,
            },
            csrc_bytes,
            extension,
            payload,
            padding,
        })
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc_bytes
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// The packet as the jitter buffer takes it.
    pub fn to_jitter(&self) -> RtpPacket<'a> {
        RtpPacket {
            sequence: self.header.sequence,
            timestamp: self.header.timestamp,
            ssrc: self.header.ssrc,
            marker: self.header.marker,
            payload: self.payload,
        }
    }
}

impl<'a> From<RtpPacketView<'a>> for RtpPacket<'a> {
    fn from(view: RtpPacketView<'a>) -> RtpPacket<'a> {
        view.to_jitter()
    }
}

impl RtpHeader {
    fn first_bytes(&self) -> [u8; RTP_HEADER_BYTES] {
        let mut h = [0u8; RTP_HEADER_BYTES];
        h[0] = RTP_VERSION << 6;
        h[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        h
    }

    /// Writes a packet with this header (no CSRCs, extension or padding:
    /// warmline is the only source of what it sends) into `out`, returning
    /// its length. A payload type above 127 is masked to 7 bits.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let needed = RTP_HEADER_BYTES + payload.len();
        let Some(dst) = out.get_mut(..needed) else {
            return Err(RtpError::BufferTooSmall {
                needed,
                capacity: out.len(),
            });
        };
        dst[..RTP_HEADER_BYTES].copy_from_slice(&self.first_bytes());
        dst[RTP_HEADER_BYTES..].copy_from_slice(payload);
        Ok(needed)
    }
}

/// Replaces the contents of `out` with an RTP packet. `out` keeps its
/// capacity between calls, so a reused `Vec` stops allocating after the
/// first packet.
pub fn write_rtp(header: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&header.first_bytes());
    out.extend_from_slice(payload);
}

/// Whether a datagram on an rtcp-mux port is RTCP rather than RTP.
///
/// RFC 5761 §4: the second byte of RTCP is its packet type (SR 200 … APP
/// 204); RTP puts the marker bit and payload type there. Payload types
/// 64–95 are forbidden with rtcp-mux, so a second byte in 192–223 is RTCP
/// whatever the marker bit. Anything shorter than 2 bytes is not RTCP.
pub fn is_rtcp(first_bytes: &[u8]) -> bool {
    matches!(first_bytes.get(1), Some(192..=223))
}
