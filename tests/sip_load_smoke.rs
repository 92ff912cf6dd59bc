//! A short version of the SIP load run: SIPp places 20 calls with RTP both
//! ways, held 10 s, against the real binary and a loopback fake model; no
//! call may fail. The benchmark itself is `cargo run --release --example
//! sip_load`.

mod support {
    pub mod fake_realtime;
    pub mod load;
    pub mod server;
    pub mod sip_load;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sip_calls_with_rtp_for_ten_seconds_all_succeed() {
    let model = support::load::fake_model().await;
    let sip = format!("127.0.0.1:{}", free_port());
    let server = support::sip_load::start_server(env!("CARGO_BIN_EXE_warmline"), &model, &sip, 20);
    let report = tokio::task::spawn_blocking(move || {
        let report = support::sip_load::run(&server, &sip, 20, 10, Duration::from_secs(10));
        drop(server);
        report
    })
    .await
    .expect("load run");
    println!("{report:?}");
    assert_eq!(
        report.sipp_status, 0,
        "SIPp saw failed calls: {}",
        report.errors
    );
    assert_eq!(report.failed, 0);
    assert!(report.server_packets > 20 * 50 * 3, "{report:?}");
}

fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
