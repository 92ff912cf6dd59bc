//! A minimal reader for classic libpcap files holding Ethernet/IPv4/UDP/RTP,
//! enough to replay captured RTP into sans-IO receivers in tests.

#![allow(dead_code)]

/// One RTP packet from a capture.
#[derive(Debug, Clone)]
pub struct RtpFromPcap {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// Every UDP datagram of the capture parsed as RTP; anything else is skipped.
pub fn read_rtp(bytes: &[u8]) -> Result<Vec<RtpFromPcap>, String> {
    let magic = bytes.get(..4).ok_or("short file")?;
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => return Err(format!("not a classic pcap file: {magic:02x?}")),
    };
    let u32_at = |b: &[u8], o: usize| -> Result<u32, String> {
        let s: [u8; 4] = b
            .get(o..o + 4)
            .ok_or("truncated")?
            .try_into()
            .map_err(|_| "len")?;
        Ok(if little {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let linktype = u32_at(bytes, 20)?;
    if linktype != 1 {
        return Err(format!("linktype {linktype}: only Ethernet is supported"));
    }
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32_at(bytes, off + 8)? as usize;
        let frame = bytes
            .get(off + 16..off + 16 + incl)
            .ok_or("truncated record")?;
        off += 16 + incl;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 || ip.len() < ihl + 8 + 12 {
            continue;
        }
        let rtp = &ip[ihl + 8..];
        if rtp[0] >> 6 != 2 {
            continue;
        }
        let cc = usize::from(rtp[0] & 0x0F);
        let header = 12 + 4 * cc;
        out.push(RtpFromPcap {
            payload_type: rtp[1] & 0x7F,
            marker: rtp[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([rtp[2], rtp[3]]),
            timestamp: u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]),
            ssrc: u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]),
            payload: rtp.get(header..).ok_or("short RTP")?.to_vec(),
        });
    }
    Ok(out)
}
