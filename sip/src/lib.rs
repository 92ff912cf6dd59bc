//! Sans-IO SIP for warmline.
//!
//! This crate owns the protocol logic of a trunk-facing SIP user agent and
//! nothing else: it never opens a socket and never reads a clock. Callers
//! feed it bytes and the current time, and it hands back what to send and
//! when it next wants to be woken. The tokio shell in warmline's
//! `ingress::sip` drives it.
//!
//! - [`message`]: RFC 3261 messages, parsed and serialised with hard limits.
//! - [`sdp`]: SDP (RFC 8866) and offer/answer for audio (RFC 3264).
//! - [`auth`]: digest authentication (RFC 2617/7616/8760), both sides.
//! - [`transaction`]: client and server transactions (RFC 3261 §17, RFC
//!   6026): matching, retransmission and timers.
//! - [`dialog`]: UAS and UAC dialogs: 2xx retransmission, RFC 4028 session
//!   timers, and outbound calls ([`dialog::uac`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod sdp;
pub mod transaction;
