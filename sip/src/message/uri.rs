//! SIP and tel URIs (RFC 3261 §19.1, RFC 3966), enough of them for a
//! trunk: scheme, user, host (name, IPv4 or bracketed IPv6), port, and
//! parameters. URI headers (`?…`) are kept as one raw string.

use std::fmt;

use super::header::{parse_params, write_params, Params};
use super::MessageError;

/// A URI scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
}

/// A host: a domain name or an address. IPv6 literals are stored without
/// their brackets and written with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A domain name.
    Name(String),
    /// An IPv4 or IPv6 address.
    Ip(std::net::IpAddr),
}

impl Host {
    /// Parses a host as it appears in a URI or Via (`[::1]` for IPv6).
    pub fn parse(s: &str) -> Result<Host, MessageError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| MessageError::uri(s, "IPv6 host without its closing bracket"))?;
            return inner
                .parse::<std::net::Ipv6Addr>()
                .map(|a| Host::Ip(a.into()))
                .map_err(|_| MessageError::uri(s, "bad IPv6 address"));
        }
        if s.is_empty() {
            return Err(MessageError::uri(s, "empty host"));
        }
        if let Ok(v4) = s.parse::<std::net::Ipv4Addr>() {
            return Ok(Host::Ip(v4.into()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(MessageError::uri(
                s,
                "host has characters a domain name cannot",
            ));
        }
        Ok(Host::Name(s.to_owned()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(std::net::IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
        }
    }
}

/// Splits `host[:port]`, with IPv6 in brackets.
pub(crate) fn split_host_port(s: &str) -> Result<(Host, Option<u16>), MessageError> {
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let rest = &s[end + 1..];
                let port = match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if rest.is_empty() => None,
                    None => return Err(MessageError::uri(s, "junk after the IPv6 host")),
                };
                (&s[..=end], port)
            }
            None => {
                return Err(MessageError::uri(
                    s,
                    "IPv6 host without its closing bracket",
                ))
            }
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|_| super::parse::is_digits(p))
                .ok_or_else(|| MessageError::uri(s, "port is not a number from 0 to 65535"))?,
        ),
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

/// A `sip:`, `sips:` or `tel:` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part (the number of a tel URI), still percent-encoded.
    pub user: Option<String>,
    /// The host (for tel URIs, an empty name).
    pub host: Host,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp`, `;user=phone`, `;lr`).
    pub params: Params,
    /// URI headers after `?`, raw.
    pub headers: Option<String>,
}

impl Uri {
    /// Parses a URI.
    pub fn parse(s: &str) -> Result<Uri, MessageError> {
        let (scheme, rest) = match s.split_once(':') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sip") => (Scheme::Sip, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sips") => (Scheme::Sips, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("tel") => (Scheme::Tel, rest),
            _ => return Err(MessageError::uri(s, "scheme is not sip:, sips: or tel:")),
        };
        if rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(MessageError::uri(
                s,
                "whitespace or a control character inside",
            ));
        }
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (rest, None),
        };
        if scheme == Scheme::Tel {
            let (number, params) = match rest.split_once(';') {
                Some((n, p)) => (n, parse_params(p)?),
                None => (rest, Params::default()),
            };
            if number.is_empty() {
                return Err(MessageError::uri(s, "tel URI without a number"));
            }
            return Ok(Uri {
                scheme,
                user: Some(number.to_owned()),
                host: Host::Name(String::new()),
                port: None,
                params,
                headers,
            });
        }
        let (user, hostport_params) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (hostport, params) = match hostport_params.split_once(';') {
            Some((h, p)) => (h, parse_params(p)?),
            None => (hostport_params, Params::default()),
        };
        let user = match user {
            // `user:password@host`: the password is deprecated; drop it.
            Some(u) => {
                let u = u.split_once(':').map_or(u, |(user, _)| user);
                if u.is_empty() {
                    return Err(MessageError::uri(s, "empty user before '@'"));
                }
                Some(u.to_owned())
            }
            None => None,
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Uri {
            scheme,
            user,
            host,
            port,
            params,
            headers,
        })
    }

    /// A `sip:` URI for `user@host:port`.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            host,
            port,
            params: Params::default(),
            headers: None,
        }
    }

    /// The `transport` parameter, lowercased, if present.
    pub fn transport(&self) -> Option<String> {
        self.params
            .get("transport")
            .flatten()
            .map(|t| t.to_ascii_lowercase())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Sip => f.write_str("sip:")?,
            Scheme::Sips => f.write_str("sips:")?,
            Scheme::Tel => {
                write!(f, "tel:{}", self.user.as_deref().unwrap_or(""))?;
                write_params(f, &self.params)?;
                if let Some(h) = &self.headers {
                    write!(f, "?{h}")?;
                }
                return Ok(());
            }
        }
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}
