//! The RTP port pool: even ports from the configured range, RTP on the
//! even port and RTCP on the next (RFC 3550 §11), handed out round-robin
//! so a just-freed port is not reused while stray packets of its last call
//! may still arrive. A port is free again when its sockets drop.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use std::net::UdpSocket;

/// Why no port pair could be had.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Every pair in the range is in use (or unbindable).
    #[error("no free RTP port pair between {min} and {max}")]
    Exhausted {
        /// Range start.
        min: u16,
        /// Range end.
        max: u16,
    },
}

/// Even-port RTP/RTCP pairs from a range.
#[derive(Debug)]
pub struct RtpPorts {
    ip: IpAddr,
    min: u16,
    pairs: u32,
    next: AtomicU32,
}

impl RtpPorts {
    /// The address the sockets bind to.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Pairs from `min..=max` on `ip` (`min` rounded up to even).
    pub fn new(ip: IpAddr, min: u16, max: u16) -> RtpPorts {
        let min = min + (min % 2);
        let pairs = u32::from(max.saturating_sub(min)).div_ceil(2).max(1);
        RtpPorts {
            ip,
            min,
            pairs,
            next: AtomicU32::new(0),
        }
    }

    /// Binds the next free pair: (RTP socket, RTCP socket), non-blocking
    /// std sockets, to be registered with the runtime of the media worker
    /// that runs the call (a socket belongs to the reactor it is
    /// registered with).
    pub fn allocate(&self) -> Result<(UdpSocket, UdpSocket), PortError> {
        for _ in 0..self.pairs.min(4_096) {
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = self.min + (index * 2) as u16;
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port + 1)) else {
                continue;
            };
            if rtp.set_nonblocking(true).is_ok() && rtcp.set_nonblocking(true).is_ok() {
                return Ok((rtp, rtcp));
            }
        }
        Err(PortError::Exhausted {
            min: self.min,
            max: self.min + (self.pairs * 2) as u16 - 1,
        })
    }
}
