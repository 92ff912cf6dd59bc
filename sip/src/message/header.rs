//! Header names and the typed values a trunk needs: Via, name-addr
//! (From/To/Contact/Route/Record-Route), CSeq, and generic parameters.
//!
//! Header names are kept in their canonical long form, so `v:` and
//! `VIA:` both become `Via`. Comma-joined values are split only for the
//! headers whose grammar is a list (RFC 3261 §7.3.1): splitting a
//! `WWW-Authenticate` or `Date` value at its commas would break it.

use std::fmt;

use super::uri::{split_host_port, Host, Uri};
use super::{MessageError, Method};

/// Compact forms (RFC 3261 §7.3.3 and later RFCs) and the canonical
/// spelling of the headers warmline reads.
const CANONICAL: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
    ("u", "Allow-Events"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
    ("n", "Identity-Info"),
    ("call-id", "Call-ID"),
    ("contact", "Contact"),
    ("content-encoding", "Content-Encoding"),
    ("content-length", "Content-Length"),
    ("content-type", "Content-Type"),
    ("from", "From"),
    ("subject", "Subject"),
    ("supported", "Supported"),
    ("to", "To"),
    ("via", "Via"),
    ("event", "Event"),
    ("refer-to", "Refer-To"),
    ("referred-by", "Referred-By"),
    ("session-expires", "Session-Expires"),
    ("min-se", "Min-SE"),
    ("cseq", "CSeq"),
    ("max-forwards", "Max-Forwards"),
    ("route", "Route"),
    ("record-route", "Record-Route"),
    ("allow", "Allow"),
    ("require", "Require"),
    ("proxy-require", "Proxy-Require"),
    ("unsupported", "Unsupported"),
    ("accept", "Accept"),
    ("expires", "Expires"),
    ("user-agent", "User-Agent"),
    ("server", "Server"),
    ("www-authenticate", "WWW-Authenticate"),
    ("authorization", "Authorization"),
    ("proxy-authenticate", "Proxy-Authenticate"),
    ("proxy-authorization", "Proxy-Authorization"),
    ("retry-after", "Retry-After"),
    ("reason", "Reason"),
    ("p-asserted-identity", "P-Asserted-Identity"),
    ("subscription-state", "Subscription-State"),
    ("rseq", "RSeq"),
    ("rack", "RAck"),
];

/// The canonical spelling of a header name: compact forms expanded and
/// known names in their usual case; unknown names are kept as sent.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    CANONICAL
        .iter()
        .find(|(k, _)| *k == lower)
        .map_or_else(|| name.to_owned(), |(_, v)| (*v).to_owned())
}

/// Headers whose values are comma-separated lists (RFC 3261 §7.3.1).
pub(crate) fn is_list_header(canonical: &str) -> bool {
    matches!(
        canonical,
        "Via"
            | "Contact"
            | "Route"
            | "Record-Route"
            | "Allow"
            | "Supported"
            | "Require"
            | "Proxy-Require"
            | "Unsupported"
            | "Accept"
            | "Allow-Events"
            | "Content-Encoding"
            | "P-Asserted-Identity"
    )
}

/// Headers that may appear only once in a message.
pub(crate) fn is_single_header(canonical: &str) -> bool {
    matches!(
        canonical,
        "Call-ID" | "CSeq" | "From" | "To" | "Max-Forwards" | "Content-Length" | "Content-Type"
    )
}

/// Splits a list value at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth_angle = false;
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth_angle = true,
            '>' if !quoted => depth_angle = false,
            ',' if !quoted && !depth_angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Ordered `;name[=value]` parameters; names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// The value of `name`: `None` if absent, `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (or replaces) `name`.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// How many times `name` appears.
    pub fn count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
}

/// Parses `a=1;b;c="x;y"` (without the leading `;`).
pub(crate) fn parse_params(s: &str) -> Result<Params, MessageError> {
    let mut out = Vec::new();
    for part in split_unquoted(s, ';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
            None => (part, None),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(MessageError::Param(part.to_owned()));
        }
        out.push((name.to_owned(), value));
    }
    Ok(Params(out))
}

