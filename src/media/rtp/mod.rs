//! RTP and RTCP on the wire (RFC 3550), for the SIP leg's media.
//!
//! This module owns the bytes: parsing RTP datagrams into borrowing views
//! ([`RtpPacketView`], which converts straight into the jitter buffer's
//! [`RtpPacket`](crate::media::jitter::RtpPacket)), writing RTP into reused
//! buffers, parsing and building compound RTCP, the rtcp-mux demux check,
//! and the statistics RTCP reports carry ([`ReceiverStats`],
//! [`SenderStats`]).
//!
//! It never does I/O, never reads a clock (arrival times and `now` are
//! arguments; NTP times come from the caller's wall clock), never panics on
//! any input, and never allocates per packet: parsing borrows from the
//! datagram and writing fills a caller's buffer that is reused.
//!
//! How the SIP shell uses it, per received datagram on the RTP port:
//! 1. [`is_rtcp`] when rtcp-mux is negotiated; RTCP goes to
//!    [`RtcpCompound::parse`], whose SRs feed
//!    [`ReceiverStats::on_sender_report`] and whose report blocks about our
//!    SSRC give loss, jitter and [`rtt_ms`].
//! 2. RTP goes to [`RtpPacketView::parse`], then *every* packet of the
//!    stream to [`ReceiverStats::on_packet`]: audio then to the jitter
//!    buffer; telephone events (the negotiated dynamic PT) around it, to the
//!    DTMF receiver, but still through the statistics, because they share
//!    the audio's sequence numbers.
//! 3. Every ~5 s, [`write_sender_report`] (or [`write_receiver_report`]
//!    while we send nothing) with [`ReceiverStats::make_report_block`].

mod packet;
mod rtcp;
mod stats;
#[cfg(test)]
mod tests;

pub use packet::{
    is_rtcp, write_rtp, RtpError, RtpExtension, RtpHeader, RtpPacketView, RTP_HEADER_BYTES,
    RTP_VERSION,
};
pub use rtcp::{
    append_bye, duration_from_ntp_short, ntp_short_from_duration, rtt_ms, write_receiver_report,
    write_sender_report, Goodbye, NtpTimestamp, ReceiverReport, ReportBlock, ReportBlocks,
    RtcpCompound, RtcpError, RtcpPacket, SdesChunk, SenderInfo, SenderReport, SourceDescription,
    MAX_REPORT_BLOCKS, PT_APP, PT_BYE, PT_RR, PT_SDES, PT_SR, REPORT_BLOCK_BYTES, SDES_CNAME,
};
pub use stats::{PacketKind, ReceiverStats, SenderStats, SeqStatus};
