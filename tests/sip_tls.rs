//! SIP over TLS with a real peer: baresip 1.0 (Debian's, built with
//! OpenSSL; Debian's SIPp has no TLS) dials `;transport=tls` to the real
//! `warmline` binary listening on `[sip] tls_listen` with a certificate
//! made in the test (rcgen, aws-lc-rs), trusted by baresip through
//! `sip_cafile`. The call must carry audio both ways: baresip records the
//! demo agent's greeting, and warmline counts the caller's RTP.

mod support {
    pub mod baresip;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::twilio_sim::{http_get, metric};
use support::{baresip, sipp};

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

fn fixture(name: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audio")
        .join(name);
    support::wav::frames_8k(&path)
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect()
}

/// A self-signed certificate for 127.0.0.1 as PEM files: (dir, cert, key).
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("warmline-sip-tls-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("rcgen");
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).expect("cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("key");
    (dir, c, k)
}

/// Polls `/metrics` until `series` is at least `value` (or five seconds
/// pass), returning the last exposition.
fn metrics_until(addr: &str, series: &str, at_least: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = http_get(addr, "/metrics").body;
        if metric(&body, series).is_some_and(|v| v >= at_least) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn baresip_calls_over_tls_and_the_call_carries_audio_both_ways() {
    let (dir, cert, key) = certificate();
    let tls = format!("127.0.0.1:{}", support::server::free_port());
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let server = sipp::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[
            ("WARMLINE_SIP__TLS_LISTEN", Some(&tls)),
            ("WARMLINE_SIP__TLS_CERT_FILE", Some(&cert_s)),
            ("WARMLINE_SIP__TLS_KEY_FILE", Some(&key_s)),
        ],
    );
    // A quiet caller (dithered silence) so the greeting plays out without a
    // barge-in; its RTP is still the caller's audio reaching warmline.
    let quiet = fixture("silence_dither.wav");
    let mic: Vec<i16> = quiet.iter().copied().cycle().take(15 * 8000).collect();
    let run = baresip::call_with(
        &format!("sip:agent@{tls};transport=tls"),
        &mic,
        6,
        &format!("sip_cafile\t\t{cert_s}\n"),
        "",
    );
    let out = &run.output;
    assert_eq!(run.exit_code, Some(0), "{out}");
    assert!(out.contains("Call established"), "{out}");
    // The signalling really went over TLS (baresip's trace names it).
    assert!(
        out.lines()
            .any(|l| l.starts_with("TLS ") && l.contains(&tls)),
        "no TLS in baresip's SIP trace:\n{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("UDP ") && l.contains(&server.sip)),
        "signalling fell back to UDP:\n{out}"
    );

    // warmline → baresip: the greeting.
    let (heard, rate) = run.recording("-dec.wav");
    assert_eq!(rate, 8000);
    let heard_rms = rms(&heard);
    assert!(heard_rms > 300.0, "decoded rms {heard_rms}\n{out}");

    // baresip → warmline: its RTP arrived (counted when the call ends).
    let metrics = metrics_until(
        &server.server.addr,
        "warmline_rtp_packets_received_total",
        200.0,
    );
    let received = metric(&metrics, "warmline_rtp_packets_received_total").unwrap_or(0.0);
    assert!(
        received >= 200.0,
        "warmline received {received} RTP packets from the TLS caller\n{metrics}"
    );
    assert_eq!(
        metric(&metrics, "warmline_calls_started_total{ingress=\"sip\"}"),
        Some(1.0),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
