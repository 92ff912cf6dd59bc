//! The endpoint driven directly (no task): a loopback UDP client, the real
//! transport, and a random source that fails after start-up.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::call::driver::CallSetup;
use crate::model::link::Backend;
use crate::random::{RandomError, RandomSource};

/// Gives `left` draws, then fails: start-up succeeds, requests do not.
#[derive(Debug)]
struct FailsAfter(AtomicUsize);

impl RandomSource for FailsAfter {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        let left = self.0.load(Ordering::Relaxed);
        if left == 0 {
            return Err(RandomError::Unavailable);
        }
        self.0.store(left - 1, Ordering::Relaxed);
        dest.fill(0x5a);
        Ok(())
    }
}

fn invite(target: SocketAddr, port: u16) -> String {
    let sdp = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:+15551230000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-rnd-1;rport\r\n\
         From: <sip:+15559870000@127.0.0.1>;tag=from-rnd\r\n\
         To: <sip:+15551230000@{target}>\r\n\
         Call-ID: rnd-1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[tokio::test]
async fn an_invite_when_the_random_source_fails_gets_503_and_starts_no_call() {
    let config = crate::config::Config::default();
    let setup = CallSetup {
        tool_entries: None,
        backend: Backend::Demo(Default::default()),
        session: crate::app::session_config(&config),
        call: crate::call::CallConfig::default(),
        ingress: "sip",
        drain: crate::drain::Drain::default(),
        identity: crate::call::tools::CallIdentity::mint("sip", "template", "", ""),
        tools: None,
        events: None,
        registry: None,
    };
    let random = Arc::new(FailsAfter(AtomicUsize::new(1)));
    let service = SipService::with_random(
        config.sip.clone(),
        crate::workers::MediaWorkers::start(1).expect("a media worker"),
        setup,
        |_| None,
        random,
    )
    .expect("the nonce secret took the one good draw");
    let bound =
        super::super::transport::bind("127.0.0.1:0".parse().expect("addr"), Default::default())
            .await
            .expect("bind");
    let (leg_requests, _leg_rx) = mpsc::channel(4);
    let mut endpoint = Endpoint {
        service: Arc::new(service),
        tx: TransactionLayer::new(TimerConfig::default()),
        epoch: Instant::now(),
        sender: bound.sender,
        local: bound.local,
        calls: CallTable::new(),
        by_invite: HashMap::new(),
        clients: HashMap::new(),
        leg_requests,
        uac: Default::default(),
    };
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("client");
    let source = client.local_addr().expect("addr");
    endpoint.on_inbound(Inbound {
        bytes: invite(bound.local, source.port()).into_bytes(),
        source,
        transport: Transport::Udp,
    });
    endpoint.flush();
    let mut buf = [0u8; 4_096];
    let n = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf))
        .await
        .expect("an answer within 2 s")
        .expect("recv");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 503 "), "{answer}");
    assert!(answer.contains("random source"), "{answer}");
    assert!(answer.contains("Retry-After"), "{answer}");
    assert!(endpoint.calls.is_empty());
    assert_eq!(endpoint.active_calls(None), 0);
}
