//! Sans-IO SIP for warmline.
//!
//! This crate owns the protocol logic of warmline's SIP user agent (a
//! trunk-facing UAS, the UAC of a B2BUA's outbound legs, a registrar) and
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
//! - [`registrar`]: a REGISTER server (RFC 3261 §10): digest, expiry, caps.
//! - [`refer`]: REFER and its NOTIFYs (RFC 3515, RFC 3420 sipfrag), both sides.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod refer;
pub mod registrar;
pub mod sdp;
pub mod transaction;
