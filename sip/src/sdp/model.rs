//! The SDP data model, its serialisation, and typed views of the attributes
//! that offer/answer cares about.
//!
//! The model is lossless for everything the parser accepts: attributes keep
//! their order and raw text, and the rarely used line types (`i= u= e= p= r=
//! z= k=`) are kept as raw strings, so an SDP we do not fully understand
//! still round-trips.

use std::fmt;
use std::net::IpAddr;

use super::attr::{parse_digits, parse_pt, Direction, Rtcp, Rtpmap};
use super::codec::{Codec, PayloadFormat};

/// A whole session description (RFC 8866 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who created the session and which revision this is.
    pub origin: Origin,
    /// `s=`: the session name (`-` when there is none).
    pub session_name: String,
    /// `i=`: session information, kept raw.
    pub information: Option<String>,
    /// `u=`: a URI describing the session, kept raw.
    pub uri: Option<String>,
    /// `e=` lines, kept raw.
    pub emails: Vec<String>,
    /// `p=` lines, kept raw.
    pub phones: Vec<String>,
    /// Session-level `c=`; media-level `c=` overrides it.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (with their `r=` lines); at least one after parsing.
    pub timings: Vec<Timing>,
    /// `z=`: time zone adjustments, kept raw.
    pub time_zones: Option<String>,
    /// Session-level `k=` (obsolete), kept raw.
    pub key: Option<String>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// The `o=` line: username, session id and version, and the creator's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The creator's login (`-` when there is none).
    pub username: String,
    /// Session id: a string of digits. Kept as text because RFC 8866 does not
    /// bound its length and some stacks send more digits than fit in a u64.
    pub session_id: String,
    /// Session version; incremented by the creator on every change.
    pub session_version: u64,
    /// Network type, `IN` in practice.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The creator's address (an IP literal or a host name).
    pub address: String,
}

impl Origin {
    /// Increments the session version, as RFC 3264 §8 requires for every
    /// new offer (or changed answer) we send. Wraps rather than overflowing:
    /// a peer only compares for equality, so a wrap still reads as a change.
    pub fn bump_version(&mut self) {
        self.session_version = self.session_version.wrapping_add(1);
    }
}

/// A `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN` in practice.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The connection address, possibly with a multicast `/ttl/count` suffix.
    pub address: String,
}

impl Connection {
    /// A unicast `IN IP4` or `IN IP6` connection for `ip`.
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type(ip).to_owned(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP literal, without any multicast suffix. `None`
    /// for host names: resolving them is not a sans-IO job, and carriers
    /// put literals here.
    pub fn ip(&self) -> Option<IpAddr> {
        let literal = self.address.split('/').next().unwrap_or("");
        literal.parse().ok()
    }

    /// True for `0.0.0.0` (or `::`): RFC 2543 style hold, "do not send to me".
    pub fn is_hold_address(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// The SDP address type for an IP address.
pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// A `b=<bwtype>:<bandwidth>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `CT`, `TIAS`, ...
    pub bwtype: String,
    /// The value, in the unit the type defines (kbit/s for `AS` and `CT`).
    pub bandwidth: u64,
}

/// A `t=` line and the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, kept raw.
    pub repeats: Vec<String>,
}

/// An `a=` line: `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name (before the first `:`).
    pub name: String,
    /// Everything after the first `:`, or `None` for a flag attribute.
    pub value: Option<String>,
}

impl Attribute {
    /// A flag attribute such as `a=sendrecv`.
    pub fn flag(name: &str) -> Self {
        Attribute {
            name: name.to_owned(),
            value: None,
        }
    }

    /// A value attribute such as `a=ptime:20`.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Attribute {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `application`, ...
    pub media: String,
    /// The transport port; 0 marks a rejected or disabled stream.
    pub port: u16,
    /// The optional `/<number of ports>` suffix.
    pub port_count: Option<u16>,
    /// The transport protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// The formats: RTP payload type numbers for RTP protocols.
    pub formats: Vec<String>,
    /// Media-level `i=`, kept raw.
    pub information: Option<String>,
    /// Media-level `c=`; wins over the session-level one.
    pub connection: Option<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Media-level `k=` (obsolete), kept raw.
    pub key: Option<String>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

/// Finds the first attribute called `name` (attribute names compared
/// case-insensitively: being lenient costs nothing here).
fn find<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The value of the first attribute called `name`.
fn value_of<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    find(attrs, name).and_then(|a| a.value.as_deref())
}

/// The last direction attribute in `attrs`, if any.
fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs
        .iter()
        .rev()
        .find_map(|a| a.value.is_none().then(|| Direction::from_name(&a.name))?)
}

/// Parses a `ptime`/`maxptime` value in milliseconds. Some stacks write
/// `20.0`; the fraction is dropped.
fn parse_ms(value: &str) -> Option<u32> {
    let whole = value.trim().split('.').next().unwrap_or("");
    parse_digits::<u32>(whole).filter(|ms| *ms > 0)
}

