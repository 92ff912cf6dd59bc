//! The SIP endpoint never waits on one peer: while an outbound TCP connect
//! toward a peer whose accept queue is full hangs in SYN_SENT, OPTIONS over
//! UDP are still answered at once, and the request queued behind the
//! connect goes out when the peer finally accepts.
//!
//! The real binary is driven with a raw UDP client: a call whose Contact
//! names `transport=tcp` at the stuck port, so that when the call ends from
//! our side (no RTP for `media_timeout_secs`) the in-dialog BYE needs a new
//! TCP connection toward it.

mod support {
    pub mod server;
    pub mod sipp;
    pub mod wav;
}

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use support::sipp;

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");

/// A loopback listener with a backlog of 1 whose accept is never called,
/// and the connections that fill its accept queue: the kernel then drops
/// further SYNs, so a connect toward it stalls.
fn stuck_listener() -> (TcpListener, Vec<TcpStream>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let _enter = runtime.enter();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket
        .listen(1)
        .expect("listen")
        .into_std()
        .expect("std listener");
    listener.set_nonblocking(false).expect("blocking");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    // Linux queues backlog + 1 connections; a few more make sure.
    for _ in 0..4 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    assert!(!fillers.is_empty(), "no filler connection got through");
    (listener, fillers)
}

/// Whether a socket of ours is in SYN_SENT toward `port` on loopback
/// (`/proc/net/tcp`, state 02).
fn syn_sent_toward(port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let remote = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"02")
    })
}

fn status(message: &str) -> Option<u16> {
    message
        .strip_prefix("SIP/2.0 ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Waits up to `wait` for a response whose Call-ID is `call_id` and
/// status at least `min`.
fn response(socket: &UdpSocket, call_id: &str, min: u16, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65_535];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            return None;
        };
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if status(&m).is_some_and(|s| s >= min) && header(&m, "Call-ID") == Some(call_id) {
            return Some(m);
        }
    }
    None
}

#[test]
fn a_stuck_tcp_peer_does_not_delay_options_over_udp() {
    let (listener, fillers) = stuck_listener();
    let stuck = listener.local_addr().expect("addr");
    let server = sipp::start(BINARY, &[("WARMLINE_SIP__MEDIA_TIMEOUT_SECS", Some("1"))]);
    let target: SocketAddr = server.sip.parse().expect("sip addr");
    let caller = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = caller.local_addr().expect("addr").port();
    let sdp = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
    let invite = format!(
        "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-stuck-1;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=from-stuck\r\n\
         To: <sip:+15551230000@{target}>\r\n\
         Call-ID: stuck-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{stuck_port};transport=tcp>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        stuck_port = stuck.port(),
        len = sdp.len(),
    );
    caller.send_to(invite.as_bytes(), target).expect("send");
    let ok = response(&caller, "stuck-1", 200, Duration::from_secs(5)).expect("200 OK");
    assert_eq!(status(&ok), Some(200), "{ok}");
    let to = header(&ok, "To").expect("To").to_owned();
    let ack = format!(
        "ACK sip:caller@127.0.0.1:{stuck_port};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-stuck-ack;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=from-stuck\r\n\
         To: {to}\r\nCall-ID: stuck-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        stuck_port = stuck.port(),
    );
    caller.send_to(ack.as_bytes(), target).expect("ack");

    // No RTP comes, so after a second warmline ends the call with a BYE
    // that needs a TCP connection to the stuck port.
    let started = Instant::now();
    while !syn_sent_toward(stuck.port()) {
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "warmline never tried to connect to the stuck peer"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stall_began = Instant::now();

    // OPTIONS over UDP from another client while the connect hangs.
    let prober = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let probe_port = prober.local_addr().expect("addr").port();
    let mut times = Vec::new();
    let mut n = 0;
    while stall_began.elapsed() < Duration::from_millis(2_000) {
        n += 1;
        let call_id = format!("probe-{n}");
        let options = format!(
            "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{probe_port};branch=z9hG4bK-{call_id};rport\r\nFrom: <sip:p@127.0.0.1>;tag=p{n}\r\nTo: <sip:{target}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let sent = Instant::now();
        prober.send_to(options.as_bytes(), target).expect("send");
        let answer = response(&prober, &call_id, 200, Duration::from_secs(6));
        let took = sent.elapsed();
        assert!(answer.is_some(), "OPTIONS {n} unanswered");
        times.push((took, syn_sent_toward(stuck.port())));
        std::thread::sleep(Duration::from_millis(100));
    }
    let during: Vec<Duration> = times.iter().filter(|t| t.1).map(|t| t.0).collect();
    let worst = times.iter().map(|t| t.0).max().unwrap_or_default();
    println!(
        "OPTIONS answer times while the TCP connect stalled (ms): {:?}",
        times
            .iter()
            .map(|t| format!(
                "{:.1}{}",
                t.0.as_secs_f64() * 1e3,
                if t.1 { "" } else { " (after)" }
            ))
            .collect::<Vec<_>>()
    );
    assert!(
        worst < Duration::from_millis(500),
        "an OPTIONS answer took {worst:?} while a TCP connect stalled"
    );
    assert!(
        during.len() >= 5,
        "too few OPTIONS fell inside the stall: {times:?}"
    );

    // Make room in the accept queue: the kernel's next SYN retransmit
    // (3 s after the first) completes the connect, and the BYE that was
    // queued behind it arrives.
    let filler_ports: Vec<u16> = fillers
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .map(|a| a.port())
        .collect();
    drop(fillers);
    listener.set_nonblocking(true).expect("nonblocking");
    let mut bye = String::new();
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline && !bye.starts_with("BYE ") {
        let Ok((mut stream, peer)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if filler_ports.contains(&peer.port()) {
            continue;
        }
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 4_096];
        if let Ok(n) = stream.read(&mut buf) {
            bye = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    assert!(bye.starts_with("BYE "), "no BYE over TCP: {bye:?}");
    assert!(bye.contains("Call-ID: stuck-1"), "{bye}");
    drop(server);
}
