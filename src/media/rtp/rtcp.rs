//! RTCP (RFC 3550 §6): compound packet parsing, SR/RR + SDES building, and
//! the NTP time formats RTCP carries.
//!
//! [`RtcpCompound::parse`] checks a whole datagram once (every packet's
//! version, length, padding and inner counts) and then hands out borrowing
//! views, so iterating never fails and never copies. Building writes into a
//! caller's `Vec` that is cleared and reused.
//!
//! Decisions:
//! - A compound packet need not start with SR/RR: RFC 5506 reduced-size
//!   RTCP and some trunks send lone packets, and rejecting them would only
//!   lose quality reports.
//! - APP (204) and unknown packet types are skipped by their length and
//!   surface as [`RtcpPacket::Other`], so a caller can log them.
//! - Padding is honoured on any packet, not only the last.

use std::time::Duration;

/// RTCP packet type: sender report.
pub const PT_SR: u8 = 200;
/// RTCP packet type: receiver report.
pub const PT_RR: u8 = 201;
/// RTCP packet type: source description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type: goodbye.
pub const PT_BYE: u8 = 203;
/// RTCP packet type: application-defined.
pub const PT_APP: u8 = 204;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

/// Bytes of one report block.
pub const REPORT_BLOCK_BYTES: usize = 24;
/// Report blocks one SR or RR can carry (the 5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;
const HEADER_BYTES: usize = 4;
const SENDER_INFO_BYTES: usize = 20;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// Why a datagram is not valid RTCP, or a packet cannot be built.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpError {
    /// An empty datagram.
    #[error("empty RTCP datagram")]
    Empty,
    /// Fewer than 4 bytes left where a packet header should start; the
    /// datagram was truncated or its lengths are wrong.
    #[error("{len} bytes at offset {offset} are too few for an RTCP header")]
    TooShort {
        /// Where the header should start.
        offset: usize,
        /// Bytes left there.
        len: usize,
    },
    /// Version bits other than 2; probably not RTCP at all.
    #[error("RTCP version {version} at offset {offset} is not 2")]
    BadVersion {
        /// Where the packet starts.
        offset: usize,
        /// The version bits found.
        version: u8,
    },
    /// The length field claims more bytes than the datagram has left.
    #[error("RTCP packet type {packet_type} at offset {offset} declares {declared} bytes but only {available} remain")]
    LengthOverrun {
        /// Where the packet starts.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
        /// Bytes the length field declares.
        declared: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// The P bit is set but the padding count is zero or larger than the
    /// packet body.
    #[error("RTCP packet at offset {offset} has padding {padding} that does not fit its {body} body bytes")]
    BadPadding {
        /// Where the packet starts.
        offset: usize,
        /// The padding count.
        padding: u8,
        /// Bytes of body (after the 4-byte header).
        body: usize,
    },
    /// The body is too short for what its header promises (report blocks,
    /// sender info, SDES chunks, BYE sources or reason).
    #[error("RTCP packet type {packet_type} at offset {offset} needs {needed} body bytes but has {body}")]
    Truncated {
        /// Where the packet starts.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
        /// Body bytes its counts require.
        needed: usize,
        /// Body bytes present.
        body: usize,
    },
    /// More report blocks than the 5-bit count holds were given to a
    /// builder.
    #[error("{0} report blocks do not fit one RTCP report (at most 31)")]
    TooManyReportBlocks(usize),
    /// A CNAME longer than an SDES item's 8-bit length was given to a
    /// builder.
    #[error("CNAME of {0} bytes is longer than the 255 an SDES item holds")]
    CnameTooLong(usize),
}

