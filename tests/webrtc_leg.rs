//! The WebRTC leg with a peer that is not a browser: a str0m client
//! (tests/support/webrtc_peer.rs) calls the real `warmline` binary's demo
//! agent over `/webrtc/ws`. Fast, and needs no Chromium: the wire-level
//! checks (pacing, the greeting's audio) live here; tests/try_page.rs
//! checks the page in a real browser.

mod support {
    pub mod server;
    pub mod twilio_sim;
    pub mod webrtc_peer;
}

#[test]
fn a_webrtc_peer_connects_and_hears_the_greeting_paced_at_20_ms() {
    let server = support::server::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("OPENAI_API_KEY", None)],
        false,
    );
    // A silent caller: the agent greets and then waits.
    let report = support::webrtc_peer::call(&server.addr, &[0i16; 960], 4.0);
    let connected = report.connected_after.expect("the call never connected");
    assert!(
        connected < std::time::Duration::from_secs(2),
        "{connected:?}"
    );

    // Opus packets every 20 ms from connection to the end: the leg sends
    // silence in idle slots, so about 50 a second with no gaps.
    let received = &report.received;
    let span = received.last().expect("no audio received").as_secs_f64();
    let rate = received.len() as f64 / span;
    assert!(
        (45.0..=55.0).contains(&rate),
        "{} packets in {span:.2} s",
        received.len()
    );
    let longest_gap = received
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .max()
        .unwrap_or(0);
    assert!(
        longest_gap < 100,
        "a {longest_gap} ms gap in the agent's audio"
    );

    // The greeting ("Hello world.", 1.57 s) is sound; what follows is
    // silence.
    let loud = report.frame_rms.iter().filter(|&&rms| rms > 300.0).count();
    assert!(
        (30..=100).contains(&loud),
        "{loud} loud frames of {}",
        report.frame_rms.len()
    );
    let tail = &report.frame_rms[report.frame_rms.len().saturating_sub(25)..];
    assert!(
        tail.iter().all(|&rms| rms < 50.0),
        "not silent after the greeting: {tail:?}"
    );

    println!(
        "connected after {connected:?}; {} packets at {rate:.1}/s, longest gap {longest_gap} ms; {loud} loud frames",
        received.len()
    );

    // The signalling said so.
    let said = |t: &str| report.messages.iter().any(|m| m.contains(t));
    assert!(said(r#""state":"connecting""#) && said(r#""state":"connected""#));
    assert!(said(r#""text":"Hello world.""#), "{:?}", report.messages);
}
