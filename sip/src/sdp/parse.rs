//! The SDP parser: bytes from the network to a [`SessionDescription`].
//!
//! Whoever can reach our SIP port controls these bytes, so the parser checks
//! hard limits before doing any work, never indexes without a check, and
//! reports the first problem with its 1-based line number and line type.
//!
//! Leniency, decided once here:
//! - LF-only line endings are accepted as well as CRLF, and empty lines at
//!   the end of the body are ignored (many stacks add one). An empty line
//!   anywhere else is an error.
//! - `v=` must come first, but the other session-level lines may come in any
//!   order before the first `m=`; the serialiser writes RFC order.
//! - Unknown type letters are rejected: RFC 8866 §5 says a parser MUST
//!   ignore a session description that contains one, so there is nothing
//!   we are allowed to tolerate. The known types we do not act on
//!   (`i u e p r z k`) are kept raw so they round-trip.
//! - Attribute values are not checked here; the typed accessors skip
//!   malformed ones, so one odd `a=` line does not fail a call.
//! - A second media-level `c=` (multicast layering) is rejected: a trunk
//!   never sends one and the model keeps one.

use std::str::FromStr;

use super::attr::parse_digits;
use super::model::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription, Timing,
};

/// Largest SDP body we parse, in bytes. Real offers are under 2 KiB; a
/// WebRTC offer with many candidates stays well under this.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest number of lines we parse.
pub const MAX_LINES: usize = 1000;
/// Longest line we parse, in bytes, without its line ending.
pub const MAX_LINE_BYTES: usize = 4096;

/// Why an SDP body was rejected. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("SDP body is {len} bytes, over the {max}-byte limit")]
    BodyTooLarge {
        /// The body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body has more than [`MAX_LINES`] lines.
    #[error("line {line}: SDP body has more than {max} lines")]
    TooManyLines {
        /// The first line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// A line is over [`MAX_LINE_BYTES`].
    #[error("line {line}: {len} bytes, over the {max}-byte limit")]
    LineTooLong {
        /// The line number.
        line: usize,
        /// The line length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A line is not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The line number.
        line: usize,
    },
    /// An empty line before the end of the body.
    #[error("line {line}: empty line")]
    EmptyLine {
        /// The line number.
        line: usize,
    },
    /// A line that is not `<letter>=<value>`.
    #[error("line {line}: not of the form <type>=<value>")]
    Malformed {
        /// The line number.
        line: usize,
    },
    /// A control character (NUL, a bare CR, ...) inside a line.
    #[error("line {line}: '{kind}=' line contains a control character")]
    ControlCharacter {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
    },
    /// A type letter RFC 8866 does not define.
    #[error("line {line}: unknown line type '{kind}'")]
    UnknownType {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
    },
    /// A known line type where it may not appear.
    #[error("line {line}: '{kind}=' line not allowed here: {reason}")]
    Misplaced {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
        /// Why.
        reason: &'static str,
    },
    /// A second line of a type that may appear once.
    #[error("line {line}: second '{kind}=' line")]
    Duplicate {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
    },
    /// A line whose value does not follow its grammar.
    #[error("line {line}: bad '{kind}=' line: {reason}")]
    Invalid {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `m=` port (or port count) over 65535.
    #[error("line {line}: '{kind}=' port out of range (0-65535)")]
    PortOutOfRange {
        /// The line number.
        line: usize,
        /// The line type.
        kind: char,
    },
    /// A required line is missing.
    #[error("missing required '{kind}=' line")]
    Missing {
        /// The line type.
        kind: char,
    },
}

impl SdpError {
    /// The 1-based line number the error is about, if it is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            SdpError::BodyTooLarge { .. } | SdpError::Missing { .. } => None,
            SdpError::TooManyLines { line, .. }
            | SdpError::LineTooLong { line, .. }
            | SdpError::NotUtf8 { line }
            | SdpError::EmptyLine { line }
            | SdpError::Malformed { line }
            | SdpError::ControlCharacter { line, .. }
            | SdpError::UnknownType { line, .. }
            | SdpError::Misplaced { line, .. }
            | SdpError::Duplicate { line, .. }
            | SdpError::Invalid { line, .. }
            | SdpError::PortOutOfRange { line, .. } => Some(*line),
        }
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        SessionDescription::parse(s.as_bytes())
    }
}

impl SessionDescription {
    /// Parses an SDP body (see the module docs for what is accepted).
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(SdpError::BodyTooLarge {
                len: body.len(),
                max: MAX_BODY_BYTES,
            });
        }
        let lines = split_lines(body)?;
        let mut builder = Builder::default();
        for (index, raw) in lines.iter().enumerate() {
            let number = index + 1;
            let (kind, value) = split_line(number, raw)?;
            builder.line(number, kind, value)?;
        }
        builder.finish()
    }
}