/// A 64-bit NTP timestamp: seconds since 1900 in the high 32 bits, the
/// fraction of a second in the low 32.
///
/// Built from a wall-clock time the caller passes in (this module never
/// reads a clock). The seconds wrap in 2036 (NTP era 1); RTCP only ever
/// compares nearby values, so wrapping arithmetic is right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The NTP timestamp of a wall-clock time given as time since the Unix
    /// epoch.
    pub fn from_unix(since_unix_epoch: Duration) -> NtpTimestamp {
        let secs = since_unix_epoch
            .as_secs()
            .wrapping_add(NTP_UNIX_OFFSET_SECS);
        let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// Whole seconds since 1900 (mod 2^32).
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Fraction of a second in units of 2^-32 s.
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The middle 32 bits (16.16 fixed-point seconds): the LSR field of a
    /// report block and the clock RTT is computed on.
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// A duration as RTCP's 16.16 fixed-point seconds (the DLSR unit,
/// 1/65536 s), saturating at `u32::MAX` (about 18 hours).
pub fn ntp_short_from_duration(d: Duration) -> u32 {
    let units = d.as_nanos().saturating_mul(65_536) / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// A 16.16 fixed-point seconds value as a duration.
pub fn duration_from_ntp_short(units: u32) -> Duration {
    Duration::from_nanos((u64::from(units) * 1_000_000_000) >> 16)
}

/// Round-trip time in whole milliseconds (rounded down) from a report block
/// about our stream (RFC 3550 §6.4.1): `now - LSR - DLSR`, all in 16.16
/// seconds, `now` being the middle 32 bits of our NTP clock when the
/// report arrived.
///
/// `None` when the peer has no SR of ours yet (LSR 0) or the result would
/// be negative (clock trouble or a corrupted report).
pub fn rtt_ms(now_ntp_middle32: u32, lsr: u32, dlsr: u32) -> Option<u32> {
    if lsr == 0 {
        return None;
    }
    let since_sr = now_ntp_middle32.wrapping_sub(lsr);
    // Past half the range the subtraction wrapped: `now` is before LSR.
    if since_sr > u32::MAX / 2 || dlsr > since_sr {
        return None;
    }
    let rtt = u64::from(since_sr - dlsr);
    Some(((rtt * 1000) >> 16) as u32)
}

/// The sender-info section of an SR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time the report was sent.
    pub ntp: NtpTimestamp,
    /// The same instant in the stream's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// RTP packets sent since the stream started (mod 2^32).
    pub packet_count: u32,
    /// Payload octets sent since the stream started (mod 2^32).
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since reception began (signed 24-bit; duplicates can
    /// make it negative).
    pub cumulative_lost: i32,
    /// Cycles of the sequence number in the high 16 bits, highest sequence
    /// number received in the low 16.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received (0: none).
    pub last_sr: u32,
    /// Delay since that SR arrived, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8; REPORT_BLOCK_BYTES]) -> ReportBlock {
        let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit count through the top of an i32.
        let cumulative_lost = i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8;
        ReportBlock {
            ssrc: w(0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_sequence: w(8),
            jitter: w(12),
            last_sr: w(16),
            delay_since_last_sr: w(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7F_FFFF)
            .to_be_bytes();
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        out.extend_from_slice(&lost[1..]);
        out.extend_from_slice(&self.extended_highest_sequence.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The report blocks of an SR or RR, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    /// How many blocks there are.
    pub fn len(&self) -> usize {
        self.0.len() / REPORT_BLOCK_BYTES
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The blocks, in order.
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.0
            .chunks_exact(REPORT_BLOCK_BYTES)
            .filter_map(|c| <&[u8; REPORT_BLOCK_BYTES]>::try_from(c).ok())
            .map(ReportBlock::parse)
    }
}

/// A sender report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// What it has sent, and when.
    pub info: SenderInfo,
    /// What it has received.
    pub reports: ReportBlocks<'a>,
}

/// A receiver report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// What it has received.
    pub reports: ReportBlocks<'a>,
}

/// One SDES chunk: a source and its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    /// Raw items (type, length, text), up to the null terminator.
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items as (type, value) pairs.
    pub fn items(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.items;
        std::iter::from_fn(move || {
            let (&kind, after) = rest.split_first()?;
            let (&len, after) = after.split_first()?;
            let value = after.get(..usize::from(len))?;
            rest = after.get(usize::from(len)..)?;
            Some((kind, value))
        })
    }

    /// The CNAME item, if the chunk has one.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|&(kind, _)| kind == SDES_CNAME)
            .map(|(_, v)| v)
    }
}

/// A source description packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    count: u8,
    body: &'a [u8],
}

impl<'a> SourceDescription<'a> {
    /// The chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let mut body = self.body;
        let mut left = self.count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let (chunk, end) = sdes_chunk(body)?;
            body = body.get(end..)?;
            Some(chunk)
        })
    }
}

