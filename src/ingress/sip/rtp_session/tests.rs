use super::*;

const MS: Duration = Duration::from_millis(1);
const WALL: Duration = Duration::from_secs(1_800_000_000);

fn config(law: Law, pt: u8) -> RtpSessionConfig {
    RtpSessionConfig {
        payload_type: pt,
        law,
        telephone_event_pt: Some(101),
        remote: "203.0.113.20:31000".parse().expect("addr"),
        signalling_ip: "203.0.113.10".parse().expect("ip"),
        ssrc: 0x1234_5678,
        initial_sequence: 65_530,
        initial_timestamp: 1_000,
        cname: "warmline@test".into(),
        jitter: JitterConfig::default(),
        srtp: None,
    }
}

fn rtp(pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_rtp(
        &RtpHeader {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0xCAFE,
        },
        payload,
        &mut out,
    );
    out
}

#[test]
fn first_packet_from_the_sdp_ip_latches_and_other_sources_are_ignored() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    let stranger: SocketAddr = "198.51.100.66:4000".parse().expect("addr");
    s.on_rtp(
        Duration::ZERO,
        WALL,
        &rtp(0, 1, 0, true, &[0x7F; 160]),
        stranger,
    );
    assert_eq!(s.stats().received, 0);
    assert_eq!(s.remote().port(), 31000, "no latch to a stranger");
    let nat: SocketAddr = "203.0.113.20:40000".parse().expect("addr");
    s.on_rtp(20 * MS, WALL, &rtp(0, 2, 160, false, &[0x7F; 160]), nat);
    assert_eq!(s.remote(), nat, "latched to the real source port");
    s.on_rtp(
        40 * MS,
        WALL,
        &rtp(0, 3, 320, false, &[0x7F; 160]),
        stranger,
    );
    assert_eq!(s.stats().received, 1);
    assert_eq!(s.stats().rejected, 2);
    // A re-INVITE to a new address re-opens latching.
    s.set_remote("203.0.113.21:32000".parse().expect("addr"));
    assert_eq!(s.remote().port(), 32000);
}

#[test]
fn wrong_payload_types_and_junk_are_rejected_without_harm() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    let src = s.remote();
    s.on_rtp(Duration::ZERO, WALL, &rtp(18, 1, 0, true, &[0; 20]), src);
    s.on_rtp(Duration::ZERO, WALL, b"\x00\x01junk", src);
    s.on_rtp(Duration::ZERO, WALL, &[], src);
    assert_eq!(s.stats().rejected, 3);
    assert_eq!(s.pop_audio(Duration::from_secs(1)), None);
}

#[test]
fn telephone_events_become_one_digit_and_do_not_count_as_audio_loss() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    let src = s.remote();
    let mut seq = 100u16;
    let mut t = Duration::ZERO;
    let mut send = |s: &mut RtpSession, pt: u8, ts: u32, marker: bool, payload: &[u8]| {
        s.on_rtp(t, WALL, &rtp(pt, seq, ts, marker, payload), src);
        seq += 1;
        t += 20 * MS;
    };
    for i in 0..5 {
        send(&mut s, 0, i * 160, i == 0, &[0xFF; 160]);
    }
    // Digit 5: start, updates, three end packets; the audio clock pauses.
    send(&mut s, 101, 800, true, &[5, 10, 0, 160]);
    send(&mut s, 101, 800, false, &[5, 10, 1, 64]);
    for _ in 0..3 {
        send(&mut s, 101, 800, false, &[5, 0x80 | 10, 1, 224]);
    }
    for i in 5..10 {
        send(&mut s, 0, 800 + (i - 5) * 160 + 800, false, &[0xFF; 160]);
    }
    assert_eq!(s.poll_digit(), Some('5'));
    assert_eq!(s.poll_digit(), None);
    assert_eq!(s.stats().lost, 0, "events share the sequence space");
}

#[test]
fn alaw_is_transcoded_both_ways() {
    let mut s = RtpSession::new(config(Law::Alaw, 8), Duration::ZERO);
    let src = s.remote();
    let alaw_tone: Vec<u8> = (0..160)
        .map(|i| ulaw_to_alaw(0x20 + (i % 64) as u8))
        .collect();
    for i in 0..6u32 {
        s.on_rtp(
            i * 20 * MS,
            WALL,
            &rtp(8, i as u16, i * 160, i == 0, &alaw_tone),
            src,
        );
    }
    let mut heard = None;
    for i in 0..10u32 {
        if let Some(frame) = s.pop_audio(i * 20 * MS + 100 * MS) {
            heard = Some(frame);
            break;
        }
    }
    let heard = heard.expect("audio after the buffer fills");
    let expected: Vec<u8> = alaw_tone.iter().map(|&a| alaw_to_ulaw(a)).collect();
    assert_eq!(&heard[..], &expected[..]);
    let (packet, _) = s.packet_for_slot(Some(&[0x20; 160]));
    let view = RtpPacketView::parse(packet).expect("ours parses");
    assert_eq!(view.header.payload_type, 8);
    assert!(view.payload.iter().all(|&b| b == ulaw_to_alaw(0x20)));
}

