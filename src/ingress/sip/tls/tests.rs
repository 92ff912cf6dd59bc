use super::*;
use crate::ingress::sip::transport::Inbound;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A self-signed certificate for `127.0.0.1`, written as PEM files into a
/// fresh directory: (dir, cert path, key path, certificate DER).
fn self_signed(tag: &str) -> (PathBuf, PathBuf, PathBuf, CertificateDer<'static>) {
    let dir = std::env::temp_dir().join(format!("warmline-sip-tls-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("rcgen");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key");
    (dir, cert_path, key_path, cert.cert.der().clone())
}

fn client_for(cert: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    crate::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn listening(certs: Arc<TlsCerts>) -> (SocketAddr, Tcp, mpsc::Receiver<Inbound>) {
    let (inbound_tx, inbound) = mpsc::channel(16);
    let (undelivered_tx, _undelivered) = mpsc::channel(16);
    let tcp = Tcp::new(inbound_tx, undelivered_tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(acceptor(listener, certs, tcp.clone()));
    (addr, tcp, inbound)
}

const OPTIONS: &[u8] = b"OPTIONS sip:warmline@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bKtls1\r\n\
From: <sip:probe@127.0.0.1>;tag=1\r\n\
To: <sip:warmline@127.0.0.1>\r\n\
Call-ID: tls-1\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

#[tokio::test]
async fn a_message_over_tls_reaches_the_endpoint_and_the_connection_is_marked_tls() {
    let (dir, cert, key, der) = self_signed("deliver");
    let certs = Arc::new(TlsCerts::load(&cert, &key).expect("load"));
    let (addr, tcp, mut inbound) = listening(certs).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = client_for(&der)
        .connect(name, stream)
        .await
        .expect("handshake");
    tls.write_all(OPTIONS).await.expect("write");
    let got = tokio::time::timeout(Duration::from_secs(5), inbound.recv())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(got.bytes, OPTIONS);
    assert_eq!(got.source, local);
    assert!(tcp.is_tls(local), "the connection is registered as TLS");

    // What the endpoint sends back goes out encrypted on the same connection.
    tcp.send(
        local,
        super::super::tcp::Outbound {
            bytes: b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
            owner: None,
        },
    )
    .expect("queued");
    let mut reply = [0u8; 18];
    tls.read_exact(&mut reply).await.expect("reply");
    assert_eq!(&reply, b"SIP/2.0 200 OK\r\n\r\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_and_a_bad_file_keeps_the_old_one() {
    let (dir, cert, key, first) = self_signed("reload");
    let certs = Arc::new(TlsCerts::load(&cert, &key).expect("load"));
    let (addr, _tcp, _inbound) = listening(certs.clone()).await;
    let name = || rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");

    // Replace the files with a new identity and reload.
    let second = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("rcgen");
    std::fs::write(&cert, second.cert.pem()).expect("cert");
    std::fs::write(&key, second.signing_key.serialize_pem()).expect("key");
    certs.reload().expect("reload");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    assert!(
        client_for(&first).connect(name(), stream).await.is_err(),
        "a client trusting only the old certificate is refused"
    );
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client_for(second.cert.der())
        .connect(name(), stream)
        .await
        .expect("the new certificate is served");

    // A truncated key file: the reload fails and the second identity stays.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n").expect("key");
    assert!(certs.reload().is_err());
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client_for(second.cert.der())
        .connect(name(), stream)
        .await
        .expect("still served after a failed reload");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_key_that_is_not_the_certificates_own_is_refused_with_a_clear_error() {
    let (dir, cert, _key, _) = self_signed("mismatch-a");
    let (dir2, _cert2, key2, _) = self_signed("mismatch-b");
    let error = TlsCerts::load(&cert, &key2).expect_err("mismatch");
    assert!(matches!(error, TlsError::Identity(_)), "{error}");
    let missing = TlsCerts::load(&dir.join("nope.pem"), &key2).expect_err("missing");
    assert!(missing.to_string().contains("nope.pem"), "{missing}");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_never_handshakes_is_closed_after_the_timeout() {
    let (dir, cert, key, _) = self_signed("silent");
    let certs = Arc::new(TlsCerts::load(&cert, &key).expect("load"));
    let (addr, tcp, _inbound) = listening(certs).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(
        HANDSHAKE_TIMEOUT + Duration::from_secs(2),
        stream.read(&mut buf),
    )
    .await
    .expect("closed within the handshake timeout");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(!tcp.is_tls(stream.local_addr().expect("local")));
    let _ = std::fs::remove_dir_all(dir);
}
