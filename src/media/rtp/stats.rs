//! Reception and transmission statistics for RTCP reports (RFC 3550
//! Appendix A.1, A.3 and A.8).
//!
//! [`ReceiverStats`] follows one remote source: sequence validation with
//! probation and restart detection (A.1), expected/lost counts and the
//! per-interval fraction lost (A.3), interarrival jitter (A.8, the integer
//! form), and the LSR/DLSR pair from the last SR the source sent.
//! [`SenderStats`] counts what we send, for our SRs.
//!
//! Time is always an argument: arrival times and `now` are [`Duration`]s
//! on the call's monotonic clock; only NTP values (already converted by the
//! caller from its wall clock) appear in the RTCP fields.
//!
//! Telephone events (RFC 4733) share the audio stream's SSRC and sequence
//! space, so they must be fed here too ([`PacketKind::TelephoneEvent`]) or
//! every digit would read as loss. The SIP shell routes them *around* the
//! jitter buffer (to the DTMF receiver) but *through* these statistics.
//! They are left out of the jitter estimate: every packet of an event
//! repeats the event's start timestamp, which would look like 20 ms of
//! extra delay per packet.

use std::time::Duration;

use super::packet::RtpHeader;
use super::rtcp::{ntp_short_from_duration, NtpTimestamp, ReportBlock, SenderInfo};

const SEQ_MOD: u32 = 1 << 16;
/// A forward jump smaller than this is loss, not a restart (A.1).
const MAX_DROPOUT: u16 = 3000;
/// A backward step this small is reordering, not a restart (A.1).
const MAX_MISORDER: u32 = 100;
/// Sequential packets needed before a new source is believed (A.1).
const MIN_SEQUENTIAL: u32 = 2;

/// What a packet carries, for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// Audio: counted and used for the jitter estimate.
    Audio,
    /// An RFC 4733 telephone event: counted in the sequence space, left
    /// out of jitter (its timestamp is the event start, not the sample
    /// time).
    TelephoneEvent,
}

/// How the sequence check (RFC 3550 A.1) treated a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqStatus {
    /// Counted as received (in order, after a gap, reordered or duplicate).
    Counted,
    /// The source is new (first packet, or a new SSRC) and not yet
    /// validated by two sequential packets; not counted.
    Probation,
    /// A jump too large for loss; ignored unless the next packet follows
    /// it, which would mean the sender restarted.
    Ignored,
    /// The packet followed an ignored jump: statistics restarted from it,
    /// and it is counted.
    Restarted,
}

#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    /// Count of sequence wraps, shifted left by 16.
    cycles: u32,
    base_seq: u32,
    /// The sequence number that would confirm a restart (`SEQ_MOD + 1`:
    /// none).
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Arrival minus RTP timestamp of the previous audio packet.
    transit: Option<u32>,
    /// Jitter estimate scaled by 16 (A.8 integer form).
    jitter_q4: u64,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Source {
        let mut s = Source {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        // A restarted sender starts a new timestamp timeline too.
        self.transit = None;
    }

    /// RFC 3550 A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SeqStatus {
        let udelta = seq.wrapping_sub(self.max_seq);
        let mut status = SeqStatus::Counted;
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqStatus::Counted;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqStatus::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - MAX_MISORDER {
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
                status = SeqStatus::Restarted;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return SeqStatus::Ignored;
            }
        }
        // Otherwise a duplicate or reordered packet: counted as received,
        // which is why cumulative loss can go negative.
        self.received = self.received.wrapping_add(1);
        status
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }
}

/// The last SR heard from the remote side.
#[derive(Clone, Copy, Debug)]
struct LastSr {
    ssrc: u32,
    middle32: u32,
    arrival: Duration,
}

/// Reception statistics for the remote source of one call leg.
///
/// One source at a time: a packet with a new SSRC (carriers switch after
/// re-INVITEs and transfers) starts over with a new source on probation,
/// because report blocks are per SSRC.
#[derive(Clone, Debug)]
pub struct ReceiverStats {
    clock_rate: u32,
    source: Option<Source>,
    last_sr: Option<LastSr>,
}

impl ReceiverStats {
    /// Statistics for a stream with RTP clock `clock_rate` Hz (8000 for
    /// G.711 and telephone-event). A zero rate is treated as 8000.
    pub fn new(clock_rate: u32) -> ReceiverStats {
        ReceiverStats {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            source: None,
            last_sr: None,
        }
    }

    /// Takes one RTP packet of the stream that arrived at `arrival`.
    pub fn on_packet(
        &mut self,
        header: &RtpHeader,
        kind: PacketKind,
        arrival: Duration,
    ) -> SeqStatus {
        let source = match &mut self.source {
            Some(s) if s.ssrc == header.ssrc => s,
            other => other.insert(Source::new(header.ssrc, header.sequence)),
        };
        let status = source.update_seq(header.sequence);
        let counted = matches!(status, SeqStatus::Counted | SeqStatus::Restarted);
        if counted && kind == PacketKind::Audio {
            let arrival_ts = arrival_in_ts_units(arrival, self.clock_rate);
            let transit = arrival_ts.wrapping_sub(header.timestamp);
            if let Some(prev) = source.transit {
                // A.8: J += (|D| - J) / 16, kept scaled by 16 so the
                // division is exact in integers.
                let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
                source.jitter_q4 = source.jitter_q4 + d - ((source.jitter_q4 + 8) >> 4);
            }
            source.transit = Some(transit);
        }
        status
    }

