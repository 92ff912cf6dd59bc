//! SIP over TCP: one task per connection, so that nothing about a TCP peer
//! (a connect that hangs, a peer that stops reading) ever makes the
//! endpoint task wait.
//!
//! Every connection, accepted or opened by us, is registered under the
//! peer's address with a bounded queue of outbound messages, so responses
//! and in-dialog requests reuse the connection the peer opened (RFC 5923
//! style). When the endpoint sends to an address with no connection, the
//! registry gets a connection task at once and the message is queued; the
//! task connects (bounded by [`CONNECT_TIMEOUT`]) and then writes what was
//! queued. A message that cannot be delivered — the connect failed or
//! timed out, the connection broke, its queue was full — is reported back
//! to the endpoint as [`Undelivered`] with the transaction it belongs to,
//! and that transaction fails at once (RFC 3261 §17.1.1.2, §17.2.4).
//!
//! An address that [`TlsPeers`] names (a `[[sip.outbound]]` trunk with
//! `transport = "tls"`) is only ever reached over TLS: its connection task
//! runs the client handshake ([`super::outbound_tls`]) within the same
//! connect bound, and a plain connection registered under that address is
//! never written to.
//!
//! Invariants: the registry lock is never held across an `.await`; only
//! the task that registered a connection removes it (entries carry a
//! connection number); a stream that breaks the framing rules is closed,
//! since there is no resynchronising a byte stream.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::TrySendError};
use warmline_sip::message::{frame_stream, Framing, Limits};
use warmline_sip::transaction::{Transport, TxIdEither};

use super::outbound_tls::TlsPeers;
use super::transport::Inbound;

/// Open TCP connections (accepted, opened or still connecting), at most.
pub const MAX_TCP_CONNECTIONS: usize = 2_048;
/// A TCP connection with nothing to say for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(600);
/// Queued writes per TCP connection. Full means the peer has not read (or
/// not yet connected) for this many messages; the next message then fails
/// at once as a transport error rather than waiting behind them.
pub(super) const TCP_WRITE_QUEUE: usize = 256;
/// How long an outbound connect (with its TLS handshake, toward a TLS
/// peer) may take. The connect runs on its own task, so this bounds only
/// how long messages wait in its queue.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Undelivered reports on their way to the endpoint. Reports are never
/// dropped: a connection task with failures waits for room.
pub(super) const UNDELIVERED_QUEUE: usize = 1_024;

/// A message for a TCP peer.
#[derive(Debug)]
pub struct Outbound {
    /// The serialised message.
    pub bytes: Vec<u8>,
    /// The transaction it belongs to, reported back if it is not delivered.
    pub owner: Option<TxIdEither>,
}

/// A transaction's message that the transport could not deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Undelivered {
    /// Where it was going.
    pub dest: SocketAddr,
    /// The transaction, for `TransactionLayer::on_transport_error`.
    pub owner: TxIdEither,
}

/// Why a message could not even be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The connection's queue is full: the peer is not reading, or the
    /// connect has been hanging for [`TCP_WRITE_QUEUE`] messages.
    #[error("the SIP TCP send queue toward the peer is full (peer not reading or not connecting)")]
    Full,
    /// [`MAX_TCP_CONNECTIONS`] are open and none goes to this peer.
    #[error("{MAX_TCP_CONNECTIONS} SIP TCP connections are open: no new one toward the peer")]
    TooManyConnections,
    /// The connection registry's lock was poisoned by a panic elsewhere;
    /// SIP over TCP cannot send until the process restarts.
    #[error("the SIP TCP connection registry is unusable after a panic: restart warmline")]
    Broken,
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    /// Per peer: connection number, its write queue, and whether it runs
    /// over TLS (so that Contact and Via say so).
    open: HashMap<SocketAddr, (u64, mpsc::Sender<Outbound>, bool)>,
}

impl Registry {
    /// Registers a new connection to `peer`, replacing any older entry.
    fn open(
        &mut self,
        peer: SocketAddr,
        tls: bool,
    ) -> (u64, mpsc::Sender<Outbound>, mpsc::Receiver<Outbound>) {
        self.next += 1;
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        self.open.insert(peer, (self.next, tx.clone(), tls));
        (self.next, tx, rx)
    }
}

/// The TCP side of the transport, shared by the endpoint (sending) and the
/// connection tasks.
#[derive(Clone, Debug)]
pub struct Tcp {
    registry: Arc<Mutex<Registry>>,
    inbound: mpsc::Sender<Inbound>,
    undelivered: mpsc::Sender<Undelivered>,
    /// The addresses reached over TLS only (fixed at start).
    tls_peers: Arc<TlsPeers>,
}

impl Tcp {
    pub(super) fn new(
        inbound: mpsc::Sender<Inbound>,
        undelivered: mpsc::Sender<Undelivered>,
    ) -> Tcp {
        Tcp {
            registry: Arc::new(Mutex::new(Registry::default())),
            inbound,
            undelivered,
            tls_peers: Arc::default(),
        }
    }

