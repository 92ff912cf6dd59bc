//! SDP (RFC 8866) and offer/answer for audio (RFC 3264).
//!
//! This module owns everything about session descriptions that the SIP
//! layer needs, and nothing about transport or media:
//!
//! - [`SessionDescription`] and friends: a lossless model of an SDP body.
//!   [`SessionDescription::parse`] is strict about structure and hard limits
//!   (it is fed by whoever can reach our SIP port) and its `Display` writes
//!   RFC order with CRLF line endings.
//! - [`Codec`]: the audio codecs we know by name and static payload type.
//! - [`answer`], [`offer`] and [`accept_answer`]: RFC 3264 negotiation for
//!   one audio stream, producing a [`Negotiated`] that the media engine can
//!   act on (codec, payload types, remote RTP/RTCP address, ptime, direction).
//! - [`classify_reoffer`]: drachtio's refresh/hold/resume/modify test for
//!   re-INVITEs (see protocols.md §3.8), and [`answer_reoffer`], which
//!   answers them with the right `o=` version.
//!
//! The SIP layer maps [`NegotiationError`] to `488 Not Acceptable Here` and
//! [`SdpError`] to `400 Bad Request`.

mod attr;
mod codec;
mod crypto;
mod model;
mod negotiate;
mod parse;
mod reoffer;

#[cfg(test)]
mod tests;

pub use attr::{Direction, Rtcp, Rtpmap};
pub use codec::{Codec, PayloadFormat};
pub use crypto::{Crypto, LocalSrtp, SrtpKeys, SrtpPolicy, AES_CM_128_HMAC_SHA1_80};
pub use model::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription, Timing,
};
pub use negotiate::{accept_answer, answer, offer, LocalMedia, Negotiated, NegotiationError};
pub use parse::{SdpError, MAX_BODY_BYTES, MAX_LINES, MAX_LINE_BYTES};
pub use reoffer::{answer_reoffer, classify_reoffer, ReofferKind};