    /// Records an SR from the remote side that arrived at `arrival`, for the
    /// LSR/DLSR fields of our next report.
    pub fn on_sender_report(&mut self, ssrc: u32, ntp: NtpTimestamp, arrival: Duration) {
        self.last_sr = Some(LastSr {
            ssrc,
            middle32: ntp.middle32(),
            arrival,
        });
    }

    /// The SSRC being followed, if any packet has arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.source.map(|s| s.ssrc)
    }

    /// Whether the source has passed probation.
    pub fn is_valid(&self) -> bool {
        self.source.is_some_and(|s| s.probation == 0)
    }

    /// Packets counted as received (duplicates included, as in A.3).
    pub fn received(&self) -> u32 {
        self.valid_source().map_or(0, |s| s.received)
    }

    /// Packets expected: highest extended sequence minus the first, plus 1.
    pub fn expected(&self) -> u32 {
        self.valid_source().map_or(0, Source::expected)
    }

    /// Expected minus received, unclamped.
    pub fn cumulative_lost(&self) -> i64 {
        self.valid_source().map_or(0, Source::cumulative_lost)
    }

    /// Wrap cycles in the high 16 bits, highest sequence in the low 16.
    pub fn extended_highest_sequence(&self) -> u32 {
        self.valid_source().map_or(0, Source::extended_max)
    }

    /// Interarrival jitter in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.valid_source()
            .map_or(0, |s| u32::try_from(s.jitter_q4 >> 4).unwrap_or(u32::MAX))
    }

    fn valid_source(&self) -> Option<&Source> {
        self.source.as_ref().filter(|s| s.probation == 0)
    }

    /// The report block about the source for a report sent at `now`, and
    /// the start of a new interval for the fraction lost (A.3). `None`
    /// while no source has passed probation: there is nothing to report.
    pub fn make_report_block(&mut self, now: Duration) -> Option<ReportBlock> {
        let last_sr = self.last_sr;
        let source = self.source.as_mut().filter(|s| s.probation == 0)?;
        let expected = source.expected();
        let expected_interval = expected.wrapping_sub(source.expected_prior);
        source.expected_prior = expected;
        let received_interval = source.received.wrapping_sub(source.received_prior);
        source.received_prior = source.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so this is at most 256;
            // 256 only if nothing arrived, which cannot happen while
            // expected grew, but clamp rather than wrap to 0.
            u8::try_from((lost_interval << 8) / i64::from(expected_interval)).unwrap_or(u8::MAX)
        };
        let (lsr, dlsr) = match last_sr {
            Some(sr) if sr.ssrc == source.ssrc => (
                sr.middle32,
                ntp_short_from_duration(now.saturating_sub(sr.arrival)),
            ),
            _ => (0, 0),
        };
        Some(ReportBlock {
            ssrc: source.ssrc,
            fraction_lost,
            cumulative_lost: source.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_sequence: source.extended_max(),
            jitter: u32::try_from(source.jitter_q4 >> 4).unwrap_or(u32::MAX),
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        })
    }
}

/// Converts an arrival time to RTP timestamp units (mod 2^32); only
/// differences of these are used.
fn arrival_in_ts_units(arrival: Duration, clock_rate: u32) -> u32 {
    (arrival.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}

/// What we have sent, for the sender info of our SRs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    packets: u32,
    octets: u32,
}

impl SenderStats {
    /// Nothing sent yet.
    pub fn new() -> SenderStats {
        SenderStats::default()
    }

    /// Counts one sent RTP packet with `payload_len` payload bytes (header
    /// and padding excluded, as RFC 3550 §6.4.1 says).
    pub fn on_sent(&mut self, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
    }

    /// Packets sent (mod 2^32).
    pub fn packet_count(&self) -> u32 {
        self.packets
    }

    /// Payload octets sent (mod 2^32).
    pub fn octet_count(&self) -> u32 {
        self.octets
    }

    /// Whether anything has been sent: an SR if so, an RR otherwise.
    pub fn has_sent(&self) -> bool {
        self.packets > 0
    }

    /// The sender info for an SR stamped `ntp` (our wall clock) and
    /// `rtp_timestamp` (the same instant on the stream's media clock).
    pub fn sender_info(&self, ntp: NtpTimestamp, rtp_timestamp: u32) -> SenderInfo {
        SenderInfo {
            ntp,
            rtp_timestamp,
            packet_count: self.packets,
            octet_count: self.octets,
        }
    }
}
