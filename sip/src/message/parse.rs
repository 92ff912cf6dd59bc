//! Parsing SIP messages from datagrams and streams, with hard limits, and
//! the 400 (or 513) answer to a request that fails to parse.
//!
//! What the parser accepts, and why:
//! - CRLF line endings, and bare LF as many parsers do, but not both: once
//!   the start line ends in CRLF a bare LF is refused. A CR or NUL anywhere
//!   else in the header section is refused too, since a value that hides a
//!   line break is how headers get injected.
//! - Compact and case-insensitive header names, folded continuation
//!   lines, comma-joined list headers.
//! - Requests must carry Via, From, To, Call-ID and CSeq (RFC 3261
//!   §8.1.1), CSeq's method must match the request's, and From/To may not
//!   carry two tags. A missing Max-Forwards is tolerated (many carrier
//!   SBCs strip it); a bad one is refused. From/To tags must have a value.
//! - Numbers (CSeq, Max-Forwards, Content-Length, ports) are digits only.
//! - Content-Length is optional on datagrams (the body is the rest) and
//!   mandatory on streams, where it frames the message.

use super::header::{is_single_header, is_token_byte, NameAddr};
use super::{
    canonical_name, sanitize_reason, CSeq, Headers, Message, MessageError, Method, Request,
    Response,
};
use super::{Uri, Via};

/// Hard limits applied before and while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Whole message, headers and body (UDP's own limit is 65,507).
    pub max_message_bytes: usize,
    /// Header lines (after unfolding).
    pub max_headers: usize,
    /// One line, start line included.
    pub max_line_bytes: usize,
    /// Body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 65_535,
            max_headers: 100,
            max_line_bytes: 4_096,
            max_body_bytes: 32_768,
        }
    }
}

/// What [`frame_stream`] found at the start of a stream buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Not a whole message yet: read more.
    Incomplete,
    /// This many bytes of CRLF keep-alives (RFC 5626) to drop.
    KeepAlive(usize),
    /// A whole message of this many bytes.
    Message(usize),
}

fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    // (end of the header section, start of the body)
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// Finds the first message in a stream buffer (TCP/TLS), by its
/// Content-Length.
pub fn frame_stream(buf: &[u8], limits: &Limits) -> Result<Framing, MessageError> {
    let keepalive = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if keepalive > 0 {
        return Ok(Framing::KeepAlive(keepalive));
    }
    let Some((head_end, body_start)) = header_end(buf) else {
        if buf.len() > limits.max_message_bytes {
            return Err(MessageError::TooLarge {
                size: buf.len(),
                max: limits.max_message_bytes,
            });
        }
        return Ok(Framing::Incomplete);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| MessageError::NotUtf8)?;
    let mut length = None;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if canonical_name(name.trim()) == "Content-Length" {
                if length.is_some() {
                    // Two lengths frame the stream two ways (smuggling).
                    return Err(MessageError::DuplicateHeader("Content-Length".into()));
                }
                length = Some(parse_content_length(value)?);
            }
        }
    }
    let length = length
        .ok_or_else(|| MessageError::header("Content-Length", "mandatory on stream transports"))?;
    let total = body_start + length;
    if total > limits.max_message_bytes || length > limits.max_body_bytes {
        return Err(MessageError::TooLarge {
            size: total,
            max: limits.max_message_bytes,
        });
    }
    Ok(if buf.len() >= total {
        Framing::Message(total)
    } else {
        Framing::Incomplete
    })
}

/// Whether `s` is one or more ASCII digits (`str::parse` also takes `+`).
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_content_length(value: &str) -> Result<usize, MessageError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MessageError::header(
            "Content-Length",
            "not a non-negative number",
        ));
    }
    v.parse()
        .map_err(|_| MessageError::header("Content-Length", "not a non-negative number"))
}

enum StartLine {
    Request(Method, Uri),
    Response(u16, String),
}

fn parse_start_line(line: &str) -> Result<StartLine, MessageError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..700).contains(c) && code.len() == 3)
            .ok_or_else(|| MessageError::StartLine(format!("bad status code {code:?}")))?;
        return Ok(StartLine::Response(status, reason.to_owned()));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::StartLine(
            "not 'METHOD URI SIP/2.0' or 'SIP/2.0 CODE REASON'".into(),
        ));
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(MessageError::StartLine(format!(
            "version {:?} is not SIP/2.0",
            version.chars().take(20).collect::<String>()
        )));
    }
    let method = Method::parse(method)?;
    let uri = Uri::parse(uri).map_err(|e| MessageError::StartLine(format!("Request-URI: {e}")))?;
    Ok(StartLine::Request(method, uri))
}

