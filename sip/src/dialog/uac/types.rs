//! The value types of the UAC call's API: its configuration, the events it
//! reports, why a call ended, and the module's error.

use std::net::SocketAddr;

use crate::auth::{AuthError, ClientCredentials};
use crate::dialog::DialogError;
use crate::message::{MessageError, Method, Uri};
use crate::transaction::{TimerConfig, Transport, TxError};

/// Everything needed to place one outbound call.
///
/// The crate owns no random source: `call_id` and `local_tag` must be fresh
/// random text from the caller (at least 64 bits each). Branches and
/// cnonces are derived from `local_tag` and a counter, so they are unique
/// as long as the tag is.
#[derive(Clone, Debug)]
pub struct UacConfig {
    /// The Request-URI of the INVITE (the rep's phone, or the trunk's
    /// `sip:+1555…@carrier`).
    pub target: Uri,
    /// The URI of the To header; `None` means the same as `target`.
    pub to: Option<Uri>,
    /// Our address of record (the From URI), e.g. `sip:+15550001111@us`.
    pub from: Uri,
    /// From display name, e.g. the caller's number or name.
    pub from_display: Option<String>,
    /// Call-ID (random, from the caller).
    pub call_id: String,
    /// Our From tag (random, from the caller).
    pub local_tag: String,
    /// Our Contact: where the far side sends in-dialog requests.
    pub contact: Uri,
    /// Our Via sent-by, `host:port`.
    pub sent_by: String,
    /// Where the INVITE goes (the phone, the trunk or an outbound proxy),
    /// already resolved by the shell. In-dialog requests go to the next
    /// hop of the dialog when its host is an IP address, else here too.
    pub peer: SocketAddr,
    /// How the INVITE travels.
    pub transport: Transport,
    /// Whether in-dialog requests (ACK for a 2xx, BYE, re-INVITE) go to
    /// `peer` over `transport` too, whatever the dialog's next hop says:
    /// `peer` is then an outbound proxy kept for the whole call (RFC 3261
    /// §8.1.2). The shell sets it when `peer` is the only hop it can reach
    /// safely, such as a TLS trunk whose certificate name it knows: the
    /// far side's Contact is an address with no name to verify.
    pub every_request_to_peer: bool,
    /// The Via transport name: `UDP`, `TCP` or `TLS`.
    pub via_transport: String,
    /// The SDP offer (`application/sdp`); empty means no offer (the offer
    /// then comes in the 2xx, which this module does not answer: avoid).
    pub sdp: Vec<u8>,
    /// Extra headers for the INVITE, in order (`X-Warmline-Call-Id`,
    /// `X-Warmline-Card`, `P-Asserted-Identity`, …).
    pub headers: Vec<(String, String)>,
    /// Credentials for a digest challenge (401/407); `None` fails the
    /// call on a challenge.
    pub credentials: Option<ClientCredentials>,
    /// Transaction timers.
    pub timers: TimerConfig,
}

/// What the call reports to its owner, oldest first from
/// [`UacCall::poll_event`](super::UacCall::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UacEvent {
    /// A provisional response other than 100: 180 Ringing, 183 Session
    /// Progress (whose SDP, if any, is early media).
    Provisional {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The SDP body, if the response carried one.
        sdp: Option<Vec<u8>>,
    },
    /// A 2xx to the INVITE: the dialog is established and ACKed.
    Answered {
        /// The SDP answer (empty if the 2xx carried none).
        sdp: Vec<u8>,
    },
    /// Our re-INVITE was accepted (and ACKed).
    ReinviteAnswered {
        /// The SDP answer.
        sdp: Vec<u8>,
    },
    /// Our re-INVITE was refused; the session is unchanged (RFC 3261
    /// §14.1). On 491 try again later.
    ReinviteRejected {
        /// The status code.
        status: u16,
    },
    /// The far side sent a re-INVITE (a session refresh, hold, new media):
    /// answer it with `accept_reinvite` or `reject_reinvite`. An empty
    /// `sdp` means it asks for our offer.
    ReinviteReceived {
        /// Its SDP offer, or empty.
        sdp: Vec<u8>,
    },
    /// The ACK for our 2xx to an offerless re-INVITE carried the far
    /// side's answer.
    ReinviteAcked {
        /// The SDP answer.
        sdp: Vec<u8>,
    },
    /// The call is over; nothing more will be reported.
    Ended(EndReason),
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The far side refused the INVITE with this final response.
    Rejected {
        /// The status code (486 busy, 603 decline, 404, …).
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// We cancelled before an answer (or the answer raced the CANCEL and
    /// was ACKed and hung up).
    Cancelled,
    /// We hung up with [`UacCall::bye`](super::UacCall::bye).
    LocalBye,
    /// The far side hung up (its BYE was answered 200).
    RemoteBye,
    /// Something failed; the error says what.
    Failed(UacError),
}

