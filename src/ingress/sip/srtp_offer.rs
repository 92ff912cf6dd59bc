//! The glue between a trunk's `srtp` setting, SDES offer/answer in
//! `warmline-sip` and the call's SRTP keys: draws our key, decodes the
//! peer's.

use warmline_sip::sdp::{LocalSrtp, Negotiated, SrtpPolicy};

use super::srtp::{new_inline_key, SdesKeys};
use crate::config::SrtpMode;
use crate::random::{RandomError, RandomSource};

/// Our SDES side for a trunk's `srtp` mode: a fresh key per call, or none
/// when SRTP is off.
pub fn local_srtp(
    mode: SrtpMode,
    random: &dyn RandomSource,
) -> Result<Option<LocalSrtp>, RandomError> {
    let policy = match mode {
        SrtpMode::Off => return Ok(None),
        SrtpMode::Optional => SrtpPolicy::Optional,
        SrtpMode::Required => SrtpPolicy::Required,
    };
    Ok(Some(LocalSrtp {
        policy,
        inline_key: new_inline_key(random)?,
    }))
}

/// The call's SRTP keys from what was negotiated; `Err` with the 488
/// reason when the peer's key is not 30 bytes of base64.
pub fn keys(negotiated: &Negotiated) -> Result<Option<SdesKeys>, &'static str> {
    let Some(srtp) = &negotiated.srtp else {
        return Ok(None);
    };
    SdesKeys::from_inline(&srtp.local_inline_key, &srtp.remote_inline_key)
        .map(Some)
        .ok_or("the a=crypto key is not 30 bytes of base64 (AES_CM_128 master key and salt)")
}
