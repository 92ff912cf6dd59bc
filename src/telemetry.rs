//! Logging: `tracing` with an env-filter, as text or JSON lines.
//!
//! Every call's work runs inside [`call_span`], so every line logged for a
//! call, in either format, carries its `call_id` (warmline's UUIDv7) and
//! the provider's id.

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Errors from setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter directives do not parse.
    #[error("invalid log filter {filter:?}: {message}")]
    Filter {
        /// The directives.
        filter: String,
        /// The parser's message.
        message: String,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadyInitialised,
}

/// Builds the filter: `RUST_LOG` when set, else the configured directives.
pub fn filter(config: &LogConfig, rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let directives = rust_log.filter(|s| !s.is_empty()).unwrap_or(&config.filter);
    EnvFilter::try_new(directives).map_err(|e| TelemetryError::Filter {
        filter: directives.to_owned(),
        message: e.to_string(),
    })
}

/// Dependencies' log targets that print secrets at their most verbose
/// levels, capped whatever the filter says: tungstenite's client handshake
/// logs the whole upgrade request, `Authorization: Bearer <OPENAI_API_KEY>`
/// included, at TRACE (found by `tests/log_secrets.rs`).
pub const SECRET_BEARING_TARGETS: &[&str] = &["tungstenite::handshake::client=debug"];

/// `filter` with [`SECRET_BEARING_TARGETS`] capped (they are more
/// specific than a blanket `trace`, so they win over it).
pub fn without_secret_bearing_targets(mut filter: EnvFilter) -> EnvFilter {
    for directive in SECRET_BEARING_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber.
pub fn init(config: &LogConfig) -> Result<(), TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = without_secret_bearing_targets(filter(config, rust_log.as_deref())?);
    // Colour only for a person at a terminal, never into files or shippers.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInitialised)
}

/// The span that every task of one call runs in: warmline's own call id,
/// with the provider's id and the ingress as separate fields.
pub fn call_span(call: &crate::call::tools::CallIdentity) -> tracing::Span {
    // At error level so that no filter disables it: with `RUST_LOG=warn`
    // an info span would vanish and take the call id off every warning.
    tracing::error_span!(
        "call",
        call_id = %call.id,
        provider_id = %call.provider_id,
        ingress = call.ingress,
        agent = call.agent.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use crate::call::tools::CallIdentity;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn identity(ingress: &'static str, provider_id: &str) -> CallIdentity {
        CallIdentity::mint(ingress, provider_id, "+15550001", "+15550002")
    }

    fn lines_logged_in_a_call(json: bool, call: &CallIdentity) -> Vec<String> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_env_filter(EnvFilter::new("debug"));
        let log = || {
            let _guard = call_span(call).entered();
            tracing::info!("answered");
            tracing::debug!(frames = 3, "nested");
        };
        if json {
            tracing::subscriber::with_default(builder.json().finish(), log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        let bytes = buffer.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_text_line_of_a_twilio_call_carries_the_call_id_and_the_call_sid_apart() {
        let call = identity("twilio", "CA123");
        let lines = lines_logged_in_a_call(false, &call);
        assert_eq!(lines.len(), 2);
        for line in &lines {
            assert!(line.contains(&format!("call_id={}", call.id)), "{line}");
            assert!(line.contains("provider_id=CA123"), "{line}");
            assert!(line.contains("ingress=\"twilio\""), "{line}");
        }
    }

    #[test]
    fn every_json_line_of_a_sip_call_carries_a_uuid_v7_and_the_dialog_apart() {
        let call = identity("sip", "a84b4c76e66710@pc33.example.com;1928301774");
        for line in lines_logged_in_a_call(true, &call) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
            let id = v["span"]["call_id"].as_str().expect("call_id");
            let uuid = uuid::Uuid::parse_str(id).expect("a uuid");
            assert_eq!(uuid.get_version_num(), 7, "{line}");
            assert_eq!(
                v["span"]["provider_id"], "a84b4c76e66710@pc33.example.com;1928301774",
                "{line}"
            );
            assert_eq!(v["span"]["ingress"], "sip", "{line}");
        }
    }

    #[test]
    fn a_warning_of_a_call_carries_its_id_even_when_info_is_filtered_out() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_env_filter(EnvFilter::new("warn"))
            .json()
            .finish();
        let call = identity("sip", "abc;tag");
        tracing::subscriber::with_default(subscriber, || {
            let _guard = call_span(&call).entered();
            tracing::warn!("media timeout");
        });
        let bytes = buffer.0.lock().expect("not poisoned").clone();
        let line = String::from_utf8(bytes).expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one json line");
        assert_eq!(v["span"]["call_id"], call.id.as_str(), "{line}");
    }

    #[test]
    fn secret_bearing_targets_stay_capped_under_a_blanket_trace() {
        let f = without_secret_bearing_targets(EnvFilter::new("trace"));
        assert!(
            f.to_string()
                .contains("tungstenite::handshake::client=debug"),
            "{f}"
        );
        let f =
            without_secret_bearing_targets(EnvFilter::new("tungstenite::handshake::client=trace"));
        assert!(!f.to_string().contains("client=trace"), "{f}");
    }

    #[test]
    fn rust_log_wins_over_the_configured_filter() {
        let config = LogConfig::default();
        let f = filter(&config, Some("warn")).expect("valid");
        assert_eq!(f.to_string(), "warn");
        assert_eq!(filter(&config, None).expect("valid").to_string(), "info");
        assert!(filter(&config, Some("[[[")).is_err());
    }
}
