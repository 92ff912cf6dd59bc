//! Parsing and formatting of digest header values.
//!
//! Grammar (RFC 7616 §3.3/§3.4, RFC 3261 §25.1): `Digest` then a comma-separated list of
//! `name=value`, where a value is a token or a quoted string with backslash escapes. Real
//! peers are looser than the grammar, so the parser accepts quoted values where tokens are
//! expected (`algorithm="MD5"`, `qop="auth"`, `nc="00000001"`), unquoted values where quoted
//! strings are expected (`nonce=abc/def+=`), empty list elements (`,,`), and CR/LF inside the
//! whitespace (folded lines). The formatter is strict: it quotes exactly what RFC 7616
//! quotes.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use super::digest::truncated;
use super::{Algorithm, AuthError};

/// Longest header value accepted, in bytes. Real challenges and answers are 200-600 bytes;
/// the limit keeps a hostile peer from making us scan or allocate much.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;

/// Most parameters accepted in one header value (RFC 7616 defines 14).
pub const MAX_PARAMS: usize = 32;

/// A quality-of-protection option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: the response covers method and URI. The only one this module answers.
    Auth,
    /// `auth-int`: the response also covers the body. Parsed, never answered.
    AuthInt,
}

impl Qop {
    /// The token on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }

    fn from_token(s: &str) -> Option<Self> {
        [Qop::Auth, Qop::AuthInt]
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of a `WWW-Authenticate` or `Proxy-Authenticate` header with the Digest scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space; the client answers with credentials for this realm.
    pub realm: String,
    /// Server nonce; never empty.
    pub nonce: String,
    /// Opaque server data the client echoes unchanged.
    pub opaque: Option<String>,
    /// `stale=true`: the previous answer was right but its nonce had expired, so the client
    /// should retry with this nonce without asking for a new password.
    pub stale: bool,
    /// `None` when the header named no algorithm, which means MD5 (see
    /// [`Challenge::algorithm`]).
    pub algorithm: Option<Algorithm>,
    /// The `qop` options offered, in order; empty means the RFC 2069 form (no qop).
    pub qop: Vec<Qop>,
    /// The `domain` parameter as sent: a space-separated URI list (rare in SIP).
    pub domain: Option<String>,
}

impl Challenge {
    /// Parses a header value such as `Digest realm="asterisk",nonce="…",algorithm=MD5`.
    ///
    /// Unknown parameters are ignored; unknown `qop` options are skipped. A challenge whose
    /// algorithm is not supported (including `-sess` variants) is an
    /// [`AuthError::UnsupportedAlgorithm`], so a caller holding several challenges simply
    /// keeps the ones that parse.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let params = parse_params(value)?;
        let realm = required(&params, "realm")?;
        let nonce = required(&params, "nonce")?;
        if nonce.is_empty() {
            return Err(AuthError::MalformedParam {
                param: "nonce",
                why: "it is empty",
            });
        }
        let opaque = optional(&params, "opaque")?;
        let stale = optional(&params, "stale")?.is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let algorithm = optional(&params, "algorithm")?
            .map(|v| v.parse::<Algorithm>())
            .transpose()?;
        let qop = match optional(&params, "qop")? {
            None => Vec::new(),
            Some(list) => {
                let known: Vec<Qop> = list
                    .split(',')
                    .filter_map(|t| Qop::from_token(t.trim_matches(is_lws_char)))
                    .collect();
                // A qop list with nothing we recognise cannot be answered correctly: the
                // RFC 2069 form would be rejected by a server that demands a qop.
                if known.is_empty() {
                    return Err(AuthError::MalformedParam {
                        param: "qop",
                        why: "it offers neither auth nor auth-int",
                    });
                }
                known
            }
        };
        let domain = optional(&params, "domain")?;
        Ok(Challenge {
            realm,
            nonce,
            opaque,
            stale,
            algorithm,
            qop,
            domain,
        })
    }

    /// The algorithm in effect: the one named, or MD5 when none was (RFC 7616 §3.3).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }
}

impl FromStr for Challenge {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Challenge::parse(s)
    }
}

impl fmt::Display for Challenge {
    /// The header value: quoted `realm`, `domain`, `nonce`, `opaque`, `qop` list; bare
    /// `stale` and `algorithm` tokens (RFC 7616 §3.3).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        if let Some(domain) = &self.domain {
            f.write_str(", domain=")?;
            write_quoted(f, domain)?;
        }
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        if let Some(algorithm) = self.algorithm {
            write!(f, ", algorithm={algorithm}")?;
        }
        if !self.qop.is_empty() {
            f.write_str(", qop=\"")?;
            for (i, q) in self.qop.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                f.write_str(q.name())?;
            }
            f.write_char('"')?;
        }
        Ok(())
    }
}