    /// The same transport, reaching `peers`' addresses over TLS only.
    pub(super) fn with_tls_peers(mut self, peers: Arc<TlsPeers>) -> Tcp {
        self.tls_peers = peers;
        self
    }

    /// Queues `message` for `dest` without waiting: on the peer's
    /// connection when there is one (a TLS one, when `dest` is a TLS
    /// peer), else on a new connection task that connects first. Must be
    /// called within a tokio runtime.
    pub fn send(&self, dest: SocketAddr, mut message: Outbound) -> Result<(), QueueError> {
        let tls = self.tls_peers.contains(&dest);
        let Ok(mut registry) = self.registry.lock() else {
            return Err(QueueError::Broken);
        };
        // Twice at most: a connection that closed since it was registered
        // is replaced by a new one.
        for _ in 0..2 {
            let writer = match registry.open.get(&dest) {
                Some((_, writer, open_tls)) if *open_tls || !tls => writer.clone(),
                open => {
                    // None, or a plain connection to a TLS peer: that one
                    // is left to its task and a TLS one takes its place.
                    if open.is_none() && registry.open.len() >= MAX_TCP_CONNECTIONS {
                        return Err(QueueError::TooManyConnections);
                    }
                    let (id, writer, queue) = registry.open(dest, tls);
                    tokio::spawn(connect(dest, id, queue, self.clone()));
                    writer
                }
            };
            match writer.try_send(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => return Err(QueueError::Full),
                Err(TrySendError::Closed(m)) => {
                    registry.open.remove(&dest);
                    message = m;
                }
            }
        }
        Err(QueueError::Full)
    }

    /// Takes on a connection the peer opened. Over the cap it is closed.
    fn adopt(&self, stream: TcpStream, peer: SocketAddr) {
        self.adopt_stream(stream, peer, false);
    }

    /// Takes on any established stream from `peer` (plain TCP, or TLS
    /// after its handshake); `tls` marks it so that the endpoint can
    /// advertise `transport=tls`. Over the cap it is closed.
    pub(super) fn adopt_stream<S>(&self, stream: S, peer: SocketAddr, tls: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(mut registry) = self.registry.lock() else {
            return;
        };
        if registry.open.len() >= MAX_TCP_CONNECTIONS {
            tracing::warn!(%peer, open = registry.open.len(), "too many SIP TCP connections: refused");
            return;
        }
        let (id, _, queue) = registry.open(peer, tls);
        drop(registry);
        tokio::spawn(serve(stream, peer, id, queue, self.clone()));
    }

    /// Whether messages to `peer` travel over TLS: it is a TLS peer
    /// (connected or not yet), or its open connection runs over TLS.
    pub fn is_tls(&self, peer: SocketAddr) -> bool {
        self.tls_peers.contains(&peer)
            || self
                .registry
                .lock()
                .ok()
                .and_then(|r| r.open.get(&peer).map(|(_, _, tls)| *tls))
                .unwrap_or(false)
    }

    /// Open connections (tests).
    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.registry.lock().map(|r| r.open.len()).unwrap_or(0)
    }

    /// Removes connection `id` to `peer` from the registry, then reports
    /// every message still queued on it (plus `failed`, the one whose write
    /// failed) as undelivered.
    async fn fail(
        &self,
        peer: SocketAddr,
        id: u64,
        mut queue: mpsc::Receiver<Outbound>,
        failed: Option<Outbound>,
        why: &str,
    ) {
        if let Ok(mut registry) = self.registry.lock() {
            if registry
                .open
                .get(&peer)
                .is_some_and(|(open, _, _)| *open == id)
            {
                registry.open.remove(&peer);
            }
        }
        // No new messages after this; the ones already queued drain out.
        queue.close();
        let mut lost = 0usize;
        let mut pending = failed;
        loop {
            let message = match pending.take() {
                Some(m) => m,
                None => match queue.recv().await {
                    Some(m) => m,
                    None => break,
                },
            };
            lost += 1;
            if let Some(owner) = message.owner {
                let report = Undelivered { dest: peer, owner };
                if self.undelivered.send(report).await.is_err() {
                    // The endpoint is gone: nobody to tell.
                    return;
                }
            }
        }
        if lost > 0 {
            tracing::warn!(%peer, lost, why, "SIP TCP messages not delivered");
        }
    }
}

