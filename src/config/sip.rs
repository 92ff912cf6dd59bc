//! `[sip]` and `[[sip.trunks]]`: the SIP listener, RTP ports, admission,
//! timers, and which carriers may call.
//!
//! Trunks decide who may send INVITEs. A trunk allows a list of source
//! networks, or asks for digest credentials (the password comes from the
//! environment variable the trunk names: secrets never live in the file),
//! or both. With no `[[sip.trunks]]`, one trunk named `local` allows
//! loopback only, so `cargo run` takes SIPp and baresip calls on the same
//! machine and nothing else. Requests from sources no trunk covers are
//! dropped without an answer by default (a scanner learns nothing, as with
//! LiveKit's hidden inbound port), or answered 403 with
//! `unknown_source = "reject"`.
//!
//! Reps' SIP phones register (decision 0032) as `sip:<rep id>@<domain>`
//! from the networks `register_allow` lists (loopback by default), with
//! the digest password the rep's `sip_password_env` names. A REFER from a
//! trunk is refused unless `allow_inbound_refer` says otherwise.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP network: `203.0.113.0/24`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr[/prefix]`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// What happens to requests from sources no trunk allows.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnknownSource {
    /// No answer at all.
    #[default]
    Drop,
    /// `403 Forbidden`.
    Reject,
}

/// SRTP with SDES keys (RFC 4568, `AES_CM_128_HMAC_SHA1_80`) for a
/// trunk's calls.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP only; an `RTP/SAVP` offer gets 488.
    #[default]
    Off,
    /// SRTP when the offer carries a usable `a=crypto`, else plain RTP.
    Optional,
    /// SRTP only; a plain RTP offer gets 488.
    Required,
}

/// `[[sip.trunks]]`: one carrier or PBX.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs.
    pub name: String,
    /// Source networks allowed to call. Empty with digest: any source that
    /// authenticates.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// Digest user name; set together with `digest_password_env`.
    #[serde(default)]
    pub digest_username: Option<String>,
    /// The environment variable holding the digest password.
    #[serde(default)]
    pub digest_password_env: Option<String>,
    /// Digest realm.
    #[serde(default = "default_realm")]
    pub digest_realm: String,
    /// Digest algorithms offered, one challenge each, most preferred first
    /// (RFC 8760): `SHA-256`, `SHA-512-256`, `MD5`. Some clients (SIPp 3.6,
    /// older PBXs) read only the first challenge and know only MD5: list
    /// `MD5` alone for them.
    #[serde(default = "default_algorithms")]
    pub digest_algorithms: Vec<String>,
    /// Concurrent calls from this trunk; above it, `486 Busy Here`.
    #[serde(default)]
    pub max_calls: Option<usize>,
    /// Record every call from this trunk (`[recording]`), whatever its
    /// agent's `record`.
    #[serde(default)]
    pub record: bool,
    /// SRTP for this trunk's media: `off`, `optional` or `required`.
    /// SDES sends keys in the SDP, so pair it with SIP over TLS.
    #[serde(default)]
    pub srtp: SrtpMode,
}

fn default_realm() -> String {
    "warmline".into()
}

fn default_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}

impl TrunkConfig {
    /// Whether this trunk asks for digest credentials.
    pub fn uses_digest(&self) -> bool {
        self.digest_username.is_some()
    }
}

/// `[sip]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Whether the SIP listener runs.
    pub enabled: bool,
    /// UDP and TCP address for SIP.
    pub listen: SocketAddr,
    /// Lowest RTP port (even).
    pub rtp_port_min: u16,
    /// Highest RTP port.
    pub rtp_port_max: u16,
    /// Address to advertise in SDP and Contact when behind NAT.
    pub public_ip: Option<IpAddr>,
    /// Concurrent SIP calls; above it INVITEs get `503` with Retry-After.
    pub max_calls: usize,
    /// Ring time before the 200 OK, ms (the model session opens at once).
    pub answer_delay_ms: u64,
    /// Requests from sources no trunk allows: `drop` or `reject` (403).
    pub unknown_source: UnknownSource,
    /// No RTP for this long ends the call with BYE, seconds.
    pub media_timeout_secs: u64,
    /// The same while the caller holds us, seconds.
    pub hold_media_timeout_secs: u64,
    /// Run the RTP send thread at real-time priority (`SCHED_FIFO` 10)
    /// when the OS allows it (root or `CAP_SYS_NICE`); otherwise it runs
    /// at normal priority and the start-up log says so.
    pub rtp_send_realtime: bool,
    /// Session-Expires we use when the caller asks for none, seconds.
    pub session_expires_secs: u32,
    /// Smallest Session-Expires we accept (422 below it), seconds.
    pub min_se_secs: u32,
    /// Who may call. Default: one trunk, `local`, allowing loopback.
    pub trunks: Vec<TrunkConfig>,
    /// SIP over TLS (RFC 3261 §26.2, usually port 5061): off unless set,
    /// together with `tls_cert_file` and `tls_key_file`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for SIP over TLS, leaf first; re-read on SIGHUP.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `tls_cert_file`.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// The registrar's domain: reps register as `sip:<rep id>@<domain>`,
    /// and it is the digest realm. Default: the host of `listen`.
    pub domain: Option<String>,
    /// Networks whose phones may REGISTER; REGISTERs from elsewhere are
    /// treated like requests from an unknown source (`unknown_source`).
    /// Default: loopback only.
    pub register_allow: Vec<Cidr>,
    /// Digest algorithms the registrar offers, one challenge each, most
    /// preferred first: `SHA-256`, `SHA-512-256`, `MD5` (as for trunks).
    pub register_digest_algorithms: Vec<String>,
    /// Whether a REFER from a trunk (the caller's side asking us to
    /// transfer) is considered. Off: 403, logged as a possible toll-fraud
    /// attempt. On: still `501 Not Implemented`, because following a
    /// REFER is not built yet.
    pub allow_inbound_refer: bool,
    /// `[[sip.outbound]]`: PBXs and carriers warmline places calls
    /// through (a rep's `sip_uri` with `outbound = "<name>"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<OutboundConfig>,
}