/// Splits the first SDES chunk off `body`: the chunk and the offset of the
/// next one. `None` if the chunk runs past `body`.
fn sdes_chunk(body: &[u8]) -> Option<(SdesChunk<'_>, usize)> {
    let ssrc = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let mut pos = 4;
    loop {
        let kind = *body.get(pos)?;
        if kind == 0 {
            // The null item ends the list; zeros pad it to a 32-bit word.
            let end = (pos + 1).div_ceil(4) * 4;
            if end > body.len() {
                return None;
            }
            let items = body.get(4..pos)?;
            return Some((SdesChunk { ssrc, items }, end));
        }
        let len = usize::from(*body.get(pos + 1)?);
        pos += 2 + len;
        if pos > body.len() {
            return None;
        }
    }
}

/// A goodbye packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goodbye<'a> {
    sources: &'a [u8],
    /// Why the sources left, if given (UTF-8 by the RFC, not checked).
    pub reason: Option<&'a [u8]>,
}

impl<'a> Goodbye<'a> {
    /// The sources leaving.
    pub fn sources(&self) -> impl Iterator<Item = u32> + 'a {
        self.sources
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }
}

/// One packet of a compound RTCP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR (200).
    SenderReport(SenderReport<'a>),
    /// RR (201).
    ReceiverReport(ReceiverReport<'a>),
    /// SDES (202).
    SourceDescription(SourceDescription<'a>),
    /// BYE (203).
    Goodbye(Goodbye<'a>),
    /// APP (204) or a type this module does not interpret.
    Other {
        /// The packet type.
        packet_type: u8,
        /// The 5-bit count/subtype field.
        count: u8,
        /// The body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

/// A validated compound RTCP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    bytes: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Checks every packet of a datagram. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<RtcpCompound<'a>, RtcpError> {
        if bytes.is_empty() {
            return Err(RtcpError::Empty);
        }
        let mut offset = 0;
        while offset < bytes.len() {
            let (_, next) = parse_one(bytes, offset)?;
            offset = next;
        }
        Ok(RtcpCompound { bytes })
    }

    /// The packets, in order.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        let bytes = self.bytes;
        let mut offset = 0;
        std::iter::from_fn(move || {
            // `parse` already accepted every packet, so this cannot fail;
            // stopping is the safe answer if it somehow did.
            let (packet, next) = parse_one(bytes, offset).ok()?;
            offset = next;
            Some(packet)
        })
    }
}

/// Parses the packet at `offset`; returns it and the next packet's offset.
fn parse_one(bytes: &[u8], offset: usize) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let rest = bytes.get(offset..).unwrap_or_default();
    let [b0, packet_type, l0, l1, ..] = *rest else {
        return Err(RtcpError::TooShort {
            offset,
            len: rest.len(),
        });
    };
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion { offset, version });
    }
    let declared = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
    let Some(packet) = rest.get(..declared) else {
        return Err(RtcpError::LengthOverrun {
            offset,
            packet_type,
            declared,
            available: rest.len(),
        });
    };
    let mut body = packet.get(HEADER_BYTES..).unwrap_or_default();
    if b0 & 0x20 != 0 {
        let padding = body.last().copied().unwrap_or(0);
        if padding == 0 || usize::from(padding) > body.len() {
            return Err(RtcpError::BadPadding {
                offset,
                padding,
                body: body.len(),
            });
        }
        body = &body[..body.len() - usize::from(padding)];
    }
    let count = b0 & 0x1F;
    let truncated = |needed: usize| RtcpError::Truncated {
        offset,
        packet_type,
        needed,
        body: body.len(),
    };
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    let blocks = REPORT_BLOCK_BYTES * usize::from(count);
    let parsed = match packet_type {
        PT_SR => {
            let start = 4 + SENDER_INFO_BYTES;
            // Profile-specific extensions after the blocks are ignored.
            let reports = body
                .get(start..start + blocks)
                .ok_or(truncated(start + blocks))?;
            let (Some(ssrc), Some(hi), Some(lo), Some(rtp), Some(pc), Some(oc)) =
                (word(0), word(4), word(8), word(12), word(16), word(20))
            else {
                return Err(truncated(start + blocks));
            };
            RtcpPacket::SenderReport(SenderReport {
                ssrc,
                info: SenderInfo {
                    ntp: NtpTimestamp((u64::from(hi) << 32) | u64::from(lo)),
                    rtp_timestamp: rtp,
                    packet_count: pc,
                    octet_count: oc,
                },
                reports: ReportBlocks(reports),
            })
        }
        PT_RR => {
            let reports = body.get(4..4 + blocks).ok_or(truncated(4 + blocks))?;
            let ssrc = word(0).ok_or(truncated(4 + blocks))?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc,
                reports: ReportBlocks(reports),
            })
        }
        PT_SDES => {
            let mut pos = 0;
            for _ in 0..count {
                let chunk_body = body.get(pos..).unwrap_or_default();
                // The exact need is unknown until the chunk parses; at
                // least one more byte than is there.
                let (_, end) = sdes_chunk(chunk_body).ok_or(truncated(body.len() + 1))?;
                pos += end;
            }
            RtcpPacket::SourceDescription(SourceDescription { count, body })
        }
        PT_BYE => {
            let list = 4 * usize::from(count);
            let sources = body.get(..list).ok_or(truncated(list))?;
            let reason = match body.get(list) {
                Some(&len) => {
                    let needed = list + 1 + usize::from(len);
                    Some(body.get(list + 1..needed).ok_or(truncated(needed))?)
                }
                None => None,
            };
            RtcpPacket::Goodbye(Goodbye { sources, reason })
        }
        _ => RtcpPacket::Other {
            packet_type,
            count,
            body,
        },
    };
    Ok((parsed, offset + declared))
}