#[test]
fn every_slot_sends_one_packet_with_marker_on_each_talkspurt_and_a_steady_clock() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    let mut seen = Vec::new();
    for slot in 0..6 {
        let audio = (2..4).contains(&slot).then_some(&[0x10u8; 160][..]);
        let (packet, dest) = s.packet_for_slot(audio);
        assert_eq!(dest.port(), 31000);
        let v = RtpPacketView::parse(packet).expect("parses");
        seen.push((
            v.header.sequence,
            v.header.timestamp,
            v.header.marker,
            v.payload[0],
        ));
    }
    assert_eq!(
        seen,
        vec![
            (65_530, 1_000, false, 0xFF),
            (65_531, 1_160, false, 0xFF),
            (65_532, 1_320, true, 0x10),
            (65_533, 1_480, false, 0x10),
            (65_534, 1_640, false, 0xFF),
            (65_535, 1_800, false, 0xFF),
        ]
    );
    assert_eq!(s.stats().sent, 6);
}

#[test]
fn an_outbound_digit_replaces_slots_with_rfc_4733_events_on_one_timestamp() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    assert!(s.send_digit('#', 800));
    let mut events = Vec::new();
    for _ in 0..8 {
        let (packet, _) = s.packet_for_slot(None);
        let v = RtpPacketView::parse(packet).expect("parses");
        events.push((
            v.header.payload_type,
            v.header.timestamp,
            v.header.marker,
            v.payload[1] & 0x80 != 0,
        ));
    }
    assert!(events.iter().all(|e| e.0 == 101 && e.1 == 1_000));
    assert!(events[0].2, "marker on the first event packet");
    assert_eq!(
        events.iter().filter(|e| e.3).count(),
        3,
        "E bit sent three times"
    );
    let (packet, _) = s.packet_for_slot(None);
    let v = RtpPacketView::parse(packet).expect("parses");
    assert_eq!(v.header.payload_type, 0);
    assert_eq!(
        v.header.timestamp,
        1_000 + 8 * 160,
        "audio clock ran on underneath"
    );
}

#[test]
fn rtcp_reports_go_every_five_seconds_and_the_peers_report_gives_rtt() {
    let mut s = RtpSession::new(config(Law::Ulaw, 0), Duration::ZERO);
    assert!(s.poll_rtcp(Duration::from_secs(1), WALL).is_none());
    let _ = s.packet_for_slot(Some(&[0x10; 160]));
    let (report, dest) = s.poll_rtcp(Duration::from_secs(5), WALL).expect("due");
    assert_eq!(dest.port(), 31001);
    let compound = RtcpCompound::parse(report).expect("parses");
    let sr = compound.packets().find_map(|p| match p {
        RtcpPacket::SenderReport(sr) => Some(sr),
        _ => None,
    });
    let sr = sr.expect("an SR once we have sent");
    assert_eq!(sr.info.packet_count, 1);
    // The peer answers 100 ms later with an RR on our SR, after holding it 40 ms.
    let lsr = sr.info.ntp.middle32();
    let mut rr = Vec::new();
    let block = crate::media::rtp::ReportBlock {
        ssrc: 0x1234_5678,
        fraction_lost: 12,
        cumulative_lost: 3,
        extended_highest_sequence: 1,
        jitter: 40,
        last_sr: lsr,
        delay_since_last_sr: crate::media::rtp::ntp_short_from_duration(40 * MS),
    };
    write_receiver_report(0xCAFE, &[block], b"peer", &mut rr).expect("rr");
    s.on_rtcp(WALL + 100 * MS, &rr);
    let stats = s.stats();
    assert_eq!(stats.remote_fraction_lost, 12);
    assert_eq!(stats.remote_jitter, 40);
    let rtt = stats.rtt_ms.expect("rtt");
    assert!((59..=61).contains(&rtt), "{rtt}");
}

/// Plays a stream whose packets leave every 20 ms and arrive up to
/// `spread_ms` late (a fixed pseudo-random pattern), popping one frame per
/// 20 ms tick; returns the jitter buffer's final target depth and the
/// frames concealed.
fn jittery_stream(media: &crate::config::MediaConfig, spread_ms: u64) -> (Duration, u64) {
    let mut s = RtpSession::new(
        RtpSessionConfig {
            jitter: media.jitter(),
            srtp: None,
            ..config(Law::Ulaw, 0)
        },
        Duration::ZERO,
    );
    let src = s.remote();
    let mut lcg = 12_345u64;
    let mut arrivals: Vec<(Duration, u16)> = (0..300u16)
        .map(|seq| {
            lcg = lcg.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let late = if spread_ms == 0 {
                0
            } else {
                (lcg >> 33) % spread_ms
            };
            (MS * (u32::from(seq) * 20 + late as u32), seq)
        })
        .collect();
    arrivals.sort();
    let mut next = arrivals.iter().peekable();
    for tick in 0..320u32 {
        let now = MS * (tick * 20 + 10);
        while let Some((at, seq)) = next.next_if(|(at, _)| *at <= now) {
            let ts = u32::from(*seq) * 160;
            s.on_rtp(*at, WALL, &rtp(0, *seq, ts, *seq == 0, &[0x55; 160]), src);
        }
        let _ = s.pop_audio(now);
    }
    (s.jitter_depth(), s.stats().concealed)
}

