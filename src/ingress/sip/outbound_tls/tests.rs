//! Outbound TLS against real rustls servers on loopback: a message for a
//! TLS peer travels only inside a verified handshake, and a peer whose
//! certificate is for another name, from an untrusted issuer, or who does
//! not speak TLS gets no SIP at all while the transaction hears the
//! failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use warmline_sip::transaction::{TimerConfig, TransactionLayer, Transport, TxIdEither};

use super::*;
use crate::config::{OutboundConfig, OutboundTransport};
use crate::ingress::sip::tcp::{Outbound, Tcp, Undelivered};
use crate::ingress::sip::transport::Inbound;

const PBX: &str = "pbx.warmline.test";

const OPTIONS: &[u8] = b"OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKout1\r\n\
From: <sip:warmline@127.0.0.1>;tag=1\r\n\
To: <sip:pbx@127.0.0.1>\r\n\
Call-ID: out-tls-1\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

/// A private CA, as PBXs have: its PEM file, and leaf certificates for
/// any name it signs.
struct TestCa {
    dir: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(tag: &str) -> TestCa {
        let dir =
            std::env::temp_dir().join(format!("warmline-out-tls-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        std::fs::write(dir.join("ca.pem"), issuer.pem()).expect("ca file");
        TestCa { dir, issuer }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server identity for `name`, signed by this CA.
    fn leaf(&self, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("leaf");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn trunk(address: SocketAddr, ca_file: Option<PathBuf>) -> OutboundConfig {
    OutboundConfig {
        name: "pbx".into(),
        address,
        transport: OutboundTransport::Tls,
        tls_server_name: Some(PBX.into()),
        tls_ca_file: ca_file,
        username: None,
        password_env: None,
    }
}

/// A TLS server on loopback presenting `identity`; each accepted
/// handshake's outcome goes to the returned channel (the stream, or the
/// error the server saw).
async fn tls_server(
    identity: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
) -> (
    SocketAddr,
    mpsc::Receiver<std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>,
) {
    crate::tls::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(identity.0, identity.1)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = tx.send(acceptor.accept(stream).await).await;
        }
    });
    (addr, rx)
}

fn transport(peers: TlsPeers) -> (Tcp, mpsc::Receiver<Inbound>, mpsc::Receiver<Undelivered>) {
    let (inbound_tx, inbound) = mpsc::channel(16);
    let (undelivered_tx, undelivered) = mpsc::channel(16);
    let tcp = Tcp::new(inbound_tx, undelivered_tx).with_tls_peers(Arc::new(peers));
    (tcp, inbound, undelivered)
}

/// A real client transaction id, for a message whose failure must be
/// reported.
fn owned_options() -> Outbound {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let Ok(warmline_sip::message::Message::Request(request)) =
        warmline_sip::message::parse(OPTIONS, &warmline_sip::message::Limits::default())
    else {
        panic!("OPTIONS parses");
    };
    let id = layer
        .send_request(
            Duration::ZERO,
            request,
            "127.0.0.1:9".parse().expect("addr"),
            Transport::Tcp,
        )
        .expect("id");
    Outbound {
        bytes: OPTIONS.to_vec(),
        owner: Some(TxIdEither::Client(id)),
    }
}

#[tokio::test]
async fn a_message_for_a_tls_trunk_travels_inside_a_verified_handshake_and_answers_come_back() {
    let ca = TestCa::new("ok");
    let (addr, mut accepted) = tls_server(ca.leaf(PBX)).await;
    let peers = TlsPeers::from_config(&[trunk(addr, Some(ca.file()))]).expect("peers");
    let (tcp, mut inbound, _undelivered) = transport(peers);
    // Before any connection exists the address already counts as TLS, so
    // the first INVITE's Via and Contact say so.
    assert!(tcp.is_tls(addr));
    tcp.send(
        addr,
        Outbound {
            bytes: OPTIONS.to_vec(),
            owner: None,
        },
    )
    .expect("queued");
    let mut server = tokio::time::timeout(Duration::from_secs(3), accepted.recv())
        .await
        .expect("a connection within 3 s")
        .expect("server running")
        .expect("the handshake succeeds");
    let sni = server.get_ref().1.server_name().map(str::to_owned);
    assert_eq!(sni.as_deref(), Some(PBX), "the trunk's name goes as SNI");
    let mut got = vec![0u8; OPTIONS.len()];
    server.read_exact(&mut got).await.expect("read");
    assert_eq!(got, OPTIONS);
    let answer = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKout1\r\n\
From: <sip:warmline@127.0.0.1>;tag=1\r\nTo: <sip:pbx@127.0.0.1>;tag=2\r\n\
Call-ID: out-tls-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    server.write_all(answer).await.expect("write");
    let message = tokio::time::timeout(Duration::from_secs(3), inbound.recv())
        .await
        .expect("the answer within 3 s")
        .expect("inbound open");
    assert_eq!(message.source, addr);
    assert_eq!(message.bytes, answer.to_vec());
    assert!(tcp.is_tls(addr));
}

#[tokio::test]
async fn a_plain_connection_under_a_tls_trunks_address_is_never_written_to() {
    let ca = TestCa::new("plain-entry");
    let (addr, mut accepted) = tls_server(ca.leaf(PBX)).await;
    let peers = TlsPeers::from_config(&[trunk(addr, Some(ca.file()))]).expect("peers");
    let (tcp, _inbound, _undelivered) = transport(peers);
    // A plain stream registered under the trunk's address, as if the peer
    // had connected to our TCP port from it.
    let (ours, mut theirs) = tokio::io::duplex(4_096);
    tcp.adopt_stream(ours, addr, false);
    tcp.send(
        addr,
        Outbound {
            bytes: OPTIONS.to_vec(),
            owner: None,
        },
    )
    .expect("queued");
    let mut server = tokio::time::timeout(Duration::from_secs(3), accepted.recv())
        .await
        .expect("a TLS connection within 3 s")
        .expect("server running")
        .expect("the handshake succeeds");
    let mut got = vec![0u8; OPTIONS.len()];
    server.read_exact(&mut got).await.expect("read");
    assert_eq!(got, OPTIONS);
    // The plain stream got nothing; it was closed when the TLS connection
    // took its place in the registry.
    let mut leaked = Vec::new();
    let plain =
        tokio::time::timeout(Duration::from_millis(500), theirs.read_to_end(&mut leaked)).await;
    assert!(leaked.is_empty(), "the plain stream got {leaked:?}");
    assert!(matches!(plain, Ok(Ok(0))), "closed: {plain:?}");
}

#[tokio::test]
async fn a_trunk_presenting_a_certificate_for_another_name_is_refused_and_the_transaction_fails() {
    let ca = TestCa::new("name");
    // Trusted issuer, wrong name: only the name check can refuse it.
    let (addr, mut accepted) = tls_server(ca.leaf("other.warmline.test")).await;
    let peers = TlsPeers::from_config(&[trunk(addr, Some(ca.file()))]).expect("peers");
    let (tcp, _inbound, mut undelivered) = transport(peers);
    let started = Instant::now();
    tcp.send(addr, owned_options()).expect("queued");
    let report = tokio::time::timeout(Duration::from_secs(3), undelivered.recv())
        .await
        .expect("reported within 3 s")
        .expect("report");
    assert_eq!(report.dest, addr);
    assert!(matches!(report.owner, TxIdEither::Client(_)));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a refused handshake fails at once, not at the connect timeout: {:?}",
        started.elapsed()
    );
    // The server saw the client give up: no SIP reached it.
    let server_side = accepted.recv().await.expect("server running");
    assert!(server_side.is_err(), "the handshake did not complete");
    // A later message tries again, over TLS again.
    assert!(tcp.is_tls(addr));
}

#[tokio::test]
async fn a_self_signed_trunk_is_refused_by_the_built_in_roots() {
    let ca = TestCa::new("roots");
    let (addr, _accepted) = tls_server(ca.leaf(PBX)).await;
    // No tls_ca_file: only the Mozilla roots are trusted.
    let peers = TlsPeers::from_config(&[trunk(addr, None)]).expect("peers");
    let peer = peers.get(&addr).expect("a TLS peer");
    let error = peer
        .connect(addr, Duration::from_secs(3))
        .await
        .expect_err("an unknown issuer");
    assert!(matches!(error, OutboundTlsError::Handshake(_)), "{error}");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "the reason names the cause: {error}"
    );
}

