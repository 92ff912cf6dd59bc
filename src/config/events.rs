//! `[events]`: the call-events webhook (`call.started`, `call.ended`),
//! checked by `warmline check` like a tool webhook.
//!
//! The signing key is named, never written: `secret_env` names a variable
//! (the override parser leaves it alone), and without it the tools' key
//! `WARMLINE_TOOLS_SECRET` signs the events too.

use serde::{Deserialize, Serialize};

use super::tools::TOOLS_SECRET_VAR;

/// Most retries an event may ask for.
pub const MAX_EVENT_RETRIES: u32 = 10;

/// `[events]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Where `call.started` and `call.ended` are POSTed; none: no events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The variable holding the signing key, instead of
    /// `WARMLINE_TOOLS_SECRET`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Each delivery attempt must be answered within this, ms.
    pub timeout_ms: u64,
    /// Extra attempts after a 5xx, a 429, a timeout or a connection error
    /// (events are idempotent by their id).
    pub retries: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            url: None,
            secret_env: None,
            timeout_ms: 5_000,
            retries: 3,
        }
    }
}

impl EventsConfig {
    /// The environment variables this section names.
    pub fn named_env(&self) -> impl Iterator<Item = &str> {
        self.secret_env.as_deref().into_iter()
    }

    /// Checks the section; `env` answers whether a variable is set.
    pub fn validate(&self, env: &dyn Fn(&str) -> bool) -> Result<(), String> {
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(format!(
                "events.timeout_ms ({}) must be 100..=60000",
                self.timeout_ms
            ));
        }
        if self.retries > MAX_EVENT_RETRIES {
            return Err(format!(
                "events.retries ({}) must be at most {MAX_EVENT_RETRIES}",
                self.retries
            ));
        }
        let Some(url) = &self.url else {
            return Ok(());
        };
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => {
                return Err(format!(
                    "events.url {url:?} must be http:// or https:// with a host"
                ))
            }
            Err(e) => return Err(format!("events.url {url:?} is not a URL: {e}")),
        }
        match &self.secret_env {
            Some(var) if !env(var) => {
                Err(format!("events.secret_env names {var}, which is not set"))
            }
            Some(_) => Ok(()),
            None if !env(TOOLS_SECRET_VAR) => Err(format!(
                "events are signed: set {TOOLS_SECRET_VAR} or events.secret_env"
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> EventsConfig {
        toml::from_str(text).expect("an [events] table")
    }

    #[test]
    fn no_url_means_no_events_and_needs_no_key() {
        assert_eq!(events(""), EventsConfig::default());
        assert_eq!(events("").validate(&|_| false), Ok(()));
    }

    #[test]
    fn check_refuses_a_bad_url_an_unset_key_and_out_of_range_values() {
        let set = |v: &str| v == "CRM_SECRET";
        let ok = events("url = \"https://crm.example.com/hook\"\nsecret_env = \"CRM_SECRET\"");
        assert_eq!(ok.validate(&set), Ok(()));
        let no_key = events("url = \"https://crm.example.com/hook\"");
        assert!(no_key
            .validate(&set)
            .is_err_and(|e| e.contains("WARMLINE_TOOLS_SECRET")));
        assert_eq!(no_key.validate(&|v| v == TOOLS_SECRET_VAR), Ok(()));
        let unset = events("url = \"https://crm.example.com/hook\"\nsecret_env = \"NOPE\"");
        assert!(unset.validate(&set).is_err_and(|e| e.contains("NOPE")));
        let ftp = events("url = \"ftp://crm.example.com/hook\"\nsecret_env = \"CRM_SECRET\"");
        assert!(ftp.validate(&set).is_err_and(|e| e.contains("http")));
        let slow = events("timeout_ms = 99");
        assert!(slow.validate(&set).is_err_and(|e| e.contains("timeout_ms")));
        let many = events("retries = 11");
        assert!(many.validate(&set).is_err_and(|e| e.contains("retries")));
    }
}