/// Why a UAC call could not do something, or why it failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UacError {
    /// A request could not be built: a configured value (display name,
    /// extra header, URI) holds something a header cannot carry. Fix the
    /// configuration.
    #[error("cannot build the request: {0}")]
    Message(#[from] MessageError),
    /// The transaction layer refused the request or the message.
    #[error("transaction layer: {0}")]
    Transaction(#[from] TxError),
    /// A challenge could not be answered (unsupported algorithm or qop,
    /// unusable credentials).
    #[error("cannot answer the digest challenge: {0}")]
    Auth(#[from] AuthError),
    /// The peer challenged us and no credentials are configured: set them,
    /// or have the trunk accept us by IP.
    #[error("{status} challenge to {method} and no credentials are configured")]
    NoCredentials {
        /// 401 or 407.
        status: u16,
        /// The challenged method.
        method: Method,
    },
    /// Our answer to a fresh challenge was refused: the user name or
    /// password is wrong (or the account may not call). Check them.
    #[error("{status} again after answering the challenge to {method}: credentials rejected")]
    CredentialsRejected {
        /// 401 or 407.
        status: u16,
        /// The method.
        method: Method,
    },
    /// The server kept calling its nonces stale; its clock or nonce
    /// lifetime is broken.
    #[error("the server keeps answering {method} with stale nonces")]
    StaleNonces {
        /// The method.
        method: Method,
    },
    /// No final response came in time (Timer B or F, or the §9.1 guard
    /// after CANCEL): the peer is unreachable or silent. Check the
    /// address, the transport and the firewall.
    #[error("no final response to {method} in time (peer unreachable or silent)")]
    Timeout {
        /// The method.
        method: Method,
    },
    /// The shell reported that a message of this request could not be
    /// delivered (TCP connect failed, connection broke).
    #[error("{method} could not be delivered (transport error)")]
    TransportFailed {
        /// The method.
        method: Method,
    },
    /// A response we cannot use: a 2xx without To tag or Contact, a
    /// missing header. The peer is broken; the message was not acted on.
    #[error("unusable response: {0}")]
    BadResponse(String),
    /// The far side's in-dialog request breaks the dialog's rules (a CSeq
    /// that does not rise); it was answered 500.
    #[error("request refused: {0}")]
    Dialog(#[from] DialogError),
    /// The far side answered our re-INVITE with 408 or 481: it no longer
    /// has the dialog (RFC 3261 §12.2.1.2), so we ended it with BYE.
    #[error("{status} to our re-INVITE: the far side lost the dialog")]
    DialogGone {
        /// 408 or 481.
        status: u16,
    },
    /// The message carries another Call-ID: the shell routed it to the
    /// wrong call.
    #[error("message belongs to another call (Call-ID {0:?})")]
    NotThisCall(String),
    /// `bye` or `reinvite` before the answer: use `cancel`.
    #[error("the call is not answered yet; use cancel()")]
    NotEstablished,
    /// `cancel` after the answer: use `bye`.
    #[error("the call is already answered; use bye()")]
    AlreadyAnswered,
    /// A re-INVITE is still in progress (RFC 3261 §14.1 allows one at a
    /// time): wait for its outcome event.
    #[error("a re-INVITE is already in progress")]
    ReinvitePending,
    /// `accept_reinvite` or `reject_reinvite` with no far-side re-INVITE
    /// waiting for an answer.
    #[error("no re-INVITE from the far side is waiting for an answer")]
    NoReinviteToAnswer,
    /// The far side never ACKed our 2xx to its re-INVITE (64·T1); the
    /// dialog was ended with BYE. Its network path to our Contact is
    /// probably broken (NAT, firewall).
    #[error("no ACK for our 2xx to the far side's re-INVITE")]
    NoAck,
    /// The call has ended or is hanging up: nothing more can be sent.
    #[error("the call has ended")]
    Ended,
}