/// Splits the header section into the start line and unfolded header
/// lines, applying the line limits.
fn lines<'a>(head: &'a str, limits: &Limits) -> Result<(&'a str, Vec<String>), MessageError> {
    let mut raw = head.split('\n');
    let first = raw.next().unwrap_or("");
    // A message whose start line ends in CRLF uses CRLF throughout: a bare
    // LF inside it would split a value where a CRLF-only hop saw one line,
    // smuggling a header past it. LF-only messages are still accepted.
    let crlf = first.ends_with('\r');
    let start = first.strip_suffix('\r').unwrap_or(first);
    let mut out: Vec<String> = Vec::new();
    for raw_line in std::iter::once(first).chain(raw) {
        let line = match raw_line.strip_suffix('\r') {
            Some(l) => l,
            None if crlf => {
                return Err(MessageError::header(
                    raw_line.split(':').next().unwrap_or("").trim(),
                    "bare LF in a CRLF message (header injection)",
                ))
            }
            None => raw_line,
        };
        if line.len() > limits.max_line_bytes {
            return Err(MessageError::LineTooLong(limits.max_line_bytes));
        }
        if line.bytes().any(|b| b == b'\r' || b == 0) {
            return Err(MessageError::header(
                line.split(':').next().unwrap_or("").trim(),
                "CR or NUL inside a line (header injection)",
            ));
        }
    }
    for line in head
        .split('\n')
        .skip(1)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
    {
        if line.starts_with([' ', '\t']) {
            match out.last_mut() {
                Some(prev) => {
                    prev.push(' ');
                    prev.push_str(line.trim());
                    if prev.len() > limits.max_line_bytes {
                        return Err(MessageError::LineTooLong(limits.max_line_bytes));
                    }
                }
                None => {
                    return Err(MessageError::header(
                        "",
                        "continuation line before any header",
                    ))
                }
            }
        } else {
            if out.len() >= limits.max_headers {
                return Err(MessageError::TooManyHeaders(limits.max_headers));
            }
            out.push(line.to_owned());
        }
    }
    Ok((start, out))
}

/// Parses one message (a datagram, or a frame from [`frame_stream`]).
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Message, MessageError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(MessageError::TooLarge {
            size: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let (head_end, body_start) = header_end(bytes).ok_or(MessageError::Truncated)?;
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| MessageError::NotUtf8)?;
    let (start, header_lines) = lines(head, limits)?;
    let start = parse_start_line(start)?;
    let mut headers = Headers::new();
    let mut content_length = None;
    for line in &header_lines {
        let (name, value) = line.split_once(':').ok_or_else(|| {
            MessageError::header(
                line.chars().take(40).collect::<String>().trim(),
                "no ':' in the header line",
            )
        })?;
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(MessageError::header(
                &name.chars().take(40).collect::<String>(),
                "name is not a token",
            ));
        }
        let canonical = canonical_name(name);
        let value = value.trim();
        if is_single_header(&canonical) && headers.get(&canonical).is_some() {
            return Err(MessageError::DuplicateHeader(canonical));
        }
        if canonical == "Content-Length" {
            // Not kept in `headers`, so the duplicate check above misses it.
            if content_length.is_some() {
                return Err(MessageError::DuplicateHeader(canonical));
            }
            content_length = Some(parse_content_length(value)?);
            continue;
        }
        headers.push_trusted(&canonical, value.to_owned());
    }
    let available = bytes.len() - body_start;
    let body_len = match content_length {
        Some(declared) if declared > available => {
            return Err(MessageError::BodyTruncated {
                declared,
                available,
            })
        }
        // Extra bytes after the declared body are discarded (§18.3).
        Some(declared) => declared,
        None => available,
    };
    if body_len > limits.max_body_bytes {
        return Err(MessageError::TooLarge {
            size: body_len,
            max: limits.max_body_bytes,
        });
    }
    let body = bytes[body_start..body_start + body_len].to_vec();
    let message = match start {
        StartLine::Request(method, uri) => {
            let request = Request {
                method,
                uri,
                headers,
                body,
            };
            validate(&request.headers, Some(&request.method))?;
            Message::Request(request)
        }
        StartLine::Response(status, reason) => {
            validate(&headers, None)?;
            Message::Response(Response {
                status,
                reason,
                headers,
                body,
            })
        }
    };
    Ok(message)
}

