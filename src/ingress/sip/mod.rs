//! SIP trunk ingress: the tokio shell around the sans-IO `warmline-sip`
//! crate, and RTP media for each call.

pub mod leg;
pub mod ports;
pub mod rtp_session;