/// An outbound connection: connect (and, to a TLS peer, complete a
/// verified handshake), then serve it like an accepted one.
async fn connect(dest: SocketAddr, id: u64, queue: mpsc::Receiver<Outbound>, tcp: Tcp) {
    let peers = tcp.tls_peers.clone();
    if let Some(peer) = peers.get(&dest) {
        match peer.connect(dest, CONNECT_TIMEOUT).await {
            Ok(stream) => {
                tracing::info!(%dest, trunk = peer.trunk(), server_name = %peer.server_name(), "SIP TLS connection open");
                serve(stream, dest, id, queue, tcp).await;
            }
            Err(e) => {
                tracing::warn!(%dest, trunk = peer.trunk(), server_name = %peer.server_name(), error = %e, "cannot open a SIP TLS connection: what waited for it fails");
                tcp.fail(dest, id, queue, None, "TLS connect failed").await;
            }
        }
        return;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
        Ok(Ok(stream)) => serve(stream, dest, id, queue, tcp).await,
        Ok(Err(e)) => {
            tracing::warn!(%dest, error = %e, "cannot open a SIP TCP connection");
            tcp.fail(dest, id, queue, None, "connect failed").await;
        }
        Err(_) => {
            tracing::warn!(%dest, timeout_ms = CONNECT_TIMEOUT.as_millis() as u64, "SIP TCP connect timed out");
            tcp.fail(dest, id, queue, None, "connect timed out").await;
        }
    }
}

/// Reads framed messages to the endpoint and writes queued ones, until
/// either side ends; whatever is left unsent is reported undelivered.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    id: u64,
    mut writes: mpsc::Receiver<Outbound>,
    tcp: Tcp,
) {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8_192);
    let mut chunk = vec![0u8; 8_192];
    let mut failed = None;
    let why = 'conn: loop {
        tokio::select! {
            read = tokio::time::timeout(TCP_IDLE, stream.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) => break 'conn "closed by the peer",
                    Ok(Err(_)) => break 'conn "read failed",
                    Err(_) => break 'conn "idle",
                    Ok(Ok(n)) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match frame_stream(&buf, &limits) {
                        Ok(Framing::Incomplete) => break,
                        Ok(Framing::KeepAlive(k)) => {
                            buf.drain(..k);
                        }
                        Ok(Framing::Message(len)) => {
                            let bytes: Vec<u8> = buf.drain(..len).collect();
                            let message = Inbound { bytes, source: peer, transport: Transport::Tcp };
                            // Waiting here is backpressure on this peer
                            // only; the endpoint never waits on it.
                            if tcp.inbound.send(message).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "SIP TCP stream broke framing: closing it");
                            if let Some(answer) = warmline_sip::message::error_response(&buf, &e) {
                                let _ = stream.write_all(&answer).await;
                            }
                            break 'conn "broke framing";
                        }
                    }
                }
            }
            write = writes.recv() => {
                match write {
                    Some(message) => {
                        if stream.write_all(&message.bytes).await.is_err() {
                            failed = Some(message);
                            break 'conn "write failed";
                        }
                    }
                    None => break 'conn "closed",
                }
            }
        }
    };
    tcp.fail(peer, id, writes, failed, why).await;
}

/// Consecutive accept failures (EMFILE, ENFILE, ENOBUFS…) back off
/// exponentially from [`AcceptBackoff::MIN`] to [`AcceptBackoff::MAX`]
/// instead of spinning, and each episode is logged once.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    failures: u64,
}

impl AcceptBackoff {
    /// The first pause.
    pub const MIN: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// An accept failed: how long to pause, and whether this failure
    /// starts an episode (the one to log).
    pub fn failed(&mut self) -> (Duration, bool) {
        let first = self.delay.is_none();
        let delay = self
            .delay
            .map_or(Self::MIN, |d| d.saturating_mul(2).min(Self::MAX));
        self.delay = Some(delay);
        self.failures += 1;
        (delay, first)
    }

    /// An accept succeeded: ends an episode, returning how many failures
    /// it had.
    pub fn succeeded(&mut self) -> Option<u64> {
        self.delay
            .take()
            .map(|_| std::mem::take(&mut self.failures))
    }
}

/// Accepts connections with `accept` and hands each to `adopt`, pausing
/// after failures as [`AcceptBackoff`] says.
pub(super) async fn accept_loop<S, F, Fut>(mut accept: F, mut adopt: impl FnMut(S, SocketAddr))
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<(S, SocketAddr)>>,
{
    let mut backoff = AcceptBackoff::default();
    loop {
        match accept().await {
            Ok((stream, peer)) => {
                if let Some(failures) = backoff.succeeded() {
                    tracing::info!(failures, "SIP TCP accept works again");
                }
                adopt(stream, peer);
            }
            Err(e) => {
                let (pause, first) = backoff.failed();
                if first {
                    tracing::warn!(error = %e, "SIP TCP accept failing (out of file descriptors?): backing off from 10 ms up to 1 s until it works again");
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Accepts SIP TCP connections forever.
pub(super) async fn acceptor(listener: TcpListener, tcp: Tcp) {
    let listener = &listener;
    accept_loop(|| listener.accept(), |stream, peer| tcp.adopt(stream, peer)).await;
}

#[cfg(test)]
mod tests;
