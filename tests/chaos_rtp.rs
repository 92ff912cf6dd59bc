//! Chaos on RTP (issue 19), in-process because this kernel has no netem: a
//! raw SIP caller whose RTP toward warmline loses 10 % of its packets in
//! bursts (a Gilbert–Elliott channel, bursts of three on average) and
//! arrives with up to 200 ms of jitter (so out of order), for 6 s of the
//! caller talking over the demo agent's greeting.
//!
//! The call must ride it out and end cleanly: warmline keeps sending its
//! own RTP on time, counts the loss as RFC 3550 does, conceals the gaps,
//! answers the BYE and logs the call's end with its reason.

mod support {
    pub mod raw_sip;
    pub mod server;
    pub mod sipp;
    pub mod twilio_sim;
    pub mod wav;
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::raw_sip::rtp_packet;
use support::twilio_sim::{http_get, metric};

const BINARY: &str = env!("CARGO_BIN_EXE_warmline");
/// Packets sent: 6 s of 20 ms frames.
const PACKETS: u16 = 300;
/// Most a packet is held back.
const MAX_JITTER: Duration = Duration::from_millis(200);

/// A small deterministic generator (xorshift64*), so every run impairs
/// the same packets.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Which packets a Gilbert–Elliott channel loses: 10 % on average, in
/// bursts of three on average (leaving the bad state with p = 1/3).
fn bursty_losses(rng: &mut Rng, n: usize) -> Vec<bool> {
    let to_bad = 0.1 / 0.9 / 3.0;
    let to_good = 1.0 / 3.0;
    let mut bad = false;
    (0..n)
        .map(|_| {
            bad = if bad {
                rng.next_f64() >= to_good
            } else {
                rng.next_f64() < to_bad
            };
            bad
        })
        .collect()
}

#[test]
fn a_sip_call_rides_out_bursty_loss_and_200_ms_of_jitter_and_ends_cleanly() {
    let server = support::sipp::start(BINARY, &[("RUST_LOG", Some("info"))]);
    let call = support::raw_sip::dial(&server.sip, "chaos-rtp");

    // Everything warmline sends us, with its arrival time.
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let socket = call.rtp.try_clone().expect("clone RTP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let (arrivals, done) = (arrivals.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2_048];
            while !done.load(Ordering::Relaxed) {
                if let Ok((n, _)) = socket.recv_from(&mut buf) {
                    if n > 12 && buf[1] & 0x7F == 0 {
                        if let Ok(mut a) = arrivals.lock() {
                            a.push(Instant::now());
                        }
                    }
                }
            }
        })
    };

    // The caller's phrase, looped, impaired.
    let speech = support::wav::fixture_mulaw("caller_01.wav");
    let mut rng = Rng(0x005E_ED0F_CA05);
    let lost = bursty_losses(&mut rng, usize::from(PACKETS));
    let dropped = lost.iter().filter(|&&l| l).count();
    let start = Instant::now() + Duration::from_millis(100);
    let mut schedule: Vec<(Instant, u16)> = (0..PACKETS)
        .filter(|&seq| !lost[usize::from(seq)])
        .map(|seq| {
            let nominal = start + Duration::from_millis(20 * u64::from(seq));
            (nominal + MAX_JITTER.mul_f64(rng.next_f64()), seq)
        })
        .collect();
    schedule.sort();
    let reordered = schedule.windows(2).filter(|w| w[1].1 < w[0].1).count();
    for (at, seq) in &schedule {
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let offset = (usize::from(*seq) * 160) % speech.len().saturating_sub(160).max(1);
        let payload = &speech[offset..offset + 160];
        call.rtp
            .send_to(
                &rtp_packet(*seq, u32::from(*seq) * 160, payload),
                call.media,
            )
            .expect("send RTP");
    }
    std::thread::sleep(MAX_JITTER);
    done.store(true, Ordering::Relaxed);
    receiver.join().expect("receiver");
    let bye = call.bye();

    // Warmline's own RTP kept its clock through it all.
    let arrivals = arrivals.lock().expect("arrivals").clone();
    assert!(
        arrivals.len() > 250,
        "warmline sent {} packets in 6 s",
        arrivals.len()
    );
    let longest_gap = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap < Duration::from_millis(200),
        "warmline's RTP stalled for {longest_gap:?}"
    );
    // The BYE is answered and the call's end is logged with its reason.
    assert_eq!(bye, Some(200), "the BYE was not answered 200");
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = server
            .server
            .logs()
            .into_iter()
            .find(|l| l.contains("call ended") && l.contains("chaos-rtp"));
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no `call ended` line");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains("reason=\"caller_hung_up\""), "{line}");
    // The loss is counted as RFC 3550 counts it (expected − received:
    // late packets are received, not lost) and the gaps were concealed.
    let metrics = http_get(&server.server.addr, "/metrics").body;
    let counted = metric(&metrics, "warmline_rtp_packets_lost_total").unwrap_or(-1.0);
    let concealed = metric(&metrics, "warmline_rtp_frames_concealed_total").unwrap_or(0.0);
    println!(
        "impaired RTP: {dropped} of {PACKETS} lost in bursts, {reordered} reordered; \
         warmline counted {counted} lost, concealed {concealed} frames; \
         its own RTP's longest gap {longest_gap:?}"
    );
    assert!(
        (counted - dropped as f64).abs() <= 1.0,
        "warmline counted {counted} lost, {dropped} were"
    );
    assert!(concealed > 0.0, "no gap was concealed");
    assert!(
        reordered > 10,
        "the jitter reordered only {reordered} packets"
    );
}
