//! Ingress: adapters from each transport to the call's caller-leg trait.
//!
//! Each transport's protocol logic (message codecs, signature checks) is
//! sans-IO here; the async shells that own sockets live beside it.

pub mod sip;
pub mod twilio;
pub mod webrtc;

/// The ingress names metrics and logs use.
pub const NAMES: [&str; 3] = ["twilio", "sip", "webrtc"];