/// Appends the 4-byte header with a zero length, returning where it
/// starts so [`finish_packet`] can fill the length in.
fn start_packet(out: &mut Vec<u8>, count: u8, packet_type: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[(2 << 6) | (count & 0x1F), packet_type, 0, 0]);
    start
}

/// Sets the length field of the packet at `start` from what follows it.
fn finish_packet(out: &mut [u8], start: usize) {
    let words = (out.len() - start) / 4 - 1;
    // Packets built here are at most a few hundred bytes.
    let words = u16::try_from(words).unwrap_or(u16::MAX).to_be_bytes();
    out[start + 2] = words[0];
    out[start + 3] = words[1];
}

fn check_report_inputs(blocks: &[ReportBlock], cname: &[u8]) -> Result<(), RtcpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooManyReportBlocks(blocks.len()));
    }
    if cname.len() > usize::from(u8::MAX) {
        return Err(RtcpError::CnameTooLong(cname.len()));
    }
    Ok(())
}

fn append_sdes_cname(ssrc: u32, cname: &[u8], out: &mut Vec<u8>) {
    let start = start_packet(out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    // Checked by `check_report_inputs`.
    out.push(u8::try_from(cname.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(cname);
    // At least one null octet ends the item list, then pad to a word.
    out.push(0);
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    finish_packet(out, start);
}

/// Replaces the contents of `out` with a compound SR + SDES(CNAME) packet.
pub fn write_sender_report(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    cname: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RtcpError> {
    check_report_inputs(blocks, cname)?;
    out.clear();
    let start = start_packet(out, blocks.len() as u8, PT_SR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.0.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    finish_packet(out, start);
    append_sdes_cname(ssrc, cname, out);
    Ok(())
}

/// Replaces the contents of `out` with a compound RR + SDES(CNAME) packet
/// (for when we have sent no RTP since the last report).
pub fn write_receiver_report(
    ssrc: u32,
    blocks: &[ReportBlock],
    cname: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RtcpError> {
    check_report_inputs(blocks, cname)?;
    out.clear();
    let start = start_packet(out, blocks.len() as u8, PT_RR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    finish_packet(out, start);
    append_sdes_cname(ssrc, cname, out);
    Ok(())
}

/// Appends a BYE for `ssrc` to a compound packet already in `out` (RFC 3550
/// §6.6: a BYE still goes after an SR/RR and SDES).
pub fn append_bye(ssrc: u32, out: &mut Vec<u8>) {
    let start = start_packet(out, 1, PT_BYE);
    out.extend_from_slice(&ssrc.to_be_bytes());
    finish_packet(out, start);
}