pub(crate) fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for (k, v) in &params.0 {
        match v {
            Some(v) => write!(f, ";{k}={v}")?,
            None => write!(f, ";{k}")?,
        }
    }
    Ok(())
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// A `name-addr` or `addr-spec` with header parameters: From, To,
/// Contact, Route, Record-Route, Refer-To.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters after the URI (`;tag=…`, `;expires=…`).
    pub params: Params,
}

impl NameAddr {
    /// Parses one name-addr (`"Bob" <sip:bob@h>;tag=1`) or addr-spec
    /// (`sip:bob@h;tag=1`, where the parameters belong to the header).
    pub fn parse(s: &str) -> Result<NameAddr, MessageError> {
        let s = s.trim();
        if let Some(open) = find_unquoted(s, '<') {
            let close = s[open..]
                .find('>')
                .map(|i| i + open)
                .ok_or_else(|| MessageError::uri(s, "'<' without '>'"))?;
            let display = s[..open].trim();
            let display = if display.is_empty() {
                None
            } else {
                Some(unquote(display))
            };
            let uri = Uri::parse(&s[open + 1..close])?;
            let rest = s[close + 1..].trim();
            let params = match rest.strip_prefix(';') {
                Some(p) => parse_params(p)?,
                None if rest.is_empty() => Params::default(),
                None => return Err(MessageError::uri(s, "junk after '>'")),
            };
            Ok(NameAddr {
                display,
                uri,
                params,
            })
        } else {
            // addr-spec: parameters after the URI are header parameters.
            let (uri, params) = match s.split_once(';') {
                Some((u, p)) => (u, parse_params(p)?),
                None => (s, Params::default()),
            };
            Ok(NameAddr {
                display: None,
                uri: Uri::parse(uri)?,
                params,
            })
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == target && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Removes surrounding quotes and backslash escapes.
pub(crate) fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// One Via entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`…, uppercased.
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Parameters (`branch`, `received`, `rport`).
    pub params: Params,
}

impl Via {
    /// Parses one Via value (`SIP/2.0/UDP host:port;branch=z9hG4bK…`).
    pub fn parse(s: &str) -> Result<Via, MessageError> {
        let bad = |why: &'static str| MessageError::Header {
            name: "Via".into(),
            reason: why.into(),
        };
        let s = s.trim();
        let (protocol, rest) = s
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or_else(|| bad("no sent-by after the protocol"))?;
        let mut proto = protocol.split('/').map(str::trim);
        let (Some(name), Some(version), Some(transport), None) =
            (proto.next(), proto.next(), proto.next(), proto.next())
        else {
            return Err(bad("protocol is not SIP/2.0/<transport>"));
        };
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
            return Err(bad("protocol is not SIP/2.0/<transport>"));
        }
        let rest = rest.trim();
        let (sent_by, params) = match rest.split_once(';') {
            Some((h, p)) => (h.trim(), parse_params(p)?),
            None => (rest, Params::default()),
        };
        let (host, port) = split_host_port(sent_by).map_err(|_| bad("bad sent-by host or port"))?;
        if params.count("branch") > 1 {
            return Err(bad("more than one branch parameter"));
        }
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// The CSeq header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (below 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `314159 INVITE`.
    pub fn parse(s: &str) -> Result<CSeq, MessageError> {
        let bad = |why: &'static str| MessageError::Header {
            name: "CSeq".into(),
            reason: why.into(),
        };
        let mut parts = s.split_whitespace();
        let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not '<number> <method>'"));
        };
        if !super::parse::is_digits(seq) {
            return Err(bad("sequence number is not a number below 2^31"));
        }
        let seq: u32 = seq
            .parse()
            .map_err(|_| bad("sequence number is not a number below 2^31"))?;
        if seq >= 1 << 31 {
            return Err(bad("sequence number is not a number below 2^31"));
        }
        Ok(CSeq {
            seq,
            method: Method::parse(method).map_err(|_| bad("method is not a token"))?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}