/// The value of an `Authorization` or `Proxy-Authorization` header with the Digest scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// The user name.
    pub username: String,
    /// The realm of the challenge being answered.
    pub realm: String,
    /// The nonce of the challenge being answered.
    pub nonce: String,
    /// The digest URI: the Request-URI of the request (RFC 3261 §22.4).
    pub uri: String,
    /// The response, hex.
    pub response: String,
    /// `None` when the header named no algorithm, which means MD5.
    pub algorithm: Option<Algorithm>,
    /// Client nonce; present whenever `qop` is.
    pub cnonce: Option<String>,
    /// The challenge's opaque value, echoed.
    pub opaque: Option<String>,
    /// The qop chosen; `None` is the RFC 2069 form.
    pub qop: Option<Qop>,
    /// Nonce count; present whenever `qop` is.
    pub nc: Option<u32>,
}

impl DigestCredentials {
    /// Parses a header value such as `Digest username="alice", realm="…", …`.
    ///
    /// `username`, `realm`, `nonce`, `uri` and `response` are required, and `cnonce` and `nc`
    /// are required when `qop` is present (RFC 7616 §3.4). Unknown parameters are ignored.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let params = parse_params(value)?;
        let username = required(&params, "username")?;
        let realm = required(&params, "realm")?;
        let nonce = required(&params, "nonce")?;
        let uri = required(&params, "uri")?;
        let response = required(&params, "response")?;
        if response.is_empty() || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::MalformedParam {
                param: "response",
                why: "it is not a hex digest",
            });
        }
        let algorithm = optional(&params, "algorithm")?
            .map(|v| v.parse::<Algorithm>())
            .transpose()?;
        let cnonce = optional(&params, "cnonce")?;
        let opaque = optional(&params, "opaque")?;
        let qop = optional(&params, "qop")?
            .map(|v| {
                Qop::from_token(&v).ok_or(AuthError::MalformedParam {
                    param: "qop",
                    why: "it is neither auth nor auth-int",
                })
            })
            .transpose()?;
        let nc = optional(&params, "nc")?.map(|v| parse_nc(&v)).transpose()?;
        if qop.is_some() {
            if cnonce.is_none() {
                return Err(AuthError::MissingParam("cnonce"));
            }
            if nc.is_none() {
                return Err(AuthError::MissingParam("nc"));
            }
        }
        Ok(DigestCredentials {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            cnonce,
            opaque,
            qop,
            nc,
        })
    }

    /// The algorithm in effect: the one named, or MD5 when none was.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }
}

impl FromStr for DigestCredentials {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DigestCredentials::parse(s)
    }
}

impl fmt::Display for DigestCredentials {
    /// The header value: quoted `username`, `realm`, `nonce`, `uri`, `response`, `cnonce`,
    /// `opaque`; bare `algorithm`, `qop` and `nc` (RFC 7616 §3.4: "a sender MUST NOT generate
    /// the quoted string syntax" for those three).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        if let Some(algorithm) = self.algorithm {
            write!(f, ", algorithm={algorithm}")?;
        }
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            write_quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={qop}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

/// `nc` is 8 hex digits on the wire; a few peers drop leading zeros, so 1 to 8 are accepted.
fn parse_nc(v: &str) -> Result<u32, AuthError> {
    let malformed = AuthError::MalformedParam {
        param: "nc",
        why: "it is not 1 to 8 hex digits",
    };
    if v.is_empty() || v.len() > 8 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed);
    }
    u32::from_str_radix(v, 16).map_err(|_| malformed)
}

/// Writes `s` as a quoted string. `"` and `\` are escaped; control characters are dropped,
/// because no escaping makes CR or LF legal inside a header and letting one through would
/// split the header (callers that build values from configuration reject them earlier).
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c if c.is_control() && c != '\t' => {}
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// One `name=value` pair; the value is unescaped.
struct Param<'a> {
    name: &'a str,
    value: String,
}