#[tokio::test]
async fn a_trunk_that_does_not_speak_tls_gets_a_client_hello_and_never_sip_in_the_clear() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ca = TestCa::new("plain");
    let peers = TlsPeers::from_config(&[trunk(addr, Some(ca.file()))]).expect("peers");
    let (tcp, _inbound, mut undelivered) = transport(peers);
    tcp.send(addr, owned_options()).expect("queued");
    let (mut plain, _) = listener.accept().await.expect("accept");
    let mut first = [0u8; 3];
    plain.read_exact(&mut first).await.expect("read");
    // A TLS handshake record (content type 22, version 3.x), not "OPT".
    assert_eq!(first[0], 0x16, "{first:?}");
    assert_eq!(first[1], 0x03, "{first:?}");
    // It answers in plain text, as a SIP-over-TCP server would.
    plain
        .write_all(b"SIP/2.0 400 Bad Request\r\n\r\n")
        .await
        .expect("write");
    let report = tokio::time::timeout(Duration::from_secs(3), undelivered.recv())
        .await
        .expect("reported within 3 s")
        .expect("report");
    assert_eq!(report.dest, addr);
}

#[tokio::test]
async fn a_silent_trunk_fails_the_connection_at_the_bound() {
    // Accepts the TCP connection and never answers the ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let held = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(held);
    });
    let ca = TestCa::new("silent");
    let peers = TlsPeers::from_config(&[trunk(addr, Some(ca.file()))]).expect("peers");
    let peer = peers.get(&addr).expect("a TLS peer");
    let started = Instant::now();
    let error = peer
        .connect(addr, Duration::from_millis(300))
        .await
        .expect_err("no handshake");
    assert!(matches!(error, OutboundTlsError::Timeout(_)), "{error}");
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(2)).contains(&took),
        "{took:?}"
    );
    hold.abort();
}

#[test]
fn peers_are_built_only_from_tls_entries_with_usable_roots() {
    let ca = TestCa::new("config");
    let addr: SocketAddr = "192.0.2.20:5061".parse().expect("addr");
    let mut plain = trunk("192.0.2.21:5060".parse().expect("addr"), None);
    plain.transport = OutboundTransport::Tcp;
    plain.tls_server_name = None;
    let peers =
        TlsPeers::from_config(&[trunk(addr, Some(ca.file())), plain.clone()]).expect("peers");
    assert!(peers.contains(&addr));
    assert!(!peers.contains(&plain.address));
    assert_eq!(peers.get(&addr).map(TlsPeer::trunk), Some("pbx"));

    let error = TlsPeers::from_config(&[trunk(addr, Some(ca.dir.join("missing.pem")))])
        .expect_err("missing CA file");
    let text = error.to_string();
    assert!(
        text.contains("\"pbx\"") && text.contains("missing.pem"),
        "{text}"
    );

    let mut unnamed = trunk(addr, None);
    unnamed.tls_server_name = Some("not a name".into());
    assert!(matches!(
        TlsPeers::from_config(&[unnamed]),
        Err(OutboundTlsError::ServerName { .. })
    ));
}
