//! The process's one rustls crypto provider.
//!
//! warmline compiles rustls with the `aws-lc-rs` provider only (decision
//! record 0023, which amends 0001: str0m, the WebRTC stack, builds only with
//! aws-lc-rs) and installs it as the process default at the top of `main`,
//! before any TLS client or server is built. With two providers compiled in
//! and none installed, rustls panics at the first `wss://` connection;
//! `scripts/test` guards against `ring` creeping in through a dependency's
//! default features.
//!
//! It also builds the process's TLS client configurations: every one
//! verifies the server's certificate chain and name (there is no
//! "accept anything" verifier outside tests), against the Mozilla root
//! set of `webpki-roots` unless a caller brings its own roots (a SIP
//! trunk's `tls_ca_file`, decision 0039).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Installs `aws-lc-rs` as the process-wide default provider, for rustls and
/// for str0m (which keeps its own provider registry). Calling it again is
/// harmless.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    str0m_provider_once();
}

fn str0m_provider_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        str0m::crypto::from_feature_flags().install_process_default();
    });
}

/// A TLS client configuration trusting the Mozilla root set, for outbound
/// `wss://` and `https://` connections (model backends, webhooks).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    client_config_trusting(mozilla_roots())
}

/// The Mozilla root set compiled into the binary (`webpki-roots`): the
/// same on every host, whatever its CA bundle holds.
pub fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A TLS client configuration that verifies servers against `roots`
/// only, on the process's provider, without a client certificate.
pub fn client_config_trusting(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    install_crypto_provider();
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Why a file of trusted roots cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    /// The file cannot be read, or a PEM block in it is malformed.
    #[error("cannot read CA certificates from {path}: {reason} (a PEM file readable by warmline)")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file holds no `CERTIFICATE` block, e.g. a key or a DER file.
    #[error("{path} holds no PEM CERTIFICATE block (a DER file? convert it with `openssl x509 -inform der -in FILE -out FILE.pem`)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate parses as PEM but not as a trust anchor (not an
    /// X.509 certificate, or one webpki cannot use).
    #[error("a certificate in {path} cannot be a trust anchor: {reason}")]
    Anchor {
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// The trusted roots in the PEM file `path`: every `CERTIFICATE` block,
/// each of which must be usable as a trust anchor.
pub fn roots_from_pem_file(path: &Path) -> Result<rustls::RootCertStore, RootsError> {
    let read = |reason: String| RootsError::Read {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certs.is_empty() {
        return Err(RootsError::Empty {
            path: path.to_owned(),
        });
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| RootsError::Anchor {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_client_config_builds_with_the_installed_provider() {
        let config = client_config();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(!config.crypto_provider().cipher_suites.is_empty());
        // A connection object can be made (no I/O happens until it is driven).
        let name = rustls::pki_types::ServerName::try_from("api.openai.com").expect("valid name");
        assert!(rustls::ClientConnection::new(config, name).is_ok());
    }

    #[test]
    fn a_roots_file_must_hold_usable_pem_certificates() {
        let dir = std::env::temp_dir().join(format!("warmline-tls-roots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).expect("rcgen");
        let good = dir.join("ca.pem");
        std::fs::write(&good, format!("{}{}", ca.cert.pem(), ca.cert.pem())).expect("write");
        assert_eq!(roots_from_pem_file(&good).expect("roots").len(), 2);

        let key_only = dir.join("key.pem");
        std::fs::write(&key_only, ca.signing_key.serialize_pem()).expect("write");
        let error = roots_from_pem_file(&key_only).expect_err("a key is no root");
        assert!(matches!(error, RootsError::Empty { .. }), "{error}");
        assert!(error.to_string().contains("key.pem"), "{error}");

        let missing = roots_from_pem_file(&dir.join("nope.pem")).expect_err("missing");
        assert!(matches!(missing, RootsError::Read { .. }), "{missing}");

        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let error = roots_from_pem_file(&garbage).expect_err("not x509");
        assert!(matches!(error, RootsError::Anchor { .. }), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
