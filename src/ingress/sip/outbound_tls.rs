//! Outbound SIP over TLS (RFC 3261 §26.2, decision 0039): which addresses
//! warmline must reach over TLS, and the client handshake that turns a TCP
//! connection to one of them into a stream connection of [`super::tcp`]
//! marked TLS (so Via says `TLS` and Contact `transport=tls`, and the
//! peer's answers and requests come back on it).
//!
//! The addresses are fixed at start from the `[[sip.outbound]]` entries
//! with `transport = "tls"`. The stream registry asks [`TlsPeers`] before
//! it opens any connection, so a message for such an address is never
//! written to a plain TCP connection, whoever sends it (a rep call's
//! INVITE, its ACK and BYE, a retransmission after a reconnect).
//!
//! Every peer's certificate chain is verified against the entry's
//! `tls_ca_file` when set, else the Mozilla root set compiled into the
//! binary, and its name against `tls_server_name` (also sent as SNI).
//! Nothing here can turn verification off. rustls runs on the process's
//! one provider, aws-lc-rs ([`crate::tls`]).
//!
//! Bound: the TCP connect and the handshake together take at most the
//! stream transport's connect timeout; a failure of either is a transport
//! error for the messages waiting on the connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::OutboundConfig;

/// Why an outbound TLS peer cannot be set up or reached.
#[derive(Debug, thiserror::Error)]
pub enum OutboundTlsError {
    /// `transport = "tls"` without `tls_server_name` (`warmline check`
    /// refuses this first).
    #[error("sip.outbound {trunk:?}: transport = \"tls\" needs tls_server_name")]
    NoServerName {
        /// The entry.
        trunk: String,
    },
    /// `tls_server_name` is neither a DNS name nor an IP address.
    #[error("sip.outbound {trunk:?}: tls_server_name {name:?} is not a DNS name or IP address")]
    ServerName {
        /// The entry.
        trunk: String,
        /// What was written.
        name: String,
    },
    /// `tls_ca_file` cannot be used (it changed since `warmline check`?).
    #[error("sip.outbound {trunk:?}: tls_ca_file: {source}")]
    Roots {
        /// The entry.
        trunk: String,
        /// Why.
        source: crate::tls::RootsError,
    },
    /// The TCP connect failed: nothing listens there, or a firewall
    /// refuses. Check the entry's `address`.
    #[error("TCP connect failed: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed. Typically the certificate is not valid
    /// for `tls_server_name`, or not issued by a trusted root (set
    /// `tls_ca_file` for a private CA), or the peer does not speak TLS
    /// on that port.
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    /// Connect and handshake did not finish in time: the peer is silent
    /// or very slow.
    #[error("no TLS connection within {} ms (connect and handshake)", .0.as_millis())]
    Timeout(Duration),
}

/// One address reached over TLS.
pub struct TlsPeer {
    trunk: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPeer")
            .field("trunk", &self.trunk)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsPeer {
    /// The `[[sip.outbound]]` entry's name, for logs.
    pub fn trunk(&self) -> &str {
        &self.trunk
    }

    /// The name the certificate must carry.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Connects to `dest` and completes a verified client handshake, all
    /// within `timeout`.
    pub async fn connect(
        &self,
        dest: SocketAddr,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, OutboundTlsError> {
        let attempt = async {
            let tcp = TcpStream::connect(dest)
                .await
                .map_err(OutboundTlsError::Connect)?;
            // SIP over TCP is small messages both ways: no Nagle delay.
            let _ = tcp.set_nodelay(true);
            self.connector
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(OutboundTlsError::Handshake)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| OutboundTlsError::Timeout(timeout))?
    }
}

/// The addresses reached over TLS, from the `[[sip.outbound]]` entries
/// with `transport = "tls"`. Entries sharing an address agree on name and
/// roots (`warmline check`); the first one is kept.
#[derive(Debug, Default)]
pub struct TlsPeers {
    by_address: HashMap<SocketAddr, TlsPeer>,
}

impl TlsPeers {
    /// Builds a verifying client configuration for each TLS entry,
    /// reading its `tls_ca_file`.
    pub fn from_config(outbound: &[OutboundConfig]) -> Result<TlsPeers, OutboundTlsError> {
        let mut by_address = HashMap::new();
        for entry in outbound.iter().filter(|o| o.is_tls()) {
            if by_address.contains_key(&entry.address) {
                continue;
            }
            let trunk = entry.name.clone();
            let Some(name) = entry.tls_server_name.clone() else {
                return Err(OutboundTlsError::NoServerName { trunk });
            };
            let Ok(server_name) = ServerName::try_from(name.clone()) else {
                return Err(OutboundTlsError::ServerName { trunk, name });
            };
            let roots = match &entry.tls_ca_file {
                Some(path) => crate::tls::roots_from_pem_file(path).map_err(|source| {
                    OutboundTlsError::Roots {
                        trunk: trunk.clone(),
                        source,
                    }
                })?,
                None => crate::tls::mozilla_roots(),
            };
            let connector = TlsConnector::from(crate::tls::client_config_trusting(roots));
            by_address.insert(
                entry.address,
                TlsPeer {
                    trunk,
                    server_name,
                    connector,
                },
            );
        }
        Ok(TlsPeers { by_address })
    }

    /// The TLS peer at `address`, if it is one.
    pub fn get(&self, address: &SocketAddr) -> Option<&TlsPeer> {
        self.by_address.get(address)
    }

    /// Whether `address` must be reached over TLS.
    pub fn contains(&self, address: &SocketAddr) -> bool {
        self.by_address.contains_key(address)
    }
}

#[cfg(test)]
mod tests;