impl MediaDescription {
    /// The first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find(&self.attributes, name)
    }

    /// The value of the first attribute called `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        value_of(&self.attributes, name)
    }

    /// Whether an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// All well-formed `a=rtpmap` lines, in order. Malformed ones are
    /// skipped: they cannot be used, and rejecting the whole SDP for one
    /// of them would fail calls that would otherwise work.
    pub fn rtpmaps(&self) -> impl Iterator<Item = Rtpmap> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("rtpmap"))
            .filter_map(|a| Rtpmap::parse(a.value.as_deref()?))
    }

    /// The rtpmap for payload type `pt`, if there is one.
    pub fn rtpmap(&self, pt: u8) -> Option<Rtpmap> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("fmtp"))
            .filter_map(|a| a.value.as_deref())
            .find_map(|v| {
                let (p, params) = v.split_once(' ').unwrap_or((v, ""));
                (parse_pt(p) == Some(pt)).then(|| params.trim())
            })
    }

    /// `a=ptime`, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_value("ptime").and_then(parse_ms)
    }

    /// `a=maxptime`, in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute_value("maxptime").and_then(parse_ms)
    }

    /// `a=rtcp` (RFC 3605), if present and well formed.
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_value("rtcp").and_then(Rtcp::parse)
    }

    /// Whether `a=rtcp-mux` (RFC 5761) is present.
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    /// The media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Replaces any direction attribute with `direction`.
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes
            .retain(|a| !(a.value.is_none() && Direction::from_name(&a.name).is_some()));
        self.attributes.push(Attribute::flag(direction.as_str()));
    }

    /// The payload types on the `m=` line resolved to codecs, in offer
    /// order: the rtpmap when present, else the RFC 3551 static table.
    /// Formats that are not payload type numbers, and dynamic types without
    /// an rtpmap, are skipped.
    pub fn payload_formats(&self) -> Vec<PayloadFormat> {
        self.formats
            .iter()
            .filter_map(|f| parse_pt(f))
            .filter_map(|pt| match self.rtpmap(pt) {
                Some(map) => Some(PayloadFormat::from_rtpmap(&map)),
                None => PayloadFormat::from_static(pt),
            })
            .collect()
    }

    /// A declined copy of this section, as RFC 3264 §6 wants it in an
    /// answer: same media, proto and formats, port 0, no attributes.
    pub fn declined(&self) -> Self {
        MediaDescription {
            media: self.media.clone(),
            port: 0,
            port_count: None,
            proto: self.proto.clone(),
            formats: self.formats.clone(),
            information: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// True for an enabled `audio` stream over plain `RTP/AVP`, the only
    /// kind this module negotiates.
    pub fn is_rtp_audio(&self) -> bool {
        self.port != 0
            && self.media.eq_ignore_ascii_case("audio")
            && self.proto.eq_ignore_ascii_case("RTP/AVP")
    }

    /// True for an enabled `audio` stream over `RTP/SAVP` (SRTP keyed by
    /// SDES, RFC 4568).
    pub fn is_srtp_audio(&self) -> bool {
        self.port != 0
            && self.media.eq_ignore_ascii_case("audio")
            && self.proto.eq_ignore_ascii_case("RTP/SAVP")
    }

    /// The section's `a=crypto` lines that parse, in order.
    pub fn cryptos(&self) -> Vec<super::crypto::Crypto> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("crypto"))
            .filter_map(|a| a.value.as_deref().and_then(super::crypto::Crypto::parse))
            .collect()
    }

    /// Whether `codec` is among this section's payload formats.
    pub fn offers_codec(&self, codec: &Codec) -> bool {
        self.payload_formats().iter().any(|f| f.is(codec))
    }
}

impl SessionDescription {
    /// The value of the first session-level attribute called `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        value_of(&self.attributes, name)
    }

    /// Whether a session-level attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        find(&self.attributes, name).is_some()
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The connection that applies to `media`: its own `c=`, else the
    /// session's (RFC 8866 §5.7).
    pub fn media_connection<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// The direction that applies to `media`: media level, else session
    /// level, else `sendrecv` (RFC 3264 §5.1).
    pub fn media_direction(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv)
    }

    /// `ptime` for `media`: media level, else (non-standard but seen in the
    /// wild) session level.
    pub fn media_ptime(&self, media: &MediaDescription) -> Option<u32> {
        media
            .ptime()
            .or_else(|| self.attribute_value("ptime").and_then(parse_ms))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bwtype, self.bandwidth)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

/// Writes `<kind>=<value>\r\n`.
fn line(f: &mut fmt::Formatter<'_>, kind: char, value: impl fmt::Display) -> fmt::Result {
    write!(f, "{kind}={value}\r\n")
}

impl fmt::Display for MediaDescription {
    /// Writes the section in RFC 8866 order: `m i c b k a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", self.proto)?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            line(f, 'i', i)?;
        }
        if let Some(c) = &self.connection {
            line(f, 'c', c)?;
        }
        for b in &self.bandwidths {
            line(f, 'b', b)?;
        }
        if let Some(k) = &self.key {
            line(f, 'k', k)?;
        }
        for a in &self.attributes {
            line(f, 'a', a)?;
        }
        Ok(())
    }
}

impl fmt::Display for SessionDescription {
    /// Writes the body in RFC 8866 order (`v o s i u e p c b t r z k a`,
    /// then the `m=` sections) with CRLF line endings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(f, 'v', 0)?;
        line(f, 'o', &self.origin)?;
        line(f, 's', &self.session_name)?;
        if let Some(i) = &self.information {
            line(f, 'i', i)?;
        }
        if let Some(u) = &self.uri {
            line(f, 'u', u)?;
        }
        for e in &self.emails {
            line(f, 'e', e)?;
        }
        for p in &self.phones {
            line(f, 'p', p)?;
        }
        if let Some(c) = &self.connection {
            line(f, 'c', c)?;
        }
        for b in &self.bandwidths {
            line(f, 'b', b)?;
        }
        for t in &self.timings {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                line(f, 'r', r)?;
            }
        }
        if let Some(z) = &self.time_zones {
            line(f, 'z', z)?;
        }
        if let Some(k) = &self.key {
            line(f, 'k', k)?;
        }
        for a in &self.attributes {
            line(f, 'a', a)?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}