/// How an outbound trunk is reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutboundTransport {
    /// UDP.
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2), the server's certificate verified
    /// against `tls_server_name` (decision 0039).
    Tls,
}

impl OutboundTransport {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundTransport::Udp => "udp",
            OutboundTransport::Tcp => "tcp",
            OutboundTransport::Tls => "tls",
        }
    }
}

/// `[[sip.outbound]]`: a PBX or carrier that takes our INVITEs for the
/// URIs behind it (decision 0034).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The name reps refer to (`[[reps]] outbound`).
    pub name: String,
    /// Where the INVITEs go, `ip:port` (names are not resolved).
    pub address: SocketAddr,
    /// `udp` (default), `tcp` or `tls`.
    #[serde(default)]
    pub transport: OutboundTransport,
    /// With `tls`: the name the trunk's certificate must carry (a DNS name,
    /// or an IP address for a certificate issued to one); also sent as
    /// SNI. Required, because `address` is an IP address and names are
    /// not resolved.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// With `tls`: PEM certificates to trust for this trunk instead of the
    /// Mozilla root set built into warmline (a PBX's private CA). A
    /// relative path is taken from the config file's directory.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// The digest user name to answer a 401/407 with.
    #[serde(default)]
    pub username: Option<String>,
    /// The variable holding the digest password (with `username`).
    #[serde(default)]
    pub password_env: Option<String>,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            rtp_port_min: 10_000,
            rtp_port_max: 20_000,
            public_ip: None,
            max_calls: 1_000,
            answer_delay_ms: 0,
            unknown_source: UnknownSource::Drop,
            media_timeout_secs: 30,
            hold_media_timeout_secs: 1_800,
            rtp_send_realtime: true,
            session_expires_secs: 1_800,
            min_se_secs: 90,
            trunks: vec![TrunkConfig {
                name: "local".into(),
                allow: loopback(),
                record: false,
                digest_username: None,
                digest_password_env: None,
                digest_realm: default_realm(),
                digest_algorithms: default_algorithms(),
                max_calls: None,
                srtp: SrtpMode::Off,
            }],
            tls_listen: None,
            tls_cert_file: None,
            tls_key_file: None,
            domain: None,
            register_allow: loopback(),
            register_digest_algorithms: default_algorithms(),
            allow_inbound_refer: false,
            outbound: Vec::new(),
        }
    }
}

