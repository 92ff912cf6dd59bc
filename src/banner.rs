//! The start-up banner: what listens where, which model answers and why,
//! whether each secret is set (never its value), and where to go next.
//! Plus the warnings a first run needs, such as a Twilio token without a
//! public base URL.
//!
//! Pure: [`Facts`] in, text out; `main` logs it once everything is bound.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::{Config, ModelBackend, Secrets};

/// What the banner reports, gathered once the listeners are bound.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The HTTP listener's bound address.
    pub http: SocketAddr,
    /// The SIP listener's bound address and the RTP port range, if on.
    pub sip: Option<(SocketAddr, u16, u16)>,
    /// `[sip] tls_listen`, when SIP over TLS is on.
    pub sip_tls: Option<SocketAddr>,
    /// `demo` or `openai`.
    pub backend: &'static str,
    /// `[model] backend` as configured.
    pub configured_backend: ModelBackend,
    /// The OpenAI model name.
    pub openai_model: String,
    /// `OPENAI_API_KEY` set.
    pub openai_key_set: bool,
    /// `TWILIO_AUTH_TOKEN` set.
    pub twilio_token_set: bool,
    /// `WARMLINE_ADMIN_TOKEN` set (the `/api/v1` routes answer 401 without).
    pub admin_token_set: bool,
    /// `[twilio] public_base_url`.
    pub public_base_url: Option<String>,
    /// `[twilio] insecure_skip_signature`.
    pub insecure_skip_signature: bool,
    /// `[server] shutdown_grace_secs`.
    pub grace_secs: u64,
}

impl Facts {
    /// Gathers the facts from the configuration and what was bound.
    pub fn new(
        config: &Config,
        secrets: &Secrets,
        backend: &'static str,
        http: SocketAddr,
        sip: Option<SocketAddr>,
    ) -> Facts {
        Facts {
            http,
            sip: sip.map(|a| (a, config.sip.rtp_port_min, config.sip.rtp_port_max)),
            sip_tls: sip.and(config.sip.tls_listen),
            backend,
            configured_backend: config.model.backend,
            openai_model: config.model.openai_model.clone(),
            openai_key_set: secrets.openai_api_key.is_some(),
            twilio_token_set: secrets.twilio_auth_token.is_some(),
            admin_token_set: secrets.admin_token.is_some(),
            public_base_url: config
                .twilio
                .public_base_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            insecure_skip_signature: config.twilio.insecure_skip_signature,
            grace_secs: config.server.shutdown_grace_secs,
        }
    }
}

fn set(b: bool) -> &'static str {
    if b {
        "set"
    } else {
        "unset"
    }
}

/// A URL a person can open for a bound address (an unspecified address
/// is reached through loopback).
fn local_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && addr.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", addr.port())
}

/// The banner text (several lines, no trailing newline).
pub fn render(f: &Facts) -> String {
    let mut out = String::new();
    let http = local_url(f.http);
    let _ = writeln!(out, "warmline {} is running", env!("CARGO_PKG_VERSION"));
    let bound = if f.http.ip().is_unspecified() {
        format!(" (listening on {})", f.http)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  HTTP     {http}{bound}: {http}/healthz, {http}/readyz, {http}/metrics"
    );
    let model = match (f.backend, f.configured_backend) {
        ("openai", ModelBackend::Openai) => format!(
            "OpenAI Realtime ({}): model.backend = \"openai\"",
            f.openai_model
        ),
        ("openai", _) => format!(
            "OpenAI Realtime ({}): OPENAI_API_KEY is set",
            f.openai_model
        ),
        (_, ModelBackend::Demo) => "the offline demo agent: model.backend = \"demo\". It plays \
             recorded prompts and does not understand speech"
            .to_owned(),
        _ => "the offline demo agent: OPENAI_API_KEY is not set. It plays recorded prompts and \
              does not understand speech; set OPENAI_API_KEY for a real agent"
            .to_owned(),
    };
    let _ = writeln!(out, "  model    {model}");
    let webhook = match &f.public_base_url {
        Some(base) => format!("{base}/twilio/voice"),
        None => "https://<your public host>/twilio/voice (set twilio.public_base_url)".to_owned(),
    };
    let signatures = match (f.twilio_token_set, f.insecure_skip_signature) {
        (true, _) => "signatures checked",
        (false, true) => "signatures NOT checked (twilio.insecure_skip_signature)",
        (false, false) => "refused until TWILIO_AUTH_TOKEN is set",
    };
    let _ = writeln!(
        out,
        "  Twilio   point the number's voice webhook at POST {webhook}; {signatures}"
    );
    match f.sip {
        Some((addr, min, max)) => {
            let _ = writeln!(
                out,
                "  SIP      sip:{addr} over UDP and TCP, RTP on UDP {min}-{max}; only sources a [[sip.trunks]] entry allows are answered"
            );
        }
        None => {
            let _ = writeln!(out, "  SIP      off (sip.enabled = false)");
        }
    }
    if let Some(addr) = f.sip_tls {
        let _ = writeln!(
            out,
            "  SIP TLS  sip:{addr};transport=tls (the certificate is reloaded on SIGHUP)"
        );
    }
    let _ = writeln!(
        out,
        "  secrets  OPENAI_API_KEY {}, TWILIO_AUTH_TOKEN {}, WARMLINE_ADMIN_TOKEN {}{}",
        set(f.openai_key_set),
        set(f.twilio_token_set),
        set(f.admin_token_set),
        if f.admin_token_set {
            ""
        } else {
            " (the /api/v1 routes answer 401)"
        }
    );
    let _ = writeln!(
        out,
        "  stop     Ctrl-C or SIGTERM drains: calls get up to {} s to finish; a second signal ends them now",
        f.grace_secs
    );
    let _ = write!(
        out,
        "  next     curl {http}/healthz; docs/OPERATIONS.md for ports, signals and logs"
    );
    out
}

