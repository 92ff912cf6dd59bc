//! A raw SIP/RTP caller over UDP for tests that need to own every packet
//! (barge-in timing, impaired RTP): one INVITE with a PCMU offer, the ACK,
//! RTP packets built by hand, and the BYE.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The status code of a response.
pub fn status(message: &str) -> Option<u16> {
    message.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// A header's value (the first one named `name`).
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Where the answer's SDP says to send RTP.
pub fn answer_rtp_address(answer: &str) -> SocketAddr {
    let ip = answer
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("m=audio port");
    format!("{ip}:{port}").parse().expect("RTP address")
}

/// A PCMU RTP packet.
pub fn rtp_packet(seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x5EED_CA11u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An answered call: our SIP and RTP sockets, where to send RTP, and what
/// the BYE needs.
pub struct RawCall {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    /// Where warmline's answer says to send RTP.
    pub media: SocketAddr,
    /// Warmline's SIP address.
    pub target: String,
    /// The To header of the answer (with warmline's tag).
    pub to: String,
    pub sip_port: u16,
    pub call_id: String,
}

/// Places one call to `target` (INVITE, 200, ACK) as
/// `+15559870000` → `+15551230000`, Call-ID `call_id`, From tag `caller-1`.
pub fn dial(target: &str, call_id: &str) -> RawCall {
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
    let (sip_port, rtp_port) = (
        sip.local_addr().expect("addr").port(),
        rtp.local_addr().expect("addr").port(),
    );
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let invite = format!(
        "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-{call_id}-1;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
         To: <sip:+15551230000@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{sip_port}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), target).expect("send INVITE");
    sip.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 65_535];
    let answer = loop {
        assert!(Instant::now() < deadline, "no 200 OK to the INVITE");
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if status(&m) == Some(200) {
                break m;
            }
        }
    };
    let to = header(&answer, "To").expect("To").to_owned();
    let ack = format!(
        "ACK sip:warmline@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-{call_id}-ack;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
         To: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send_to(ack.as_bytes(), target).expect("send ACK");
    RawCall {
        media: answer_rtp_address(&answer),
        sip,
        rtp,
        target: target.to_owned(),
        to,
        sip_port,
        call_id: call_id.to_owned(),
    }
}

impl RawCall {
    /// Sends a BYE and returns the status of its final response, if one
    /// came within 2 s.
    pub fn bye(&self) -> Option<u16> {
        let (target, sip_port, to, call_id) =
            (&self.target, self.sip_port, &self.to, &self.call_id);
        let bye = format!(
            "BYE sip:warmline@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK-{call_id}-bye;rport\r\n\
             From: <sip:+15559870000@127.0.0.1>;tag=caller-1\r\n\
             To: {to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        self.sip.send_to(bye.as_bytes(), target).expect("send BYE");
        self.sip
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 65_535];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sip.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]);
                if header(&m, "CSeq").is_some_and(|c| c.ends_with("BYE")) {
                    if let Some(code) = status(&m).filter(|c| *c >= 200) {
                        return Some(code);
                    }
                }
            }
        }
        None
    }
}
