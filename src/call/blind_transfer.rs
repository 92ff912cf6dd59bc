//! Blind transfer of the caller (decision 0033): the generic request a
//! call's handle carries to its caller leg, and the outcome that comes
//! back. `call` knows neither SIP nor Twilio: the target is already
//! resolved from configuration (a number or a URI), and each ingress
//! says what happened in these words. The SIP leg sends a REFER; a leg
//! that cannot hand its caller elsewhere answers
//! [`TransferOutcome::NotSupported`].

use tokio::sync::oneshot;

/// Where the caller goes, resolved from `[[transfer_targets]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferDestination {
    /// An E.164 number (`+14155550100`).
    Number(String),
    /// A SIP URI (`sip:desk@pbx.example.com`).
    Uri(String),
}

/// A configured target: its name (what the model said) and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferTarget {
    /// The `[[transfer_targets]]` name.
    pub name: String,
    /// The number or URI.
    pub destination: TransferDestination,
}

/// How a blind transfer ended, as the tool reports it to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The caller reached the target (or the provider took the call
    /// there); our leg is ending.
    Transferred {
        /// What the transport said (`200 OK in the NOTIFY`).
        detail: String,
    },
    /// The attempt failed; the call stays with the agent.
    Failed {
        /// What went wrong, for the model to tell the caller.
        reason: String,
    },
    /// The far end does not do transfers (a trunk that refuses REFER);
    /// the call stays with the agent.
    Refused {
        /// What the far end answered.
        reason: String,
    },
    /// This kind of call cannot be handed elsewhere.
    NotSupported {
        /// Why.
        reason: String,
    },
}

/// Where a leg answers a transfer request.
pub type TransferDone = oneshot::Sender<TransferOutcome>;

/// The `detail` a leg ends with after a transfer (`call.ended`).
pub const TRANSFERRED: &str = "transferred";
