//! `[webrtc]`: the browser leg's media ports and address, and `[web]`: who
//! may use the `/try` page (decision 0023).

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// `[webrtc]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// Lowest UDP port a WebRTC call's media may bind (one port per call).
    pub udp_port_min: u16,
    /// Highest UDP port a WebRTC call's media may bind.
    pub udp_port_max: u16,
    /// The address offered to browsers as our ICE candidate; none:
    /// `[sip] public_ip`, else the address HTTP listens on (loopback for a
    /// local try-out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            udp_port_min: 40_000,
            udp_port_max: 40_999,
            public_ip: None,
        }
    }
}

impl WebRtcConfig {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), String> {
        if self.udp_port_min == 0 || self.udp_port_min > self.udp_port_max {
            return Err(format!(
                "webrtc.udp_port_min ({}) must be at least 1 and ≤ webrtc.udp_port_max ({})",
                self.udp_port_min, self.udp_port_max
            ));
        }
        Ok(())
    }

    /// The address browsers are told to send media to.
    pub fn advertised_ip(&self, sip_public_ip: Option<IpAddr>, http: SocketAddr) -> IpAddr {
        self.public_ip.or(sip_public_ip).unwrap_or(http.ip())
    }
}

/// Who may open `/try` and call the agent from a browser.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TryAccess {
    /// On while HTTP listens on loopback only, off otherwise: a stranger
    /// on the network must not spend the operator's model credit.
    #[default]
    Auto,
    /// On whatever HTTP binds (a public demo: every call costs credit).
    Open,
    /// Off: `/try` and `/webrtc/ws` answer 404.
    Off,
}

impl TryAccess {
    /// Whether `/try` is served when HTTP listens on `http`.
    pub fn enabled(self, http: SocketAddr) -> bool {
        match self {
            TryAccess::Auto => http.ip().is_loopback(),
            TryAccess::Open => true,
            TryAccess::Off => false,
        }
    }
}

/// `[web]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// `auto` (default), `open` or `off`: see [`TryAccess`].
    #[serde(rename = "try")]
    pub try_access: TryAccess,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_is_on_by_default_only_on_loopback() {
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let public: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        assert!(TryAccess::Auto.enabled(local));
        assert!(!TryAccess::Auto.enabled(public));
        assert!(TryAccess::Open.enabled(public));
        assert!(!TryAccess::Off.enabled(local));
    }

    #[test]
    fn an_empty_port_range_is_refused() {
        let config = WebRtcConfig {
            udp_port_min: 5000,
            udp_port_max: 4000,
            public_ip: None,
        };
        assert!(config.validate().unwrap_err().contains("udp_port_min"));
    }

    #[test]
    fn the_public_ip_falls_back_to_sips_then_to_the_http_address() {
        let http: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let sip: IpAddr = "203.0.113.7".parse().expect("ip");
        let mut config = WebRtcConfig::default();
        assert_eq!(config.advertised_ip(None, http), http.ip());
        assert_eq!(config.advertised_ip(Some(sip), http), sip);
        let own: IpAddr = "198.51.100.1".parse().expect("ip");
        config.public_ip = Some(own);
        assert_eq!(config.advertised_ip(Some(sip), http), own);
    }
}