/// Splits the body into lines without their CR/LF, drops trailing empty
/// lines, and applies the line count and length limits.
fn split_lines(body: &[u8]) -> Result<Vec<&[u8]>, SdpError> {
    let mut lines = Vec::new();
    for (index, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_LINE_BYTES {
            return Err(SdpError::LineTooLong {
                line: index + 1,
                len: line.len(),
                max: MAX_LINE_BYTES,
            });
        }
        if index >= MAX_LINES {
            // Past the limit, an empty line is harmless only if nothing but
            // empty lines follow it, so it is not kept; any real line fails.
            if line.is_empty() {
                continue;
            }
            return Err(SdpError::TooManyLines {
                line: index + 1,
                max: MAX_LINES,
            });
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

/// Splits one line into its type letter and value, checking encoding and
/// characters.
fn split_line(number: usize, raw: &[u8]) -> Result<(char, &str), SdpError> {
    if raw.is_empty() {
        return Err(SdpError::EmptyLine { line: number });
    }
    let text = std::str::from_utf8(raw).map_err(|_| SdpError::NotUtf8 { line: number })?;
    let mut chars = text.chars();
    let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
        return Err(SdpError::Malformed { line: number });
    };
    if !kind.is_ascii_alphabetic() {
        return Err(SdpError::Malformed { line: number });
    }
    let value = chars.as_str();
    // Tabs are harmless in text fields; any other control character (NUL,
    // a lone CR) is either an attack or a broken peer.
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(SdpError::ControlCharacter { line: number, kind });
    }
    Ok((kind, value))
}

/// Accumulates lines into a session description.
#[derive(Default)]
struct Builder {
    seen_v: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    sdp: Draft,
    media: Vec<MediaDescription>,
}

/// The session-level fields other than `v o s`.
#[derive(Default)]
struct Draft {
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    timings: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    attributes: Vec<Attribute>,
}

/// Stores `value` in a field that may be set once.
fn set_once<T>(slot: &mut Option<T>, value: T, line: usize, kind: char) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(SdpError::Duplicate { line, kind });
    }
    *slot = Some(value);
    Ok(())
}

impl Builder {
    fn line(&mut self, line: usize, kind: char, value: &str) -> Result<(), SdpError> {
        let invalid = |reason| SdpError::Invalid { line, kind, reason };
        if !self.seen_v {
            if kind != 'v' {
                return Err(SdpError::Missing { kind: 'v' });
            }
            if value != "0" {
                return Err(invalid("only version 0 exists"));
            }
            self.seen_v = true;
            return Ok(());
        }
        if kind == 'm' {
            self.media.push(parse_media(line, value)?);
            return Ok(());
        }
        if let Some(media) = self.media.last_mut() {
            return media_line(media, line, kind, value);
        }
        let owned = || value.to_owned();
        match kind {
            'v' => return Err(SdpError::Duplicate { line, kind }),
            'o' => set_once(&mut self.origin, parse_origin(line, value)?, line, kind)?,
            's' => set_once(&mut self.session_name, owned(), line, kind)?,
            'i' => set_once(&mut self.sdp.information, owned(), line, kind)?,
            'u' => set_once(&mut self.sdp.uri, owned(), line, kind)?,
            'e' => self.sdp.emails.push(owned()),
            'p' => self.sdp.phones.push(owned()),
            'c' => set_once(
                &mut self.sdp.connection,
                parse_connection(line, value)?,
                line,
                kind,
            )?,
            'b' => self.sdp.bandwidths.push(parse_bandwidth(line, value)?),
            't' => self.sdp.timings.push(parse_timing(line, value)?),
            'r' => match self.sdp.timings.last_mut() {
                Some(t) => t.repeats.push(owned()),
                None => {
                    return Err(SdpError::Misplaced {
                        line,
                        kind,
                        reason: "r= must follow a t= line",
                    })
                }
            },
            'z' => set_once(&mut self.sdp.time_zones, owned(), line, kind)?,
            'k' => set_once(&mut self.sdp.key, owned(), line, kind)?,
            'a' => self.sdp.attributes.push(parse_attribute(line, value)?),
            _ => return Err(SdpError::UnknownType { line, kind }),
        }
        Ok(())
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        if !self.seen_v {
            return Err(SdpError::Missing { kind: 'v' });
        }
        let origin = self.origin.ok_or(SdpError::Missing { kind: 'o' })?;
        let session_name = self.session_name.ok_or(SdpError::Missing { kind: 's' })?;
        if self.sdp.timings.is_empty() {
            return Err(SdpError::Missing { kind: 't' });
        }
        let d = self.sdp;
        Ok(SessionDescription {
            origin,
            session_name,
            information: d.information,
            uri: d.uri,
            emails: d.emails,
            phones: d.phones,
            connection: d.connection,
            bandwidths: d.bandwidths,
            timings: d.timings,
            time_zones: d.time_zones,
            key: d.key,
            attributes: d.attributes,
            media: self.media,
        })
    }
}

