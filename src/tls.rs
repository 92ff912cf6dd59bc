//! The process's one rustls crypto provider.
//!
//! warmline compiles rustls with the `aws-lc-rs` provider only (decision
//! record 0023, which amends 0001: str0m, the WebRTC stack, builds only with
//! aws-lc-rs) and installs it as the process default at the top of `main`,
//! before any TLS client or server is built. With two providers compiled in
//! and none installed, rustls panics at the first `wss://` connection;
//! `scripts/test` guards against `ring` creeping in through a dependency's
//! default features.

use std::sync::Arc;

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
    install_crypto_provider();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
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
}
