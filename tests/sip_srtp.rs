//! SRTP with SDES keys against a real peer: baresip 1.0 with its `srtp`
//! module and `;mediaenc=srtp-mand` (RTP/SAVP, a=crypto, libre's own SRTP)
//! calls the real `warmline` binary on a trunk with `srtp = "required"`.
//! Audio both ways: baresip decodes the demo agent's greeting (SRTP we
//! protected and libre authenticated), and warmline counts baresip's
//! packets (SRTP we authenticated; a refused one is never counted). The
//! same trunk refuses a plain RTP offer with 488.

mod support {
    pub mod baresip;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::path::Path;
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

fn quiet_mic() -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/silence_dither.wav");
    let quiet: Vec<i16> = support::wav::frames_8k(&path)
        .iter()
        .flat_map(|f| f.samples().to_vec())
        .collect();
    quiet.iter().copied().cycle().take(15 * 8000).collect()
}

/// A warmline whose only trunk (loopback) requires SRTP.
fn srtp_required_server(tag: &str) -> (sipp::SipServer, std::path::PathBuf) {
    let file =
        std::env::temp_dir().join(format!("warmline-srtp-{}-{tag}.toml", std::process::id()));
    std::fs::write(
        &file,
        "[[sip.trunks]]\nname = \"secure\"\nallow = [\"127.0.0.0/8\"]\nsrtp = \"required\"\n",
    )
    .expect("config");
    let path = file.display().to_string();
    let server = sipp::start(
        env!("CARGO_BIN_EXE_warmline"),
        &[("WARMLINE_CONFIG", Some(&path))],
    );
    (server, file)
}

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

const SRTP_MODULE: &str = "module\t\t\tsrtp.so\n";

#[test]
fn baresip_with_mandatory_srtp_completes_a_call_with_audio_both_ways() {
    let (server, file) = srtp_required_server("call");
    let run = baresip::call_with(
        &format!("sip:agent@{}", server.sip),
        &quiet_mic(),
        6,
        SRTP_MODULE,
        ";mediaenc=srtp-mand",
    );
    let out = &run.output;
    assert_eq!(run.exit_code, Some(0), "{out}");
    assert!(out.contains("Call established"), "{out}");
    // baresip's offer and warmline's answer both carry RTP/SAVP audio.
    let savp = out
        .lines()
        .filter(|l| l.starts_with("m=audio") && l.contains("RTP/SAVP"))
        .count();
    assert!(savp >= 2, "offer and answer not both RTP/SAVP:\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("a=crypto:") && l.contains("AES_CM_128_HMAC_SHA1_80")),
        "no AES_CM_128_HMAC_SHA1_80 a=crypto in the trace:\n{out}"
    );

    let (heard, rate) = run.recording("-dec.wav");
    assert_eq!(rate, 8000);
    let heard_rms = rms(&heard);
    assert!(
        heard_rms > 300.0,
        "baresip decoded rms {heard_rms}: our SRTP did not reach its ears\n{out}"
    );
    let metrics = metrics_until(
        &server.server.addr,
        "warmline_rtp_packets_received_total",
        200.0,
    );
    let received = metric(&metrics, "warmline_rtp_packets_received_total").unwrap_or(0.0);
    assert!(
        received >= 200.0,
        "warmline authenticated {received} SRTP packets from baresip\n{metrics}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_trunk_that_requires_srtp_refuses_a_plain_rtp_offer_with_488() {
    let (server, file) = srtp_required_server("plain");
    let run = baresip::call(&format!("sip:agent@{}", server.sip), &quiet_mic(), 3);
    let out = &run.output;
    assert!(!out.contains("Call established"), "{out}");
    let trace = run.sip_trace();
    let to_baresip = format!("{} -> {}", server.sip, run.sip);
    assert!(
        trace.iter().any(|(dir, start, cseq)| *dir == to_baresip
            && start.starts_with("SIP/2.0 488")
            && cseq.ends_with("INVITE")),
        "no 488 to the plain INVITE: {trace:?}\n{out}"
    );
    let metrics = http_get(&server.server.addr, "/metrics").body;
    assert_ne!(
        metric(&metrics, "warmline_calls_started_total{ingress=\"sip\"}"),
        Some(1.0),
        "{metrics}"
    );
    let _ = std::fs::remove_file(file);
}