/// Handles a line inside an `m=` section (RFC 8866 allows `i c b k a`).
fn media_line(
    media: &mut MediaDescription,
    line: usize,
    kind: char,
    value: &str,
) -> Result<(), SdpError> {
    match kind {
        'i' => set_once(&mut media.information, value.to_owned(), line, kind),
        'c' => set_once(
            &mut media.connection,
            parse_connection(line, value)?,
            line,
            kind,
        ),
        'b' => {
            media.bandwidths.push(parse_bandwidth(line, value)?);
            Ok(())
        }
        'k' => set_once(&mut media.key, value.to_owned(), line, kind),
        'a' => {
            media.attributes.push(parse_attribute(line, value)?);
            Ok(())
        }
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => Err(SdpError::Misplaced {
            line,
            kind,
            reason: "session-level line inside a media section",
        }),
        _ => Err(SdpError::UnknownType { line, kind }),
    }
}

/// Splits a value into exactly `N` space-separated fields.
fn fields<'a, const N: usize>(
    line: usize,
    kind: char,
    value: &'a str,
    reason: &'static str,
) -> Result<[&'a str; N], SdpError> {
    let mut out = [""; N];
    let mut it = value.split_ascii_whitespace();
    for slot in out.iter_mut() {
        *slot = it.next().ok_or(SdpError::Invalid { line, kind, reason })?;
    }
    if it.next().is_some() {
        return Err(SdpError::Invalid { line, kind, reason });
    }
    Ok(out)
}

fn parse_origin(line: usize, value: &str) -> Result<Origin, SdpError> {
    let kind = 'o';
    let [username, id, version, net_type, addr_type, address] =
        fields::<6>(line, kind, value, "expected 6 fields")?;
    let invalid = |reason| SdpError::Invalid { line, kind, reason };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("session id is not a number"));
    }
    let session_version =
        parse_digits(version).ok_or(invalid("session version is not a number"))?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: id.to_owned(),
        session_version,
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_connection(line: usize, value: &str) -> Result<Connection, SdpError> {
    let [net_type, addr_type, address] = fields::<3>(line, 'c', value, "expected 3 fields")?;
    Ok(Connection {
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_bandwidth(line: usize, value: &str) -> Result<Bandwidth, SdpError> {
    let invalid = |reason| SdpError::Invalid {
        line,
        kind: 'b',
        reason,
    };
    let (bwtype, amount) = value
        .split_once(':')
        .ok_or(invalid("expected <type>:<bandwidth>"))?;
    if bwtype.is_empty() || bwtype.contains(char::is_whitespace) {
        return Err(invalid("bad bandwidth type"));
    }
    let bandwidth = parse_digits(amount).ok_or(invalid("bandwidth is not a number"))?;
    Ok(Bandwidth {
        bwtype: bwtype.to_owned(),
        bandwidth,
    })
}

fn parse_timing(line: usize, value: &str) -> Result<Timing, SdpError> {
    let kind = 't';
    let [start, stop] = fields::<2>(line, kind, value, "expected <start> <stop>")?;
    let invalid = SdpError::Invalid {
        line,
        kind,
        reason: "time is not a number",
    };
    Ok(Timing {
        start: parse_digits(start).ok_or(invalid.clone())?,
        stop: parse_digits(stop).ok_or(invalid)?,
        repeats: Vec::new(),
    })
}

fn parse_attribute(line: usize, value: &str) -> Result<Attribute, SdpError> {
    let (name, value) = match value.split_once(':') {
        Some((name, v)) => (name, Some(v.to_owned())),
        None => (value, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(SdpError::Invalid {
            line,
            kind: 'a',
            reason: "bad attribute name",
        });
    }
    Ok(Attribute {
        name: name.to_owned(),
        value,
    })
}

/// Parses a port number, telling "not a number" from "too big".
fn parse_port(line: usize, text: &str) -> Result<u16, SdpError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SdpError::Invalid {
            line,
            kind: 'm',
            reason: "port is not a number",
        });
    }
    text.parse()
        .map_err(|_| SdpError::PortOutOfRange { line, kind: 'm' })
}

fn parse_media(line: usize, value: &str) -> Result<MediaDescription, SdpError> {
    let kind = 'm';
    let mut it = value.split_ascii_whitespace();
    let mut next = |reason| it.next().ok_or(SdpError::Invalid { line, kind, reason });
    let media = next("missing media type")?;
    let port_text = next("missing port")?;
    let proto = next("missing protocol")?;
    let formats: Vec<String> = it.map(str::to_owned).collect();
    let (port, port_count) = match port_text.split_once('/') {
        Some((port, count)) => (parse_port(line, port)?, Some(parse_port(line, count)?)),
        None => (parse_port(line, port_text)?, None),
    };
    Ok(MediaDescription {
        media: media.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        formats,
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    })
}