#[test]
fn media_jitter_bounds_set_the_sip_legs_jitter_buffer_depth() {
    use crate::config::MediaConfig;
    let defaults = MediaConfig::default();
    let (depth, concealed) = jittery_stream(&defaults, 50);
    assert!(
        depth >= 40 * MS,
        "the default 0-60 ms bounds let the depth cover 50 ms of jitter: {depth:?}"
    );
    // A 20 ms ceiling holds the depth down, and the late packets are
    // concealed instead.
    let capped = MediaConfig {
        jitter_max_ms: 20,
        ..MediaConfig::default()
    };
    let (capped_depth, capped_concealed) = jittery_stream(&capped, 50);
    assert!(capped_depth <= 20 * MS, "{capped_depth:?}");
    assert!(
        capped_concealed > concealed + 20,
        "capped {capped_concealed} vs default {concealed} frames concealed"
    );
    // A 60 ms floor holds the depth up on a smooth stream, which the
    // default bounds play at the initial 40 ms.
    let (smooth_depth, _) = jittery_stream(&defaults, 0);
    assert!(smooth_depth <= 40 * MS, "{smooth_depth:?}");
    let floored = MediaConfig {
        jitter_min_ms: 60,
        jitter_max_ms: 60,
        ..MediaConfig::default()
    };
    let (floored_depth, _) = jittery_stream(&floored, 0);
    assert_eq!(floored_depth, 60 * MS);
}

fn sdes() -> crate::ingress::sip::srtp::SdesKeys {
    use crate::ingress::sip::srtp::MasterKey;
    crate::ingress::sip::srtp::SdesKeys {
        local: MasterKey::from_bytes(&[7u8; 30]).expect("key"),
        remote: MasterKey::from_bytes(&[9u8; 30]).expect("key"),
    }
}

#[test]
fn with_srtp_only_authenticated_packets_are_accepted_and_what_we_send_is_protected() {
    use crate::ingress::sip::srtp::SrtpContext;
    let mut cfg = config(Law::Ulaw, 0);
    cfg.srtp = Some(sdes());
    let keys = sdes();
    let mut s = RtpSession::new(cfg, Duration::ZERO);
    assert!(s.is_srtp());
    let from = "203.0.113.20:31000".parse().expect("addr");
    // The peer protects with its key (our `remote`).
    let mut peer_tx = SrtpContext::new(&keys.remote).expect("ctx");
    let mut wire = Vec::new();
    for i in 0..5u16 {
        peer_tx
            .protect_rtp(
                &rtp(0, 100 + i, 160 * u32::from(i), i == 0, &[0x55; 160]),
                &mut wire,
            )
            .expect("protect");
        s.on_rtp(MS * u32::from(20 * i), WALL, &wire, from);
    }
    assert_eq!(s.stats().received, 5);
    // A plain packet, and one under the wrong key, are refused.
    s.on_rtp(
        MS * 200,
        WALL,
        &rtp(0, 200, 32_000, false, &[0x55; 160]),
        from,
    );
    let mut wrong = SrtpContext::new(&keys.local).expect("ctx");
    wrong
        .protect_rtp(&rtp(0, 201, 32_160, false, &[0x55; 160]), &mut wire)
        .expect("protect");
    s.on_rtp(MS * 220, WALL, &wire, from);
    assert_eq!(s.stats().received, 5);
    assert_eq!(s.stats().rejected, 2);

    // What we send: unprotectable with our key, not readable as plain.
    let mut peer_rx = SrtpContext::new(&keys.local).expect("ctx");
    let (packet, _) = s.packet_for_slot(Some(&[0x11; 160]));
    let packet = packet.to_vec();
    assert_eq!(packet.len(), 12 + 160 + 10);
    assert_ne!(packet[12..172], [0x11; 160]);
    let mut plain = Vec::new();
    peer_rx
        .unprotect_rtp(&packet, &mut plain)
        .expect("unprotect");
    assert_eq!(plain[12..], [0x11; 160]);
    // RTCP goes out as SRTCP.
    let (report, _) = s.poll_rtcp(RTCP_INTERVAL, WALL).expect("report");
    let report = report.to_vec();
    peer_rx.unprotect_rtcp(&report, &mut plain).expect("srtcp");
}
