//! The value types of the transaction layer's API: timer configuration,
//! transports, transaction handles and the bytes to send.

use std::net::SocketAddr;
use std::time::Duration;

/// The RFC 3261 §17.1.1.1 timer bases. Every other timer derives from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate: first retransmit interval, and 64*T1 timeouts.
    pub t1: Duration,
    /// Cap on non-INVITE request and INVITE response retransmit intervals.
    pub t2: Duration,
    /// How long a message may stay in the network (Timers I and K).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// How a message travels. Reliable transports turn retransmit timers
/// (A, E, G) off and the absorb timers (D, I, J, K) to zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so we retransmit.
    Udp,
    /// Any reliable stream (TCP, TLS, WebSocket); the shell keeps track of
    /// which connection goes with which address.
    Tcp,
}

impl Transport {
    /// Whether the transport delivers reliably.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

/// A server transaction's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerTxId(pub(super) u64);

/// A client transaction's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientTxId(pub(super) u64);

/// Either kind of transaction handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxIdEither {
    /// A server transaction.
    Server(ServerTxId),
    /// A client transaction.
    Client(ClientTxId),
}

/// Bytes to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub dest: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// The serialised message.
    pub bytes: Vec<u8>,
    /// The transaction the message belongs to; `None` for messages sent
    /// with `send_stateless`. When the shell cannot deliver a message (a
    /// TCP connect that fails, a full or broken connection), it reports
    /// the owner with `TransactionLayer::on_transport_error`.
    pub owner: Option<TxIdEither>,
}
