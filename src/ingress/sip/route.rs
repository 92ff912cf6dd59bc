//! Which agent answers an INVITE (decision 0020): the called number is the
//! Request-URI user, else the `To` user (a proxy may rewrite the
//! Request-URI to the number it routes to, while `To` keeps what the
//! caller dialled); the trunk is the one that admitted the call.

use warmline_sip::message::Request;

/// The called number (or user) of an INVITE.
pub(super) fn called(request: &Request) -> String {
    match request.uri.user.as_deref().filter(|u| !u.is_empty()) {
        Some(user) => percent_decoded(user),
        None => header_user(request, "To"),
    }
}

/// The caller's number (or user): the `From` user.
pub(super) fn caller(request: &Request) -> String {
    header_user(request, "From")
}

fn header_user(request: &Request, name: &str) -> String {
    let value = request.headers.get(name).unwrap_or_default();
    let uri = match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value),
    };
    percent_decoded(crate::agents::uri_user(uri))
}

/// `%2B14155550100` → `+14155550100`; anything malformed stays as it is.
fn percent_decoded(user: &str) -> String {
    let bytes = user.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(uri: &str, to: &str) -> Request {
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: \"Ada\" <sip:+15550001111@127.0.0.1>;tag=a\r\nTo: {to}\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        match warmline_sip::message::parse(
            text.as_bytes(),
            &warmline_sip::message::Limits::default(),
        ) {
            Ok(warmline_sip::message::Message::Request(r)) => r,
            other => panic!("an INVITE: {other:?}"),
        }
    }

    #[test]
    fn the_request_uri_user_wins_over_the_to_user() {
        let request = invite("sip:+14155550100@127.0.0.1", "<sip:+14155559999@127.0.0.1>");
        assert_eq!(called(&request), "+14155550100");
        assert_eq!(caller(&request), "+15550001111");
        let request = invite("sip:127.0.0.1", "\"Line\" <sip:%2B14155559999@127.0.0.1>");
        assert_eq!(called(&request), "+14155559999");
        let request = invite("sip:%2B4420@127.0.0.1;user=phone", "<sip:x@127.0.0.1>");
        assert_eq!(called(&request), "+4420");
    }
}
