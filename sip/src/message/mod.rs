//! SIP messages (RFC 3261 §7, §20, §25): requests and responses, their
//! headers, parsing with hard limits, and serialisation.
//!
//! A message keeps its headers as ordered (canonical name, value) pairs,
//! exactly as received, so that a response can copy Via, From, To,
//! Call-ID, CSeq and Record-Route verbatim; typed views (Via, name-addr,
//! CSeq) are parsed on demand. [`parse`](parse::parse) checks what every
//! request must carry (RFC 3261 §8.1.1), so a message that comes out of it
//! can be answered without further checks.

use std::fmt;

pub mod header;
pub mod parse;
pub mod uri;

#[cfg(test)]
mod tests;

pub use header::{canonical_name, split_list, CSeq, NameAddr, Params, Via};
pub use parse::{error_response, frame_stream, parse, Framing, Limits};
pub use uri::{Host, Scheme, Uri};

/// Everything that can be wrong with a message, saying where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// More bytes than [`Limits::max_message_bytes`].
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size seen (at least).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {0} header lines")]
    TooManyHeaders(usize),
    /// A line longer than [`Limits::max_line_bytes`].
    #[error("a line is longer than {0} bytes")]
    LineTooLong(usize),
    /// No blank line ends the headers.
    #[error("message is truncated: no blank line after the headers")]
    Truncated,
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// The first line is neither a request line nor a status line.
    #[error("bad start line: {0}")]
    StartLine(String),
    /// A header line is malformed or its value does not parse.
    #[error("bad {name} header: {reason}")]
    Header {
        /// The header's canonical name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A header every request must carry is absent.
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    /// A header that may appear once appears more than once.
    #[error("header {0} appears more than once")]
    DuplicateHeader(String),
    /// Content-Length disagrees with the bytes that follow.
    #[error("Content-Length is {declared} but {available} body bytes follow")]
    BodyTruncated {
        /// Declared length.
        declared: usize,
        /// Bytes present.
        available: usize,
    },
    /// A URI does not parse.
    #[error("bad URI {uri:?}: {reason}")]
    Uri {
        /// The URI text (truncated to 80 characters).
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `;name=value` parameter is malformed.
    #[error("bad parameter {0:?}")]
    Param(String),
    /// A value to be written holds CR, LF or NUL, which would split or end
    /// the header (header injection).
    #[error("value for {0} holds CR, LF or NUL")]
    Injection(String),
}

impl MessageError {
    pub(crate) fn uri(uri: &str, reason: &'static str) -> MessageError {
        MessageError::Uri {
            uri: uri.chars().take(80).collect(),
            reason,
        }
    }

    pub(crate) fn header(name: &str, reason: impl Into<String>) -> MessageError {
        MessageError::Header {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A SIP method. Extension methods are kept by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// UPDATE (RFC 3311)
    Update,
    /// INFO (RFC 6086)
    Info,
    /// PRACK (RFC 3262)
    Prack,
    /// REFER (RFC 3515)
    Refer,
    /// NOTIFY
    Notify,
    /// SUBSCRIBE
    Subscribe,
    /// MESSAGE
    Message,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token (case-sensitive, as RFC 3261 says).
    pub fn parse(s: &str) -> Result<Method, MessageError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            other if !other.is_empty() && other.bytes().all(header::is_token_byte) => {
                Method::Other(other.to_owned())
            }
            other => return Err(MessageError::StartLine(format!("bad method {other:?}"))),
        })
    }

    /// The method's name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ordered headers: (canonical name, value) in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The first value of `name` (any spelling, compact or long).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, with list headers split at their commas.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = canonical_name(name);
        let list = header::is_list_header(&name);
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            if k.eq_ignore_ascii_case(&name) {
                if list {
                    out.extend(split_list(v));
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    /// Appends a header, refusing values that would split the message.
    pub fn push(&mut self, name: &str, value: impl Into<String>) -> Result<(), MessageError> {
        let value = value.into();
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
            || name.bytes().any(|b| !header::is_token_byte(b))
            || name.is_empty()
        {
            return Err(MessageError::Injection(name.to_owned()));
        }
        self.0.push((canonical_name(name), value));
        Ok(())
    }

    /// Appends a header whose value comes from our own code (a number, a
    /// formatted URI), which cannot hold CR or LF.
    pub(crate) fn push_trusted(&mut self, name: &str, value: String) {
        self.0.push((canonical_name(name), value));
    }

    /// Removes every `name`.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
    }

    /// Replaces every `name` with one value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), MessageError> {
        self.remove(name);
        self.push(name, value)
    }

    /// Iterates (name, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Headers, without Content-Length (written from the body).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100–699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers, without Content-Length (written from the body).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Serialises the message with a Content-Length from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// Typed accessors shared by requests and responses.
pub trait SipHeaders {
    /// The headers.
    fn sip_headers(&self) -> &Headers;

    /// The Call-ID.
    fn call_id(&self) -> Option<&str> {
        self.sip_headers().get("Call-ID")
    }

    /// The CSeq, parsed.
    fn cseq(&self) -> Result<CSeq, MessageError> {
        CSeq::parse(
            self.sip_headers()
                .get("CSeq")
                .ok_or(MessageError::MissingHeader("CSeq"))?,
        )
    }

    /// The top Via, parsed.
    fn top_via(&self) -> Result<Via, MessageError> {
        let first = self
            .sip_headers()
            .get_all("Via")
            .into_iter()
            .next()
            .ok_or(MessageError::MissingHeader("Via"))?;
        Via::parse(first)
    }

    /// From, parsed.
    fn from(&self) -> Result<NameAddr, MessageError> {
        NameAddr::parse(
            self.sip_headers()
                .get("From")
                .ok_or(MessageError::MissingHeader("From"))?,
        )
    }

    /// To, parsed.
    fn to(&self) -> Result<NameAddr, MessageError> {
        NameAddr::parse(
            self.sip_headers()
                .get("To")
                .ok_or(MessageError::MissingHeader("To"))?,
        )
    }

    /// The first Contact, parsed (`*` is not a URI and gives an error).
    fn contact(&self) -> Option<Result<NameAddr, MessageError>> {
        self.sip_headers()
            .get_all("Contact")
            .into_iter()
            .next()
            .map(NameAddr::parse)
    }

    /// Record-Route entries in order.
    fn record_route(&self) -> Result<Vec<NameAddr>, MessageError> {
        self.sip_headers()
            .get_all("Record-Route")
            .into_iter()
            .map(NameAddr::parse)
            .collect()
    }

    /// Whether `option` is listed in Supported (or Require).
    fn supports(&self, option: &str) -> bool {
        let h = self.sip_headers();
        h.get_all("Supported")
            .into_iter()
            .chain(h.get_all("Require"))
            .any(|o| o.eq_ignore_ascii_case(option))
    }
}

impl SipHeaders for Request {
    fn sip_headers(&self) -> &Headers {
        &self.headers
    }
}

impl SipHeaders for Response {
    fn sip_headers(&self) -> &Headers {
        &self.headers
    }
}

fn write_headers_and_body(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    for (k, v) in headers.iter() {
        if k.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Always written: mandatory on TCP, where it frames the stream.
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Serialises the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(format!("{} {} SIP/2.0\r\n", self.method, self.uri).as_bytes());
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }

    /// A response to this request (RFC 3261 §8.2.6): Via, From, To,
    /// Call-ID, CSeq copied, and Record-Route for dialog-creating 18x/2xx.
    /// `to_tag` is added to To when To has none (every response but 100).
    pub fn response(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for (k, v) in self.headers.iter() {
            let copy = match k {
                "Via" | "From" | "Call-ID" | "CSeq" => true,
                "Record-Route" => (101..300).contains(&status),
                _ => false,
            };
            if copy {
                headers.push_trusted(k, v.to_owned());
            }
            if k == "To" {
                let mut to = v.to_owned();
                if let Some(tag) = to_tag.filter(|_| status != 100) {
                    let has_tag = NameAddr::parse(v)
                        .map(|t| t.tag().is_some())
                        .unwrap_or(true);
                    if !has_tag {
                        to.push_str(";tag=");
                        to.push_str(tag);
                    }
                }
                headers.push_trusted("To", to);
            }
        }
        Response {
            status,
            reason: sanitize_reason(reason),
            headers,
            body: Vec::new(),
        }
    }
}

/// A reason phrase we make up, with anything that could end the status
/// line removed and cut to 200 characters.
pub(crate) fn sanitize_reason(reason: &str) -> String {
    without_line_breaks(reason).take(200).collect()
}

/// The characters of `reason` that cannot end the status line. Writing a
/// reason drops only these, so a parsed response serialises unchanged.
fn without_line_breaks(reason: &str) -> impl Iterator<Item = char> + '_ {
    reason.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0'))
}

impl Response {
    /// Serialises the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(
            format!(
                "SIP/2.0 {} {}\r\n",
                self.status,
                without_line_breaks(&self.reason).collect::<String>()
            )
            .as_bytes(),
        );
        write_headers_and_body(&mut out, &self.headers, &self.body);
        out
    }
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        603 => "Decline",
        _ => "Unknown",
    }
}
