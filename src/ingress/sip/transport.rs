//! SIP over UDP and TCP (and TLS, on the TCP side's connections): sockets
//! in, raw messages to the endpoint task,
//! bytes out without ever making the endpoint wait.
//!
//! UDP is one socket; every datagram goes to the endpoint. Sends go
//! through a non-blocking duplicate of it, straight to the kernel (tokio's
//! `try_send_to` would refuse until its reactor has seen the socket
//! writable once); a full socket buffer drops the datagram, as the network
//! might, and the transaction layer retransmits. TCP lives in [`super::tcp`]:
//! a task per connection, opened on demand, with a bounded queue each, and
//! messages it cannot deliver reported back as [`Undelivered`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use warmline_sip::transaction::{Transmit, Transport};

use super::tcp::{Outbound, Tcp, UNDELIVERED_QUEUE};
pub use super::tcp::{QueueError, Undelivered, MAX_TCP_CONNECTIONS};

/// One message as it arrived.
#[derive(Debug)]
pub struct Inbound {
    /// The bytes (one datagram, or one framed stream message).
    pub bytes: Vec<u8>,
    /// Who sent it.
    pub source: SocketAddr,
    /// Over what.
    pub transport: Transport,
}

/// The sending half, owned by the endpoint.
#[derive(Clone, Debug)]
pub struct Sender {
    /// The UDP socket's non-blocking duplicate, for sending only.
    udp: Arc<std::net::UdpSocket>,
    tcp: Tcp,
}

impl Sender {
    /// Puts `t` on its way without waiting. Over TCP it is queued on the
    /// peer's connection (opened on demand by its own task); the error
    /// says why it could not even be queued, and the caller fails the
    /// transaction named in `t.owner`. Must be called within a tokio
    /// runtime.
    pub fn send(&self, t: Transmit) -> Result<(), QueueError> {
        match t.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&t.bytes, t.dest) {
                    tracing::debug!(dest = %t.dest, error = %e, "SIP UDP send failed");
                }
                Ok(())
            }
            Transport::Tcp => self.tcp.send(
                t.dest,
                Outbound {
                    bytes: t.bytes,
                    owner: t.owner,
                },
            ),
        }
    }
}

impl Sender {
    /// The stream side, for the TLS acceptor to hand its connections to.
    pub(super) fn tcp(&self) -> &Tcp {
        &self.tcp
    }

    /// Whether stream messages to `peer` travel over TLS (an open TLS
    /// connection, or a TLS peer of `[[sip.outbound]]`).
    pub fn is_tls(&self, peer: SocketAddr) -> bool {
        self.tcp.is_tls(peer)
    }
}

/// A bound SIP transport.
#[derive(Debug)]
pub struct Bound {
    /// The sending half.
    pub sender: Sender,
    /// Messages as they arrive.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Messages the transport took but could not deliver.
    pub undelivered: mpsc::Receiver<Undelivered>,
    /// The address bound (UDP and TCP share the port).
    pub local: SocketAddr,
}

/// Binds UDP and TCP on `listen` and starts the reader and acceptor tasks;
/// streams to `tls_peers`' addresses are opened over TLS only.
pub async fn bind(
    listen: SocketAddr,
    tls_peers: Arc<super::outbound_tls::TlsPeers>,
) -> std::io::Result<Bound> {
    let udp = std::net::UdpSocket::bind(listen)?;
    udp.set_nonblocking(true)?;
    let send_half = Arc::new(udp.try_clone()?);
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let local = udp.local_addr()?;
    // TCP on the same port as UDP, as carriers expect.
    let listener = TcpListener::bind(local).await?;
    let (inbound_tx, inbound) = mpsc::channel(4_096);
    let (undelivered_tx, undelivered) = mpsc::channel(UNDELIVERED_QUEUE);
    let tcp = Tcp::new(inbound_tx.clone(), undelivered_tx).with_tls_peers(tls_peers);
    let sender = Sender {
        udp: send_half,
        tcp: tcp.clone(),
    };
    tokio::spawn(udp_reader(udp, inbound_tx));
    tokio::spawn(super::tcp::acceptor(listener, tcp));
    Ok(Bound {
        sender,
        inbound,
        undelivered,
        local,
    })
}

async fn udp_reader(udp: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        match udp.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let message = Inbound {
                    bytes: buf[..n].to_vec(),
                    source,
                    transport: Transport::Udp,
                };
                // A full queue means the endpoint is overloaded: dropping
                // a datagram is what UDP would do anyway, and the peer
                // retransmits.
                if inbound.try_send(message).is_err() && inbound.is_closed() {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
        }
    }
}
