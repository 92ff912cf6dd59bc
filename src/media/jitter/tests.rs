use super::*;
use std::collections::BTreeSet;

/// splitmix64: a tiny seeded generator so the network is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn payload(seq: u64) -> [u8; FRAME_BYTES] {
    [(seq % 251) as u8; FRAME_BYTES]
}

fn packet(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> RtpPacket<'_> {
    RtpPacket {
        sequence: seq,
        timestamp: ts,
        ssrc,
        marker: false,
        payload,
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn lossy_jittery_reordering_network_plays_in_order_conceals_exactly_the_lost_and_bounds_delay() {
    const PACKETS: u64 = 3_000;
    let mut rng = Rng(0x5EED_2026);
    let first_seq: u16 = 65_000; // wraps during the run
    let first_ts: u32 = u32::MAX - 50_000; // wraps too
                                           // (arrival µs, index) of every delivered packet.
    let mut deliveries = Vec::new();
    let mut lost = BTreeSet::new();
    let mut min_delay_us = u64::MAX;
    for i in 0..PACKETS {
        if rng.unit() < 0.05 {
            lost.insert(i);
            continue;
        }
        let mut delay_us = (rng.unit() * 30_000.0) as u64;
        if rng.unit() < 0.02 {
            delay_us += 20_000 + (rng.unit() * 5_000.0) as u64; // overtaken by the next one
        }
        min_delay_us = min_delay_us.min(delay_us);
        deliveries.push((i * 20_000 + delay_us, i));
    }
    deliveries.sort();
    let arrival_of: std::collections::HashMap<u64, u64> =
        deliveries.iter().map(|&(a, i)| (i, a)).collect();
    let reordered = deliveries.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert!(
        reordered > 20,
        "the network must actually reorder ({reordered})"
    );

    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut next_delivery = 0;
    let mut played = Vec::new();
    let mut concealed = BTreeSet::new();
    let mut late = BTreeSet::new();
    let mut tick = 0u64;
    let mut after_end = 0usize;
    // Ticks at a 7 ms phase from the sender's clock.
    while tick < PACKETS + 20 {
        let now_us = tick * 20_000 + 7_000;
        while next_delivery < deliveries.len() && deliveries[next_delivery].0 <= now_us {
            let (arrival, i) = deliveries[next_delivery];
            let p = payload(i);
            let outcome = jb
                .push(
                    packet(
                        first_seq.wrapping_add(i as u16),
                        first_ts.wrapping_add(i as u32 * 160),
                        7,
                        &p,
                    ),
                    Duration::from_micros(arrival),
                )
                .expect("20 ms payload");
            if outcome == PushOutcome::Late {
                late.insert(i);
            }
            next_delivery += 1;
        }
        let target = jb.target_depth();
        match jb.pop(Duration::from_micros(now_us)) {
            Playout::Frame {
                sequence,
                payload: p,
                ..
            } => {
                let i = sequence - u64::from(first_seq);
                assert_eq!(*p, payload(i), "frame {i} carries its own payload");
                // The delay the buffer adds is how long the packet waited in it.
                let held_us = now_us - arrival_of[&i];
                assert!(
                    Duration::from_micros(held_us) < target.max(jb.target_depth()) + ms(20),
                    "frame {i}: held {held_us} µs with target {target:?}"
                );
                played.push(i);
            }
            Playout::Concealed { sequence, .. } => {
                let i = sequence - u64::from(first_seq);
                // Past the last packet the sender has simply stopped.
                if i < PACKETS {
                    concealed.insert(i);
                    played.push(i);
                } else {
                    after_end += 1;
                }
            }
            Playout::Buffering => {}
        }
        tick += 1;
    }
    // No frame out of order, none twice.
    assert!(played.windows(2).all(|w| w[0] < w[1]), "out of order");
    // Everything not played was trimmed to win back latency, which is rare.
    let trimmed = jb.stats().trimmed;
    assert_eq!(played.len() as u64 + trimmed, PACKETS);
    assert!(trimmed <= 3, "{trimmed} frames trimmed");
    let _ = min_delay_us;
    // Concealment is exactly the loss: in the network, or too late.
    let expected: BTreeSet<u64> = lost.union(&late).copied().collect();
    assert_eq!(concealed, expected);
    assert_eq!(
        jb.stats().concealed as usize - after_end,
        lost.len() + late.len()
    );
    assert_eq!(jb.stats().late as usize, late.len());
    assert!(
        late.len() <= 10,
        "{} late packets: the depth did not adapt",
        late.len()
    );
    assert!(jb.target_depth() <= ms(60));
    eprintln!(
        "lost {} late {} trimmed {trimmed} target {:?} {:?}",
        lost.len(),
        late.len(),
        jb.target_depth(),
        jb.stats()
    );
}

#[test]
fn a_timestamp_jump_resyncs_within_one_frame() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_depth_ms: 20,
        ..JitterConfig::default()
    });
    let p = payload(1);
    let mut outputs = Vec::new();
    for i in 0..40u64 {
        // At packet 20 the sender's clock leaps ahead by 10 s.
        let ts = i as u32 * 160 + if i >= 20 { 80_000 } else { 0 };
        let outcome = jb
            .push(packet(i as u16, ts, 1, &p), ms(i * 20))
            .expect("push");
        if i == 20 {
            assert_eq!(outcome, PushOutcome::Resynced);
        }
        outputs.push(match jb.pop(ms(i * 20 + 5)) {
            Playout::Frame { sequence, .. } => Some(sequence),
            Playout::Concealed { sequence, .. } => panic!("nothing was lost: {sequence}"),
            Playout::Buffering => None,
        });
    }
    let played: Vec<u64> = outputs.iter().flatten().copied().collect();
    // Continuous: no gap and no concealment across the jump.
    assert!(played.windows(2).all(|w| w[1] == w[0] + 1), "{played:?}");
    let first_playing = outputs.iter().position(Option::is_some).expect("plays");
    assert!(
        outputs[first_playing..].iter().all(Option::is_some),
        "{outputs:?}"
    );
    assert_eq!(jb.stats().resyncs, 1);
}