/// Warnings a first run needs: each a complete sentence saying what to do.
pub fn warnings(f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if f.twilio_token_set && f.public_base_url.is_none() {
        out.push(
            "TWILIO_AUTH_TOKEN is set but twilio.public_base_url is not: Twilio signs the public \
             URL it called, and warmline can only guess it as https://<Host header>, so behind a \
             proxy or tunnel that rewrites Host, or over plain http, every Twilio request is \
             refused. Set WARMLINE_TWILIO__PUBLIC_BASE_URL=https://<your public host>"
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut config = Config::default();
        config.sip.enabled = true;
        Facts::new(
            &config,
            &Secrets {
                openai_api_key: Some("sk-very-secret".into()),
                twilio_auth_token: Some("twilio-very-secret".into()),
                admin_token: Some("admin-very-secret".into()),
            },
            "openai",
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            Some(SocketAddr::from(([127, 0, 0, 1], 5060))),
        )
    }

    #[test]
    fn the_banner_names_the_urls_and_the_backend_and_never_a_secret() {
        let text = render(&facts());
        assert!(text.contains("http://127.0.0.1:8080/healthz"), "{text}");
        assert!(text.contains("sip:127.0.0.1:5060"), "{text}");
        assert!(text.contains("OpenAI Realtime (gpt-realtime): OPENAI_API_KEY is set"));
        assert!(
            text.contains("OPENAI_API_KEY set, TWILIO_AUTH_TOKEN set, WARMLINE_ADMIN_TOKEN set")
        );
        assert!(!text.contains("very-secret"), "{text}");
        assert!(!text.contains("SIP TLS"), "TLS is off by default: {text}");
    }

    #[test]
    fn sip_over_tls_is_in_the_banner_when_it_listens() {
        let mut f = facts();
        f.sip_tls = Some(SocketAddr::from(([0, 0, 0, 0], 5061)));
        let text = render(&f);
        assert!(text.contains("sip:0.0.0.0:5061;transport=tls"), "{text}");
    }

    #[test]
    fn a_twilio_token_without_a_public_base_url_is_warned_about() {
        let mut f = facts();
        assert_eq!(warnings(&f).len(), 1);
        f.public_base_url = Some("https://voice.example.com".into());
        assert!(warnings(&f).is_empty());
        assert!(render(&f).contains("POST https://voice.example.com/twilio/voice"));
        f.public_base_url = None;
        f.twilio_token_set = false;
        assert!(warnings(&f).is_empty());
    }

    #[test]
    fn without_a_key_the_banner_says_the_demo_agent_does_not_understand_speech() {
        let mut f = facts();
        f.backend = "demo";
        f.openai_key_set = false;
        f.sip = None;
        let text = render(&f);
        assert!(text.contains("OPENAI_API_KEY is not set"), "{text}");
        assert!(text.contains("does not understand speech"), "{text}");
        assert!(text.contains("SIP      off"), "{text}");
    }

    #[test]
    fn the_banner_says_when_the_admin_api_has_no_token() {
        let mut f = facts();
        f.admin_token_set = false;
        let text = render(&f);
        assert!(
            text.contains("WARMLINE_ADMIN_TOKEN unset (the /api/v1 routes answer 401)"),
            "{text}"
        );
    }
}
