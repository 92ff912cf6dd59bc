//! SIP over UDP and TCP: sockets in, parsed-or-raw messages to the
//! endpoint task, bytes out.
//!
//! UDP is one socket; every datagram goes to the endpoint. TCP accepts
//! connections (at most [`MAX_TCP_CONNECTIONS`]), frames each stream by
//! Content-Length (RFC 3261 §18.3) with the crate's limits, and keeps a
//! writer per peer so responses and in-dialog requests reuse the
//! connection the peer opened (RFC 5923 style). A stream that breaks the
//! framing rules is closed: there is no resynchronising a byte stream.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use warmline_sip::message::{frame_stream, Framing, Limits};
use warmline_sip::transaction::Transport;

/// Open TCP connections, at most.
pub const MAX_TCP_CONNECTIONS: usize = 2_048;
/// A TCP connection with nothing to say for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(600);
/// Queued writes per TCP connection.
const TCP_WRITE_QUEUE: usize = 256;

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

/// The sending half, shared by the endpoint.
#[derive(Clone, Debug)]
pub struct Sender {
    udp: Arc<UdpSocket>,
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>,
    inbound: mpsc::Sender<Inbound>,
}

impl Sender {
    /// Sends `bytes` to `dest`. Over TCP it reuses the peer's connection,
    /// or opens one (bounded by a timeout) when there is none.
    pub async fn send(&self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        match transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&bytes, dest).await {
                    tracing::debug!(%dest, error = %e, "SIP UDP send failed");
                }
            }
            Transport::Tcp => {
                let writer = self.tcp.lock().ok().and_then(|map| map.get(&dest).cloned());
                let writer = match writer {
                    Some(w) => w,
                    None => {
                        let connect =
                            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(dest));
                        match connect.await {
                            Ok(Ok(stream)) => self.adopt(stream, dest),
                            _ => {
                                tracing::warn!(%dest, "cannot open a SIP TCP connection");
                                return;
                            }
                        }
                    }
                };
                if writer.try_send(bytes).is_err() {
                    tracing::warn!(%dest, "SIP TCP write queue full or closed: message dropped");
                }
            }
        }
    }

    fn adopt(&self, stream: TcpStream, peer: SocketAddr) -> mpsc::Sender<Vec<u8>> {
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        if let Ok(mut map) = self.tcp.lock() {
            map.insert(peer, tx.clone());
        }
        tokio::spawn(connection(
            stream,
            peer,
            rx,
            self.inbound.clone(),
            self.tcp.clone(),
        ));
        tx
    }
}

/// Binds UDP and TCP on `listen` and starts the reader tasks; inbound
/// messages arrive on the returned receiver.
pub async fn bind(
    listen: SocketAddr,
) -> std::io::Result<(Sender, mpsc::Receiver<Inbound>, SocketAddr)> {
    let udp = Arc::new(UdpSocket::bind(listen).await?);
    let local = udp.local_addr()?;
    // TCP on the same port as UDP, as carriers expect.
    let tcp = TcpListener::bind(local).await?;
    let (inbound_tx, inbound_rx) = mpsc::channel(4_096);
    let sender = Sender {
        udp: udp.clone(),
        tcp: Arc::new(Mutex::new(HashMap::new())),
        inbound: inbound_tx.clone(),
    };
    tokio::spawn(udp_reader(udp, inbound_tx));
    tokio::spawn(tcp_acceptor(tcp, sender.clone()));
    Ok((sender, inbound_rx, local))
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

async fn tcp_acceptor(listener: TcpListener, sender: Sender) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let open = sender.tcp.lock().map(|m| m.len()).unwrap_or(0);
        if open >= MAX_TCP_CONNECTIONS {
            tracing::warn!(%peer, open, "too many SIP TCP connections: refused");
            continue;
        }
        sender.adopt(stream, peer);
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut writes: mpsc::Receiver<Vec<u8>>,
    inbound: mpsc::Sender<Inbound>,
    registry: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>,
) {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8_192);
    let mut chunk = vec![0u8; 8_192];
    loop {
        tokio::select! {
            read = tokio::time::timeout(TCP_IDLE, stream.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
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
                            if inbound.send(message).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "SIP TCP stream broke framing: closing it");
                            if let Some(answer) = warmline_sip::message::error_response(&buf, &e) {
                                let _ = stream.write_all(&answer).await;
                            }
                            forget(&registry, peer);
                            return;
                        }
                    }
                }
            }
            write = writes.recv() => {
                match write {
                    Some(bytes) => {
                        if stream.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    }
    forget(&registry, peer);
}

fn forget(registry: &Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>, peer: SocketAddr) {
    if let Ok(mut map) = registry.lock() {
        map.remove(&peer);
    }
}
