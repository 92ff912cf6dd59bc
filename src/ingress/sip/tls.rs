//! SIP over TLS (RFC 3261 §26.2, RFC 5630): a TLS listener whose
//! connections, once their handshake is done, are ordinary stream
//! connections of [`super::tcp`] — the same framing, registry, bounded
//! write queue and undelivered reports — marked as TLS so the endpoint
//! advertises `transport=tls` in its Contact.
//!
//! rustls runs on the process's one crypto provider, aws-lc-rs
//! ([`crate::tls`], decision 0023). The certificate and key are read from
//! `[sip] tls_cert_file` / `tls_key_file` at start and again on SIGHUP;
//! a reload that fails keeps the previous certificate (and says so), so a
//! half-written file never takes SIP over TLS down. Connections already
//! up keep the certificate they were made with.
//!
//! Bounds: at most [`MAX_HANDSHAKES`] handshakes in flight, each limited
//! to [`HANDSHAKE_TIMEOUT`], so a peer that opens sockets and says nothing
//! holds neither memory nor a connection slot for long.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::tcp::{accept_loop, Tcp};

/// How long a TLS handshake may take before the socket is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// TLS handshakes in progress, at most; over it new sockets are closed.
pub const MAX_HANDSHAKES: usize = 256;

/// Why SIP over TLS cannot use its certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM item of the kind needed.
    #[error("cannot read {what} from {path}: {reason} (check sip.tls_cert_file / sip.tls_key_file: PEM files readable by warmline)")]
    Read {
        /// "the certificate chain" or "the private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair, typically a key that does not match the
    /// certificate or an unsupported key type.
    #[error("the SIP TLS certificate and key do not make a usable server identity: {0} (is the key the certificate's own?)")]
    Identity(#[from] rustls::Error),
}

/// The SIP TLS server configuration, swapped whole on reload.
#[derive(Debug)]
pub struct TlsCerts {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsCerts {
    /// Reads the certificate chain and key and builds the server
    /// configuration.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<TlsCerts, TlsError> {
        let config = server_config(cert_file, key_file)?;
        Ok(TlsCerts {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(config),
        })
    }

    /// Re-reads both files; on error the previous configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert_file, &self.key_file)?;
        if let Ok(mut current) = self.current.write() {
            *current = config;
        }
        Ok(())
    }

    /// The configuration new connections use.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            // A panic while swapping cannot leave a half-written Arc.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    crate::tls::install_crypto_provider();
    let read_error = |what, path: &Path, reason: String| TlsError::Read {
        what,
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| read_error("the certificate chain", cert_file, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error("the certificate chain", cert_file, e.to_string()))?;
    if chain.is_empty() {
        return Err(read_error(
            "the certificate chain",
            cert_file,
            "no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| read_error("the private key", key_file, e.to_string()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Accepts TLS connections forever: each handshake runs on its own task,
/// and a finished one joins the stream registry as a TLS connection.
pub(super) async fn acceptor(listener: TcpListener, certs: Arc<TlsCerts>, tcp: Tcp) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let listener = &listener;
    accept_loop(
        || listener.accept(),
        |stream, peer: SocketAddr| {
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "{MAX_HANDSHAKES} SIP TLS handshakes in progress: connection closed");
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(certs.config());
            let tcp = tcp.clone();
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                drop(permit);
                match handshake {
                    Ok(Ok(tls)) => tcp.adopt_stream(tls, peer, true),
                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "SIP TLS handshake failed"),
                    Err(_) => tracing::info!(%peer, timeout_s = HANDSHAKE_TIMEOUT.as_secs(), "SIP TLS handshake timed out"),
                }
            });
        },
    )
    .await;
}

/// Re-reads the certificate on every SIGHUP, for as long as the process
/// runs. Its own signal stream: other SIGHUP listeners (agent reload) get
/// the same signal independently.
pub(super) async fn reload_on_sighup(certs: Arc<TlsCerts>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the SIP TLS certificate will not be reloaded");
                return;
            }
        };
        while hup.recv().await.is_some() {
            reload_logged(&certs);
        }
    }
    #[cfg(not(unix))]
    let _ = certs;
}

/// One reload, with its outcome logged.
pub fn reload_logged(certs: &TlsCerts) {
    match certs.reload() {
        Ok(()) => tracing::info!(cert = %certs.cert_file.display(), "SIP TLS certificate reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "SIP TLS certificate not reloaded: the previous one stays in use")
        }
    }
}

#[cfg(test)]
mod tests;
