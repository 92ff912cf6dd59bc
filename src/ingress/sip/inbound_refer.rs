//! An in-dialog REFER from a trunk: the caller's side asking us to send
//! the call somewhere else (RFC 3515). That is a toll-fraud door — whoever
//! controls the trunk's signalling could have us dial anywhere at our
//! cost — so it is refused with `403` unless `[sip] allow_inbound_refer`
//! is set, and each one is logged with the call as a possible attempt.
//!
//! Following a REFER (202, the new call, NOTIFYs) is not built: with
//! `allow_inbound_refer = true` a well-formed REFER gets
//! `501 Not Implemented`, which says so honestly instead of accepting a
//! transfer that will never happen (decision 0032). A malformed one gets
//! the status [`IncomingRefer::parse`] gives (400) either way.

use warmline_sip::message::Request;
use warmline_sip::refer::IncomingRefer;
use warmline_sip::transaction::ServerTxId;

use super::endpoint::Endpoint;

/// Answers a REFER received in call `key`'s dialog.
pub(super) fn on_refer(endpoint: &mut Endpoint, id: ServerTxId, request: &Request, key: &str) {
    let peer = endpoint.calls.get(key).map(|c| c.peer.0);
    let refer = match IncomingRefer::parse(request) {
        Ok(refer) => refer,
        Err(e) => {
            tracing::info!(call = %key, ?peer, error = %e, "malformed REFER refused");
            endpoint.reply(id, request, e.status(), &[]);
            return;
        }
    };
    let target = refer.refer_to.to_string();
    if !endpoint.service.config.allow_inbound_refer {
        crate::refusals::refused(
            "sip",
            "inbound_refer",
            "REFER from a trunk refused with 403: a possible toll-fraud attempt (sip.allow_inbound_refer is off)",
            &format_args!("call {key}, Refer-To {target:.120}, from {peer:?}"),
        );
        endpoint.reply(id, request, 403, &[]);
        return;
    }
    tracing::warn!(
        call = %key,
        ?peer,
        refer_to = %format_args!("{target:.120}"),
        "REFER from a trunk answered 501: following a REFER is not implemented"
    );
    endpoint.reply(id, request, 501, &[]);
}
