//! Typed values of the attributes offer/answer reads: direction,
//! `rtpmap` and `rtcp`, and the number grammar they share.

use std::fmt;

use super::model::Connection;

/// Media direction (RFC 3264 §5.1, RFC 8866 §6.7), from the point of view of
/// whoever wrote the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive (the default).
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Builds a direction from "sends?" and "receives?".
    pub fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The attribute name, e.g. `sendrecv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses a direction attribute name (case-insensitively).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether media flows out from this side.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether media flows in to this side.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same flow seen from the other end: sendonly ↔ recvonly.
    pub fn reversed(self) -> Self {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Only the flows both directions allow.
    pub fn intersect(self, other: Direction) -> Self {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `a=rtpmap:<pt> <name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// The payload type number (0-127).
    pub payload_type: u8,
    /// The encoding name as written (compare case-insensitively).
    pub encoding_name: String,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The channel count, when given.
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// Parses an rtpmap attribute value; `None` if it is malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let payload_type = parse_pt(pt)?;
        let mut parts = rest.trim().split('/');
        let encoding_name = parts.next().filter(|n| !n.is_empty())?.to_owned();
        let clock_rate = parse_digits(parts.next()?)?;
        let channels = match parts.next() {
            Some(c) => Some(parse_digits(c)?),
            None => None,
        };
        if parts.next().is_some() || clock_rate == 0 {
            return None;
        }
        Some(Rtpmap {
            payload_type,
            encoding_name,
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding_name, self.clock_rate
        )?;
        if let Some(ch) = self.channels {
            write!(f, "/{ch}")?;
        }
        Ok(())
    }
}

/// A parsed `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the RTP one.
    pub connection: Option<Connection>,
}

impl Rtcp {
    /// Parses an rtcp attribute value; `None` if it is malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let mut fields = value.split_ascii_whitespace();
        let port = parse_digits(fields.next()?)?;
        let connection = match (fields.next(), fields.next(), fields.next()) {
            (None, _, _) => None,
            (Some(n), Some(a), Some(addr)) => Some(Connection {
                net_type: n.to_owned(),
                addr_type: a.to_owned(),
                address: addr.to_owned(),
            }),
            _ => return None,
        };
        if fields.next().is_some() {
            return None;
        }
        Some(Rtcp { port, connection })
    }
}

/// Parses a string of ASCII digits. `str::parse` alone would accept a
/// leading `+`, which SDP's grammar does not.
pub(crate) fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an RTP payload type number (0-127).
pub(crate) fn parse_pt(s: &str) -> Option<u8> {
    parse_digits::<u8>(s).filter(|pt| *pt <= 127)
}
