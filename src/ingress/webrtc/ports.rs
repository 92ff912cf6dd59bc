//! The UDP ports WebRTC calls bind: one per call, from
//! `[webrtc] udp_port_min..=udp_port_max`, tried from a rotating start so
//! that a port just freed is not reused at once (a late datagram of the
//! last call must not reach the next one).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::WebRtcError;

/// A range of UDP ports, shared by every WebRTC call of the process.
#[derive(Clone, Debug)]
pub struct PortRange {
    min: u16,
    max: u16,
    /// The bind address (a wildcard, or the HTTP listen address).
    ip: std::net::IpAddr,
    next: Arc<AtomicU32>,
}

impl PortRange {
    /// Ports `min..=max` on `ip`.
    pub fn new(ip: std::net::IpAddr, min: u16, max: u16) -> PortRange {
        PortRange {
            min,
            max: max.max(min),
            ip,
            next: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Binds a free port of the range, non-blocking.
    pub fn bind(&self) -> Result<UdpSocket, WebRtcError> {
        let span = u32::from(self.max - self.min) + 1;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..span {
            let port = self.min + ((start + i) % span) as u16;
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                self.next.store(start + i + 1, Ordering::Relaxed);
                socket.set_nonblocking(true).map_err(WebRtcError::Socket)?;
                return Ok(socket);
            }
        }
        Err(WebRtcError::NoPort(self.min, self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_get_distinct_ports_inside_the_range_until_it_is_full() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        // Find three free consecutive ports to make a range of.
        let probe = UdpSocket::bind((ip, 0)).expect("probe");
        let base = probe
            .local_addr()
            .expect("addr")
            .port()
            .saturating_sub(3)
            .max(1024);
        drop(probe);
        let range = PortRange::new(ip, base, base + 2);
        let mut held = Vec::new();
        while let Ok(socket) = range.bind() {
            let port = socket.local_addr().expect("addr").port();
            assert!((base..=base + 2).contains(&port), "{port}");
            assert!(held
                .iter()
                .all(|s: &UdpSocket| s.local_addr().expect("addr").port() != port));
            held.push(socket);
        }
        assert!(held.len() <= 3);
        assert!(matches!(range.bind(), Err(WebRtcError::NoPort(..))));
    }
}