#[test]
fn an_ssrc_change_resyncs_within_one_frame() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_depth_ms: 20,
        ..JitterConfig::default()
    });
    let old = [1u8; FRAME_BYTES];
    let new = [2u8; FRAME_BYTES];
    let mut sequence = Vec::new();
    for i in 0..40u64 {
        let (pkt, payload) = if i < 20 {
            (
                packet(100 + i as u16, 5_000 + i as u32 * 160, 0xAAAA, &old),
                1,
            )
        } else {
            // A new sender: unrelated sequence and timestamp bases.
            (
                packet(9_000 + i as u16, 77_777 + i as u32 * 160, 0xBBBB, &new),
                2,
            )
        };
        jb.push(pkt, ms(i * 20)).expect("push");
        match jb.pop(ms(i * 20 + 5)) {
            Playout::Frame { payload: p, .. } => sequence.push(p[0]),
            Playout::Concealed { .. } => panic!("nothing was lost"),
            Playout::Buffering => assert!(sequence.is_empty() || payload == 0, "gap at {i}"),
        }
    }
    let switch = sequence
        .iter()
        .position(|&b| b == 2)
        .expect("new stream plays");
    assert!(sequence[..switch].iter().all(|&b| b == 1));
    assert!(sequence[switch..].iter().all(|&b| b == 2));
    assert_eq!(
        sequence.len(),
        39,
        "every tick after the first played a frame"
    );
}

#[test]
fn a_duplicate_is_dropped_and_counted() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let p = payload(3);
    assert_eq!(
        jb.push(packet(1, 160, 1, &p), ms(0)),
        Ok(PushOutcome::Queued)
    );
    assert_eq!(
        jb.push(packet(1, 160, 1, &p), ms(1)),
        Ok(PushOutcome::Duplicate)
    );
    assert_eq!(jb.stats().duplicates, 1);
    assert_eq!(jb.stats().received, 1);
}

#[test]
fn a_wrong_payload_size_is_an_error_and_changes_nothing() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert_eq!(
        jb.push(packet(1, 0, 1, &[0u8; 80]), ms(0)),
        Err(JitterError::UnsupportedPayloadSize(80))
    );
    assert_eq!(jb.stats(), JitterStats::default());
}

#[test]
fn interarrival_jitter_follows_rfc_3550() {
    // Transit alternates by 4 ms (32 timestamp units): D = 32 each packet,
    // and J converges to 32 (J += (|D| - J) / 16).
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let p = payload(0);
    for i in 0..400u64 {
        let arrival = ms(i * 20 + if i % 2 == 0 { 0 } else { 4 });
        jb.push(packet(i as u16, i as u32 * 160, 1, &p), arrival)
            .expect("push");
        jb.pop(arrival);
    }
    let j = jb.stats().jitter;
    assert!((30..=32).contains(&j), "jitter {j}");
}

#[test]
fn loss_statistics_count_the_gaps() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let p = payload(0);
    for i in [0u16, 1, 2, 5, 6, 9] {
        jb.push(packet(i, u32::from(i) * 160, 1, &p), ms(u64::from(i) * 20))
            .expect("push");
    }
    let s = jb.stats();
    assert_eq!(s.cumulative_lost, 4);
    assert_eq!(s.highest_sequence, 9);
}

#[test]
fn repeat_and_fade_conceals_with_a_quieter_copy_then_silence() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_depth_ms: 0,
        ..JitterConfig::default()
    });
    let loud = [super::super::g711::ulaw_encode(8_000); FRAME_BYTES];
    jb.push(packet(0, 0, 1, &loud), ms(0)).expect("push");
    assert!(matches!(jb.pop(ms(0)), Playout::Frame { .. }));
    let mut levels = Vec::new();
    for t in 1..6 {
        match jb.pop(ms(t * 20)) {
            Playout::Concealed { payload, .. } => {
                levels.push(super::super::g711::ulaw_decode(payload[0]))
            }
            other => panic!("expected concealment, got {other:?}"),
        }
    }
    assert!(
        levels[0] < 8_000 && levels[1] < levels[0] && levels[2] < levels[1],
        "{levels:?}"
    );
    assert_eq!(&levels[3..], &[0, 0]);
}
