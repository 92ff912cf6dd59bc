//! TCP transport behaviour on loopback: accept backoff, messages queued
//! behind a connect, and failures reported to the endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::AsyncReadExt;
use warmline_sip::transaction::{ClientTxId, TxIdEither};

use super::*;

#[test]
fn accept_backoff_doubles_from_10_ms_to_1_s_and_logs_once_per_episode() {
    let mut backoff = AcceptBackoff::default();
    let pauses: Vec<(u128, bool)> = (0..9)
        .map(|_| {
            let (pause, first) = backoff.failed();
            (pause.as_millis(), first)
        })
        .collect();
    assert_eq!(
        pauses,
        vec![
            (10, true),
            (20, false),
            (40, false),
            (80, false),
            (160, false),
            (320, false),
            (640, false),
            (1_000, false),
            (1_000, false),
        ]
    );
    assert_eq!(backoff.succeeded(), Some(9));
    // Success without an episode reports nothing; a new episode starts over.
    assert_eq!(backoff.succeeded(), None);
    assert_eq!(backoff.failed(), (Duration::from_millis(10), true));
}

#[tokio::test]
async fn an_acceptor_whose_accept_keeps_failing_backs_off_instead_of_spinning() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let accept = move || {
        counted.fetch_add(1, Ordering::Relaxed);
        async {
            Err::<((), SocketAddr), _>(std::io::Error::from_raw_os_error(24)) // EMFILE
        }
    };
    let run = tokio::spawn(accept_loop(accept, |(), _| {}));
    tokio::time::sleep(Duration::from_millis(400)).await;
    run.abort();
    let n = attempts.load(Ordering::Relaxed);
    // 10 + 20 + 40 + 80 + 160 ms of pauses fit in 400 ms: about 6
    // attempts. A spinning loop makes thousands.
    assert!((3..=8).contains(&n), "{n} accept attempts in 400 ms");
}

fn channels() -> (Tcp, mpsc::Receiver<Inbound>, mpsc::Receiver<Undelivered>) {
    let (inbound_tx, inbound) = mpsc::channel(16);
    let (undelivered_tx, undelivered) = mpsc::channel(16);
    (Tcp::new(inbound_tx, undelivered_tx), inbound, undelivered)
}

fn owned(bytes: &[u8], n: u64) -> Outbound {
    Outbound {
        bytes: bytes.to_vec(),
        owner: Some(TxIdEither::Client(client_id(n))),
    }
}

fn client_id(n: u64) -> ClientTxId {
    // Ids are opaque outside the sip crate; get real ones from a layer.
    use warmline_sip::transaction::{TimerConfig, TransactionLayer, Transport};
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut last = None;
    for i in 0..n {
        let request = warmline_sip::message::parse(
            format!(
                "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKt{i}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
            &Limits::default(),
        );
        let Ok(warmline_sip::message::Message::Request(request)) = request else {
            panic!("test request does not parse");
        };
        last = layer
            .send_request(
                Duration::ZERO,
                request,
                "127.0.0.1:9".parse().expect("addr"),
                Transport::Tcp,
            )
            .ok();
    }
    last.expect("an id")
}

#[tokio::test]
async fn a_refused_connect_reports_every_queued_transaction_message_and_forgets_the_peer() {
    let (tcp, _inbound, mut undelivered) = channels();
    // A port with nothing listening: the connect is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dest = closed.local_addr().expect("addr");
    drop(closed);
    let started = Instant::now();
    tcp.send(dest, owned(b"BYE", 1)).expect("queued");
    tcp.send(
        dest,
        Outbound {
            bytes: b"ACK".to_vec(),
            owner: None,
        },
    )
    .expect("queued");
    tcp.send(dest, owned(b"UPDATE", 2)).expect("queued");
    // `send` returned at once; the failure arrives on the report channel.
    assert!(started.elapsed() < Duration::from_millis(50));
    let first = undelivered.recv().await.expect("report");
    let second = undelivered.recv().await.expect("report");
    assert_eq!(first.dest, dest);
    assert_eq!(first.owner, TxIdEither::Client(client_id(1)));
    assert_eq!(second.owner, TxIdEither::Client(client_id(2)));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), undelivered.recv())
            .await
            .is_err(),
        "the stateless ACK is not reported"
    );
    assert_eq!(tcp.open_count(), 0);
}

#[tokio::test]
async fn messages_queued_while_connecting_go_out_in_order_once_connected() {
    let (tcp, mut inbound, _undelivered) = channels();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dest = listener.local_addr().expect("addr");
    for n in 0..5u8 {
        tcp.send(dest, owned(&[b'a' + n], 1)).expect("queued");
    }
    let (mut peer, _) = listener.accept().await.expect("accept");
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).await.expect("read");
    assert_eq!(&got, b"abcde");
    // The same connection carries the peer's messages to the endpoint.
    use tokio::io::AsyncWriteExt;
    let options = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKp\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: p\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    peer.write_all(options).await.expect("write");
    let message = inbound.recv().await.expect("inbound");
    assert_eq!(message.bytes, options.to_vec());
    assert_eq!(tcp.open_count(), 1);
}

#[tokio::test]
async fn a_full_queue_toward_a_peer_fails_the_next_message_at_once() {
    let (tcp, _inbound, _undelivered) = channels();
    // The test runtime has one thread, so the connection task cannot run
    // (and drain the queue) until this test yields.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dest = listener.local_addr().expect("addr");
    for _ in 0..TCP_WRITE_QUEUE {
        tcp.send(dest, owned(b"x", 1)).expect("queued");
    }
    assert_eq!(tcp.send(dest, owned(b"y", 1)), Err(QueueError::Full));
}