/// The checks RFC 3261 §8.1.1 and §8.2 make of every message.
fn validate(headers: &Headers, method: Option<&Method>) -> Result<(), MessageError> {
    let vias = headers.get_all("Via");
    let top = vias.first().ok_or(MessageError::MissingHeader("Via"))?;
    Via::parse(top)?;
    for (name, key) in [("From", "From"), ("To", "To")] {
        let value = headers.get(key).ok_or(MessageError::MissingHeader(name))?;
        let parsed =
            NameAddr::parse(value).map_err(|e| MessageError::header(name, e.to_string()))?;
        if parsed.params.count("tag") > 1 {
            return Err(MessageError::header(name, "more than one tag parameter"));
        }
        // `tag=token` (RFC 3261 §25.1): a bare or empty tag reads as no tag,
        // and our response would then add a second one.
        if parsed
            .params
            .get("tag")
            .is_some_and(|t| t.is_none_or(str::is_empty))
        {
            return Err(MessageError::header(name, "tag parameter without a value"));
        }
    }
    let call_id = headers
        .get("Call-ID")
        .ok_or(MessageError::MissingHeader("Call-ID"))?;
    if call_id.is_empty() || call_id.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(MessageError::header("Call-ID", "empty or holds whitespace"));
    }
    let cseq = CSeq::parse(
        headers
            .get("CSeq")
            .ok_or(MessageError::MissingHeader("CSeq"))?,
    )?;
    if let Some(method) = method {
        if &cseq.method != method {
            return Err(MessageError::header(
                "CSeq",
                format!(
                    "method {} does not match the request's {method}",
                    cseq.method
                ),
            ));
        }
        if let Some(mf) = headers.get("Max-Forwards") {
            if !is_digits(mf) || mf.parse::<u8>().is_err() {
                return Err(MessageError::header(
                    "Max-Forwards",
                    "not a number from 0 to 255",
                ));
            }
        }
    }
    Ok(())
}

/// The answer to a request that failed to parse: `400` with the error as
/// its reason phrase (`513` for an oversized one), copying whatever Via,
/// From, To, Call-ID and CSeq lines could be read. `None` when there is
/// nobody to answer: not a request, an ACK (never answered), or no Via.
pub fn error_response(bytes: &[u8], error: &MessageError) -> Option<Vec<u8>> {
    let head_end = header_end(bytes).map_or(bytes.len(), |(end, _)| end);
    let head = String::from_utf8_lossy(&bytes[..head_end.min(65_535)]);
    // Lines as the parser sees them: in a CRLF message a bare LF does not
    // end a line, so a header smuggled behind one is never copied.
    let crlf = head.split('\n').next().is_some_and(|l| l.ends_with('\r'));
    let mut raw: Box<dyn Iterator<Item = &str>> = if crlf {
        Box::new(
            head.split("\r\n")
                .map(|l| l.strip_suffix('\r').unwrap_or(l)),
        )
    } else {
        Box::new(head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)))
    };
    let start = raw.next()?;
    let parts: Vec<&str> = start.split(' ').collect();
    // The version is the last token, even when a space in the URI broke
    // the start line into more than three.
    let (&method, &version) = (parts.first()?, parts.last()?);
    if parts.len() < 3 {
        return None;
    }
    let version_ok = version.eq_ignore_ascii_case("SIP/2.0");
    if !(version_ok || version.to_ascii_uppercase().starts_with("SIP/"))
        || method == "ACK"
        || method.is_empty()
        || !method.bytes().all(is_token_byte)
    {
        return None;
    }
    let mut copied = Headers::new();
    let mut seen_via = false;
    for line in raw.take(200) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let canonical = canonical_name(name.trim());
        let wanted = matches!(
            canonical.as_str(),
            "Via" | "From" | "To" | "Call-ID" | "CSeq"
        );
        if !wanted || (canonical != "Via" && copied.get(&canonical).is_some()) {
            continue;
        }
        let mut value = value.trim().to_owned();
        // A final response carries a To tag (RFC 3261 §8.2.6.2); derive it
        // from the line itself so a retransmitted request gets the same.
        if canonical == "To" && !value.to_ascii_lowercase().contains(";tag=") {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            line.hash(&mut h);
            value.push_str(&format!(";tag=e{:012x}", h.finish() & 0xFFFF_FFFF_FFFF));
        }
        // Lines here hold no CR/LF; `push` still refuses a NUL.
        if copied.push(&canonical, value).is_ok() && canonical == "Via" {
            seen_via = true;
        }
    }
    if !seen_via {
        return None;
    }
    let (status, reason) = match error {
        _ if !version_ok => (505, "Version Not Supported".to_owned()),
        MessageError::TooLarge { .. } => (513, "Message Too Large".to_owned()),
        other => (400, sanitize_reason(&format!("Bad Request - {other}"))),
    };
    Some(
        Response {
            status,
            reason,
            headers: copied,
            body: Vec::new(),
        }
        .to_bytes(),
    )
}