fn required(params: &[Param<'_>], name: &'static str) -> Result<String, AuthError> {
    optional(params, name)?.ok_or(AuthError::MissingParam(name))
}

/// The value of `name` (matched case-insensitively), refusing duplicates.
fn optional(params: &[Param<'_>], name: &'static str) -> Result<Option<String>, AuthError> {
    let mut found = params.iter().filter(|p| p.name.eq_ignore_ascii_case(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(AuthError::DuplicateParam(name));
    }
    Ok(first.map(|p| p.value.clone()))
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_lws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// RFC 7230 `tchar`: what a parameter name (and the scheme) is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Control characters other than HTAB; never valid inside a quoted string.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Bytes allowed in an unquoted value. Wider than `tchar` because peers send base64 nonces
/// (`/`, `+`, `=`) unquoted; stops at whitespace, `,` and `"`.
fn is_bare_value_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && b != b',' && b != b'"'
}

fn skip_lws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|&b| is_lws(b)) {
        i += 1;
    }
    i
}

fn syntax(at: usize, what: &'static str) -> AuthError {
    AuthError::Syntax { at, what }
}

/// Splits `Digest a=b, c="d"` into its parameters, enforcing the limits.
///
/// Every slice boundary is at an ASCII byte, so slicing the `&str` cannot split a character;
/// `get` is used anyway so that a mistake here is an error, not a panic.
fn parse_params(input: &str) -> Result<Vec<Param<'_>>, AuthError> {
    if input.len() > MAX_HEADER_VALUE_LEN {
        return Err(AuthError::TooLong {
            len: input.len(),
            max: MAX_HEADER_VALUE_LEN,
        });
    }
    let bytes = input.as_bytes();
    let mut i = skip_lws(bytes, 0);
    if i == bytes.len() {
        return Err(AuthError::Empty);
    }
    let scheme_start = i;
    while bytes.get(i).is_some_and(|&b| is_tchar(b)) {
        i += 1;
    }
    let scheme = input.get(scheme_start..i).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("digest") {
        let shown = if scheme.is_empty() {
            input.get(scheme_start..).unwrap_or_default()
        } else {
            scheme
        };
        return Err(AuthError::NotDigest(truncated(shown)));
    }
    if bytes.get(i).is_some_and(|&b| !is_lws(b)) {
        return Err(syntax(i, "expected whitespace after the Digest scheme"));
    }

    let mut params = Vec::new();
    loop {
        i = skip_lws(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        if b == b',' {
            // Empty list elements are allowed by the #rule (RFC 7230 §7).
            i += 1;
            continue;
        }
        if params.len() == MAX_PARAMS {
            return Err(AuthError::TooManyParams { max: MAX_PARAMS });
        }
        let name_start = i;
        while bytes.get(i).is_some_and(|&b| is_tchar(b)) {
            i += 1;
        }
        if name_start == i {
            return Err(syntax(i, "expected a parameter name"));
        }
        let name = input
            .get(name_start..i)
            .ok_or(syntax(name_start, "parameter name is not text"))?;
        i = skip_lws(bytes, i);
        if bytes.get(i) != Some(&b'=') {
            return Err(syntax(i, "expected '=' after a parameter name"));
        }
        i = skip_lws(bytes, i + 1);
        let value = match bytes.get(i) {
            None => return Err(syntax(i, "expected a parameter value")),
            Some(b'"') => {
                let (value, next) = parse_quoted(bytes, i)?;
                i = next;
                value
            }
            Some(_) => {
                let value_start = i;
                while bytes.get(i).is_some_and(|&b| is_bare_value_byte(b)) {
                    i += 1;
                }
                if value_start == i {
                    return Err(syntax(i, "expected a parameter value"));
                }
                input
                    .get(value_start..i)
                    .ok_or(syntax(value_start, "parameter value is not text"))?
                    .to_owned()
            }
        };
        params.push(Param { name, value });
        i = skip_lws(bytes, i);
        match bytes.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(syntax(i, "expected ',' between parameters")),
        }
    }
    Ok(params)
}

/// Parses the quoted string opening at `bytes[open]` (a `"`); returns the unescaped value and
/// the index just past the closing quote.
fn parse_quoted(bytes: &[u8], open: usize) -> Result<(String, usize), AuthError> {
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        match bytes.get(i) {
            None => return Err(syntax(open, "unterminated quoted string")),
            Some(b'"') => break,
            Some(b'\\') => match bytes.get(i + 1) {
                None => return Err(syntax(open, "unterminated quoted string")),
                Some(&n) if is_ctl(n) => {
                    return Err(syntax(i + 1, "control character in a quoted string"))
                }
                Some(&n) => {
                    out.push(n);
                    i += 2;
                }
            },
            Some(&b) if is_ctl(b) => return Err(syntax(i, "control character in a quoted string")),
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII backslashes were removed from valid UTF-8, so this cannot fail; the error
    // path exists so that it still cannot panic.
    let value = String::from_utf8(out).map_err(|_| syntax(open, "quoted string is not UTF-8"))?;
    Ok((value, i + 1))
}