/// 127.0.0.0/8 and ::1/128.
fn loopback() -> Vec<Cidr> {
    vec![
        Cidr {
            addr: IpAddr::from([127, 0, 0, 0]),
            prefix: 8,
        },
        Cidr {
            addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
    ]
}

impl OutboundConfig {
    /// Whether calls through this trunk go over TLS.
    pub fn is_tls(&self) -> bool {
        self.transport == OutboundTransport::Tls
    }

    /// Resolves a relative `tls_ca_file` against the config file's
    /// directory, as other file keys are.
    pub fn resolve(&mut self, origin: &std::path::Path) {
        if let Some(file) = self.tls_ca_file.as_ref().filter(|f| f.is_relative()) {
            let base = origin.parent().unwrap_or(std::path::Path::new("."));
            self.tls_ca_file = Some(base.join(file));
        }
    }

    /// Reads `tls_ca_file`, which must hold usable PEM certificates
    /// (`warmline check` and the start both call it).
    pub fn check_ca_file(&self) -> Result<(), String> {
        match &self.tls_ca_file {
            Some(path) => crate::tls::roots_from_pem_file(path)
                .map(|_| ())
                .map_err(|e| format!("sip.outbound {:?}: tls_ca_file: {e}", self.name)),
            None => Ok(()),
        }
    }
}

impl SipConfig {
    /// The TLS keys of one `[[sip.outbound]]` entry: a server name that
    /// rustls can verify when the transport is `tls`, no TLS keys on a
    /// plain entry, a TLS listener for the peer's in-dialog requests, and
    /// one way of reaching each address.
    fn validate_outbound_tls(&self, o: &OutboundConfig) -> Result<(), String> {
        if !o.is_tls() {
            if o.tls_server_name.is_some() || o.tls_ca_file.is_some() {
                return Err(format!(
                    "sip.outbound {:?}: tls_server_name and tls_ca_file apply only to transport = \"tls\"",
                    o.name
                ));
            }
            return Ok(());
        }
        let Some(name) = o.tls_server_name.as_deref() else {
            return Err(format!(
                "sip.outbound {:?}: transport = \"tls\" needs tls_server_name, the name its certificate \
                 carries (address is an IP address, and names are not resolved)",
                o.name
            ));
        };
        if rustls::pki_types::ServerName::try_from(name).is_err() {
            return Err(format!(
                "sip.outbound {:?}: tls_server_name {name:?} is not a DNS name or IP address",
                o.name
            ));
        }
        if self.tls_listen.is_none() {
            return Err(format!(
                "sip.outbound {:?}: transport = \"tls\" needs [sip] tls_listen (with tls_cert_file and \
                 tls_key_file): the trunk sends its requests in the call (BYE, re-INVITE) to our Contact \
                 over TLS",
                o.name
            ));
        }
        let clash = self.outbound.iter().find(|other| {
            other.address == o.address
                && other.transport != OutboundTransport::Udp
                && (other.transport != o.transport
                    || other.tls_server_name != o.tls_server_name
                    || other.tls_ca_file != o.tls_ca_file)
        });
        if let Some(other) = clash {
            return Err(format!(
                "sip.outbound {:?} and {:?} reach {} over streams in different ways: entries sharing an \
                 address over TLS must agree on transport, tls_server_name and tls_ca_file",
                o.name, other.name, o.address
            ));
        }
        Ok(())
    }

    /// The registrar's domain: `domain`, or the host of `listen` (an IPv6
    /// host in brackets, as in a URI).
    pub fn registrar_domain(&self) -> String {
        match (&self.domain, self.listen.ip()) {
            (Some(domain), _) => domain.clone(),
            (None, IpAddr::V6(v6)) => format!("[{v6}]"),
            (None, v4) => v4.to_string(),
        }
    }

    /// Checks relations the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(domain) = &self.domain {
            if warmline_sip::message::Host::parse(domain).is_err() {
                return Err(format!(
                    "sip.domain {domain:?} is not a host name or IP address"
                ));
            }
        }
        if self.register_digest_algorithms.is_empty() {
            return Err("sip.register_digest_algorithms must name at least one algorithm".into());
        }
        for a in &self.register_digest_algorithms {
            if a.parse::<warmline_sip::auth::Algorithm>().is_err() {
                return Err(format!(
                    "sip.register_digest_algorithms: {a:?} is not SHA-256, SHA-512-256 or MD5"
                ));
            }
        }
        if self.rtp_port_min >= self.rtp_port_max || !self.rtp_port_min.is_multiple_of(2) {
            return Err(format!(
                "sip.rtp_port_min ({}) must be even and below sip.rtp_port_max ({})",
                self.rtp_port_min, self.rtp_port_max
            ));
        }
        if self.min_se_secs < 90 || self.session_expires_secs < self.min_se_secs {
            return Err(format!(
                "sip.min_se_secs ({}) must be at least 90 and at most sip.session_expires_secs ({})",
                self.min_se_secs, self.session_expires_secs
            ));
        }
        let tls = [
            self.tls_listen.is_some(),
            self.tls_cert_file.is_some(),
            self.tls_key_file.is_some(),
        ];
        if tls.iter().any(|set| *set) && !tls.iter().all(|set| *set) {
            return Err(
                "sip.tls_listen, sip.tls_cert_file and sip.tls_key_file go together: set all three for SIP over TLS, or none"
                    .into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for o in &self.outbound {
            if o.name.is_empty() || !names.insert(o.name.as_str()) {
                return Err(format!(
                    "sip.outbound name {:?} must be set and unique",
                    o.name
                ));
            }
            if o.username.is_some() != o.password_env.is_some() {
                return Err(format!(
                    "sip.outbound {:?}: set username and password_env together",
                    o.name
                ));
            }
            self.validate_outbound_tls(o)?;
        }
        for t in &self.trunks {
            if t.digest_username.is_some() != t.digest_password_env.is_some() {
                return Err(format!(
                    "trunk {:?}: set digest_username and digest_password_env together",
                    t.name
                ));
            }
            if t.allow.is_empty() && !t.uses_digest() {
                return Err(format!(
                    "trunk {:?} allows no source and asks for no credentials: nobody could call",
                    t.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
