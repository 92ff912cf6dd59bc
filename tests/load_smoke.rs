//! A short version of the load run: 20 simulated Twilio calls for 10 s
//! against the real binary and a loopback fake model; no call may fail.
//! The benchmark itself is `cargo run --release --example load`.

mod support {
    pub mod fake_realtime;
    pub mod load;
    pub mod server;
    pub mod twilio_sim;
    pub mod wav;
}

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_for_ten_seconds_all_succeed() {
    let model = support::load::fake_model().await;
    let server = support::load::start_server(env!("CARGO_BIN_EXE_warmline"), &model);
    let report = support::load::run(&server, 20, Duration::from_secs(10)).await;
    println!("{report:?}");
    assert_eq!(report.failed, 0, "failed calls: {:?}", report.errors);
}
