//! Tests for the SDP module, split by area. The real-world bodies live in
//! `sip/fuzz/corpus/sdp/` so the fuzz seeds are checked by these tests.

mod negotiate;
mod parse;
mod reoffer;
mod robustness;
mod srtp;

use super::SessionDescription;

/// The carrier offer from protocols.md §3.7.
pub(super) const CARRIER_OFFER: &str = include_str!("../../fuzz/corpus/sdp/carrier_offer.sdp");
/// FreeSWITCH offering opus, G722, G.711, GSM, CN and two telephone-events.
pub(super) const FREESWITCH_OFFER: &str =
    include_str!("../../fuzz/corpus/sdp/freeswitch_offer.sdp");
/// An SBC offering over IPv6 with telephone-event on PT 96 and ptime 30.
pub(super) const IPV6_OFFER: &str = include_str!("../../fuzz/corpus/sdp/ipv6_offer.sdp");
/// Audio plus video, with every optional session-level line type.
pub(super) const VIDEO_OFFER: &str = include_str!("../../fuzz/corpus/sdp/video_offer.sdp");
/// LF-only, session-level recvonly, media-level c= and a=rtcp with address.
pub(super) const RTCP_OFFER: &str = include_str!("../../fuzz/corpus/sdp/rtcp_offer.sdp");
/// RFC 2543 hold: c=0.0.0.0.
pub(super) const HOLD_LEGACY_OFFER: &str =
    include_str!("../../fuzz/corpus/sdp/hold_legacy_offer.sdp");

/// Every valid fixture.
pub(super) const VALID: &[&str] = &[
    CARRIER_OFFER,
    FREESWITCH_OFFER,
    IPV6_OFFER,
    VIDEO_OFFER,
    RTCP_OFFER,
    HOLD_LEGACY_OFFER,
];

/// Parses a test SDP.
pub(super) fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).unwrap()
}
