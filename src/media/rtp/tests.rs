use std::time::Duration;

use super::*;
use crate::media::dtmf::{Digit, DtmfReceiver, TelephoneEvent};
use crate::media::jitter::{JitterBuffer, JitterConfig, PushOutcome};

/// xorshift64: a tiny seeded generator so every run sees the same bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn header(seq: u16, ts: u32) -> RtpHeader {
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc: 0x1234_5678,
    }
}

/// Hand-assembles an RTP packet with the optional parts the writer never
/// produces.
fn raw_rtp(csrcs: &[u32], ext: Option<(u16, &[u8])>, payload: &[u8], padding: u8) -> Vec<u8> {
    let mut b0 = 0x80 | csrcs.len() as u8;
    if ext.is_some() {
        b0 |= 0x10;
    }
    if padding > 0 {
        b0 |= 0x20;
    }
    let mut v = vec![
        b0,
        0x80 | 8,
        0xAB,
        0xCD,
        0,
        0,
        0x12,
        0x34,
        0xCA,
        0xFE,
        0xBA,
        0xBE,
    ];
    for c in csrcs {
        v.extend_from_slice(&c.to_be_bytes());
    }
    if let Some((profile, data)) = ext {
        assert_eq!(data.len() % 4, 0);
        v.extend_from_slice(&profile.to_be_bytes());
        v.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
        v.extend_from_slice(data);
    }
    v.extend_from_slice(payload);
    if padding > 0 {
        v.extend(std::iter::repeat_n(0, usize::from(padding) - 1));
        v.push(padding);
    }
    v
}

// ---------------------------------------------------------------- RTP

#[test]
fn rtp_written_then_parsed_gives_back_header_and_payload() {
    let h = RtpHeader {
        marker: true,
        payload_type: 8,
        sequence: 65535,
        timestamp: 0xDEAD_BEEF,
        ssrc: 0x0102_0304,
    };
    let payload: Vec<u8> = (0..160).map(|i| i as u8).collect();
    let mut vec_out = Vec::new();
    write_rtp(&h, &payload, &mut vec_out);
    let mut slice_out = [0u8; 200];
    let n = h.write(&payload, &mut slice_out).unwrap();
    assert_eq!(&slice_out[..n], vec_out.as_slice());
    assert_eq!(n, 172);

    let p = RtpPacketView::parse(&vec_out).unwrap();
    assert_eq!(p.header, h);
    assert_eq!(p.payload, payload.as_slice());
    assert_eq!(p.padding, 0);
    assert!(p.extension.is_none());
    assert_eq!(p.csrcs().count(), 0);

    // Reusing the Vec replaces, not appends.
    write_rtp(&header(1, 2), &[9; 4], &mut vec_out);
    assert_eq!(vec_out.len(), 16);
    assert_eq!(RtpPacketView::parse(&vec_out).unwrap().header, header(1, 2));
}

#[test]
fn rtp_write_into_a_short_buffer_is_an_error_not_a_panic() {
    let mut out = [0u8; 171];
    assert_eq!(
        header(0, 0).write(&[0; 160], &mut out),
        Err(RtpError::BufferTooSmall {
            needed: 172,
            capacity: 171
        })
    );
}

#[test]
fn rtp_padding_is_stripped_by_its_last_byte() {
    let bytes = raw_rtp(&[], None, &[1, 2, 3, 4, 5], 3);
    let p = RtpPacketView::parse(&bytes).unwrap();
    assert_eq!(p.payload, &[1, 2, 3, 4, 5]);
    assert_eq!(p.padding, 3);

    // Padding that is the whole rest of the packet leaves an empty payload.
    let bytes = raw_rtp(&[], None, &[], 4);
    assert_eq!(RtpPacketView::parse(&bytes).unwrap().payload, &[] as &[u8]);
}

#[test]
fn rtp_padding_longer_than_the_payload_or_zero_is_rejected() {
    let mut bytes = raw_rtp(&[], None, &[1, 2, 3], 1);
    *bytes.last_mut().unwrap() = 5; // claims 5 of the 4 bytes after the header
    assert_eq!(
        RtpPacketView::parse(&bytes),
        Err(RtpError::BadPadding {
            padding: 5,
            available: 4
        })
    );
    *bytes.last_mut().unwrap() = 0;
    assert!(matches!(
        RtpPacketView::parse(&bytes),
        Err(RtpError::BadPadding { padding: 0, .. })
    ));
    // P bit with nothing after the header at all.
    let mut bare = raw_rtp(&[], None, &[], 0);
    bare[0] |= 0x20;
    assert_eq!(
        RtpPacketView::parse(&bare),
        Err(RtpError::BadPadding {
            padding: 0,
            available: 0
        })
    );
}

#[test]
fn rtp_extension_is_skipped_and_exposed() {
    let ext = [0x10, 0xAA, 0, 0, 0x22, 0xBB, 0xCC, 0];
    let bytes = raw_rtp(&[7], Some((0xBEDE, &ext)), &[9, 8, 7], 2);
    let p = RtpPacketView::parse(&bytes).unwrap();
    assert_eq!(
        p.extension,
        Some(RtpExtension {
            profile: 0xBEDE,
            data: &ext
        })
    );
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7]);
    assert_eq!(p.payload, &[9, 8, 7]);
}

#[test]
fn rtp_extension_longer_than_the_packet_is_rejected() {
    let mut bytes = raw_rtp(&[], Some((0xBEDE, &[0; 4])), &[], 0);
    bytes[15] = 2; // two words declared, one present
    assert_eq!(
        RtpPacketView::parse(&bytes),
        Err(RtpError::BadExtensionLength {
            offset: 12,
            needed: 12,
            available: 8
        })
    );
    // X bit set but not even the 4-byte extension header.
    let mut bare = raw_rtp(&[], None, &[1, 2], 0);
    bare[0] |= 0x10;
    assert_eq!(
        RtpPacketView::parse(&bare),
        Err(RtpError::BadExtensionLength {
            offset: 12,
            needed: 4,
            available: 2
        })
    );
}

#[test]
fn rtp_csrcs_are_read_and_a_count_past_the_end_is_rejected() {
    let bytes = raw_rtp(&[1, 2, 0xFFFF_FFFF], None, &[5; 10], 0);
    let p = RtpPacketView::parse(&bytes).unwrap();
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2, 0xFFFF_FFFF]);
    assert_eq!(p.payload, &[5; 10]);

    let mut bad = raw_rtp(&[1], None, &[], 0);
    bad[0] = 0x80 | 15;
    assert_eq!(
        RtpPacketView::parse(&bad),
        Err(RtpError::CsrcOverflow {
            count: 15,
            needed: 72,
            len: 16
        })
    );
}

#[test]
fn rtp_with_a_version_other_than_2_or_under_12_bytes_is_rejected() {
    let mut bytes = raw_rtp(&[], None, &[0; 4], 0);
    for v in [0u8, 1, 3] {
        bytes[0] = (v << 6) | (bytes[0] & 0x3F);
        assert_eq!(
            RtpPacketView::parse(&bytes),
            Err(RtpError::BadVersion { version: v })
        );
    }
    assert_eq!(
        RtpPacketView::parse(&[0x80; 11]),
        Err(RtpError::TooShort { len: 11 })
    );
}

#[test]
fn every_truncation_of_rtp_inside_the_header_is_an_error_and_of_the_payload_a_shorter_payload() {
    let ext = [1, 2, 3, 4];
    let payload = [0x55u8; 20];
    let bytes = raw_rtp(&[10, 11], Some((0x1000, &ext)), &payload, 0);
    let header_len = 12 + 8 + 8;
    for cut in 0..bytes.len() {
        let r = RtpPacketView::parse(&bytes[..cut]);
        if cut < header_len {
            assert!(r.is_err(), "cut {cut} parsed: {r:?}");
        } else {
            // RTP carries no length of its own: the datagram is the packet.
            assert_eq!(r.unwrap().payload, &payload[..cut - header_len]);
        }
    }
    // With padding, the last byte moves: the result is an error or a
    // payload taken from the original bytes, never a panic.
    let padded = raw_rtp(&[10], Some((0x1000, &ext)), &payload, 7);
    for cut in 0..padded.len() {
        if let Ok(p) = RtpPacketView::parse(&padded[..cut]) {
            assert!(p.payload.len() + usize::from(p.padding) + 24 == cut);
        }
    }
}

#[test]
fn random_bytes_never_panic_the_parsers() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut buf = [0u8; 96];
    let valid_rtp = raw_rtp(&[3], Some((0xBEDE, &[0; 8])), &[7; 16], 4);
    let mut valid_rtcp = Vec::new();
    write_sender_report(
        1,
        &SenderInfo::default(),
        &[ReportBlock::default()],
        b"a@b",
        &mut valid_rtcp,
    )
    .unwrap();
    append_bye(1, &mut valid_rtcp);
    let (mut rtp_ok, mut rtcp_ok) = (0, 0);
    for round in 0..200_000 {
        let len = rng.below(buf.len() as u64 + 1) as usize;
        let input = &mut buf[..len];
        match round % 3 {
            // Pure noise, version bits forced to 2 half the time so the
            // parsers get past their first check.
            0 => {
                for b in input.iter_mut() {
                    *b = rng.next() as u8;
                }
                if rng.next() & 1 == 0 && !input.is_empty() {
                    input[0] = (input[0] & 0x3F) | 0x80;
                }
            }
            // A valid packet with a few bytes flipped.
            1 | 2 => {
                let src = if round % 3 == 1 {
                    &valid_rtp
                } else {
                    &valid_rtcp
                };
                let n = len.min(src.len());
                input[..n].copy_from_slice(&src[..n]);
                for _ in 0..1 + rng.below(3) {
                    if n > 0 {
                        let i = rng.below(n as u64) as usize;
                        input[i] ^= 1 << rng.below(8);
                    }
                }
            }
            _ => unreachable!(),
        }
        let input = &buf[..len];
        let _ = is_rtcp(input);
        if let Ok(p) = RtpPacketView::parse(input) {
            rtp_ok += 1;
            let _ = p.csrcs().count();
        }
        if let Ok(c) = RtcpCompound::parse(input) {
            rtcp_ok += 1;
            for packet in c.packets() {
                match packet {
                    RtcpPacket::SenderReport(sr) => {
                        assert_eq!(sr.reports.iter().count(), sr.reports.len())
                    }
                    RtcpPacket::ReceiverReport(rr) => {
                        assert_eq!(rr.reports.iter().count(), rr.reports.len())
                    }
                    RtcpPacket::SourceDescription(sdes) => {
                        for chunk in sdes.chunks() {
                            let _ = chunk.cname();
                        }
                    }
                    RtcpPacket::Goodbye(bye) => {
                        let _ = bye.sources().count();
                    }
                    RtcpPacket::Other { .. } => {}
                }
            }
        }
    }
    // The mutation rounds must actually reach the success paths.
    assert!(rtp_ok > 1000, "only {rtp_ok} RTP parses succeeded");
    assert!(rtcp_ok > 1000, "only {rtcp_ok} RTCP parses succeeded");
}

#[test]
fn rtcp_mux_demux_tells_rtcp_from_audio_and_telephone_events() {
    for pt in [PT_SR, PT_RR, PT_SDES, PT_BYE, PT_APP] {
        assert!(is_rtcp(&[0x80, pt, 0, 1]), "{pt}");
    }
    // PCMU, PCMA and PT 101, with and without the marker bit.
    for second in [0, 8, 101, 0x80, 0x88, 0x80 | 101] {
        assert!(!is_rtcp(&[0x80, second, 0, 1]), "{second}");
    }
    assert!(!is_rtcp(&[0x80]));
    assert!(!is_rtcp(&[]));
}

#[test]
fn a_parsed_packet_goes_straight_into_the_jitter_buffer() {
    let mut out = Vec::new();
    let mut h = header(100, 16_000);
    h.marker = true;
    write_rtp(&h, &[0xFF; 160], &mut out);
    let view = RtpPacketView::parse(&out).unwrap();
    let jp = view.to_jitter();
    assert_eq!(
        (
            jp.sequence,
            jp.timestamp,
            jp.ssrc,
            jp.marker,
            jp.payload.len()
        ),
        (100, 16_000, 0x1234_5678, true, 160)
    );
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert_eq!(
        jb.push(view.into(), Duration::from_millis(5)),
        Ok(PushOutcome::Queued)
    );
}

// ------------------------------------------------------- pcap fixtures

/// The RTP payloads of a classic little- or big-endian pcap of
/// Ethernet/IPv4/UDP frames.
fn udp_payloads(file: &[u8]) -> Vec<&[u8]> {
    let little = match &file[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        other => panic!("not a pcap: {other:02x?}"),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = file[o..o + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "Ethernet link type");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= file.len() {
        let incl = u32_at(off + 8) as usize;
        let frame = &file[off + 16..off + 16 + incl];
        off += 16 + incl;
        assert_eq!(frame[12..14], [0x08, 0x00], "IPv4");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "UDP");
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let udp_len = usize::from(u16::from_be_bytes([ip[ihl + 4], ip[ihl + 5]]));
        out.push(&ip[ihl + 8..ihl + udp_len]);
    }
    out
}

/// (file stem, event code, first sequence number, event timestamp), read
/// off the captures with an independent script.
const FIXTURES: [(&str, u8, u16, u32); 12] = [
    ("0", 0, 12080, 17632),
    ("1", 1, 7984, 13280),
    ("2", 2, 8042, 23200),
    ("3", 3, 8087, 31040),
    ("4", 4, 8121, 37120),
    ("5", 5, 8155, 43200),
    ("6", 6, 8186, 48800),
    ("7", 7, 8219, 54720),
    ("8", 8, 8253, 60800),
    ("9", 9, 8293, 67840),
    ("star", 10, 8397, 85760),
    ("pound", 11, 8436, 92640),
];

#[test]
fn sipp_rfc2833_captures_parse_as_telephone_events_with_their_seq_and_ts() {
    for (stem, event, first_seq, ts) in FIXTURES {
        let path = format!(
            "{}/fixtures/dtmf/dtmf_2833_{stem}.pcap",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::read(&path).unwrap();
        let datagrams = udp_payloads(&file);
        assert_eq!(datagrams.len(), 10, "{stem}");
        let mut dtmf = DtmfReceiver::new();
        let mut digits = Vec::new();
        let mut stats = ReceiverStats::new(8000);
        for (i, d) in datagrams.iter().enumerate() {
            assert!(!is_rtcp(d));
            let p = RtpPacketView::parse(d).unwrap();
            assert_eq!(p.header.payload_type, 101, "{stem}");
            assert_eq!(p.header.ssrc, 0x0E05_384E, "{stem}");
            assert_eq!(p.header.marker, i == 0, "{stem} packet {i}");
            assert_eq!(p.header.timestamp, ts, "{stem}");
            // Seven updates, then the end packet sent three times with one
            // sequence number.
            assert_eq!(
                p.header.sequence,
                first_seq + i.min(7) as u16,
                "{stem} packet {i}"
            );
            let ev = TelephoneEvent::parse(p.payload).unwrap();
            assert_eq!((ev.event, ev.end), (event, i >= 7), "{stem} packet {i}");
            if let Some(digit) = dtmf.push(p.header.timestamp, p.payload).unwrap() {
                digits.push(digit.digit);
            }
            stats.on_packet(
                &p.header,
                PacketKind::TelephoneEvent,
                Duration::from_millis(20 * i as u64),
            );
        }
        assert_eq!(digits, vec![Digit::from_event(event).unwrap()], "{stem}");
        // Probation takes the first packet; the other nine count, two of
        // them duplicates of the end packet, so loss is negative (A.3).
        assert_eq!((stats.received(), stats.expected()), (9, 7), "{stem}");
        assert_eq!(stats.cumulative_lost(), -2, "{stem}");
        assert_eq!(stats.jitter(), 0, "events stay out of jitter");
    }
}

// --------------------------------------------------------------- RTCP

fn sample_blocks() -> [ReportBlock; 3] {
    [
        ReportBlock {
            ssrc: 0xAAAA_0001,
            fraction_lost: 13,
            cumulative_lost: 1234,
            extended_highest_sequence: 0x0002_FFF0,
            jitter: 77,
            last_sr: 0xB705_2000,
            delay_since_last_sr: 0x0005_4000,
        },
        ReportBlock {
            ssrc: 2,
            fraction_lost: 0,
            cumulative_lost: -1,
            ..ReportBlock::default()
        },
        ReportBlock {
            ssrc: 3,
            fraction_lost: 255,
            cumulative_lost: -0x80_0000,
            extended_highest_sequence: u32::MAX,
            jitter: u32::MAX,
            last_sr: 1,
            delay_since_last_sr: u32::MAX,
        },
    ]
}

#[test]
fn sender_report_built_then_parsed_gives_back_every_field_and_the_cname() {
    let info = SenderInfo {
        ntp: NtpTimestamp(0xE8F0_1234_8000_0001),
        rtp_timestamp: 0x1122_3344,
        packet_count: 250,
        octet_count: 40_000,
    };
    let blocks = sample_blocks();
    let mut out = Vec::with_capacity(256);
    write_sender_report(
        0x5EED_0001,
        &info,
        &blocks,
        b"warmline@203.0.113.9",
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len() % 4, 0);
    let compound = RtcpCompound::parse(&out).unwrap();
    let packets: Vec<_> = compound.packets().collect();
    assert_eq!(packets.len(), 2);
    let RtcpPacket::SenderReport(sr) = packets[0] else {
        panic!("{:?}", packets[0]);
    };
    assert_eq!(sr.ssrc, 0x5EED_0001);
    assert_eq!(sr.info, info);
    assert_eq!(sr.reports.iter().collect::<Vec<_>>(), blocks.to_vec());
    let RtcpPacket::SourceDescription(sdes) = packets[1] else {
        panic!("{:?}", packets[1]);
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ssrc, 0x5EED_0001);
    assert_eq!(chunks[0].cname(), Some(&b"warmline@203.0.113.9"[..]));

    // Building again into the same buffer replaces it.
    let cap = out.capacity();
    write_sender_report(1, &info, &[], b"x", &mut out).unwrap();
    assert_eq!(out.len(), 28 + 12);
    assert_eq!(out.capacity(), cap);
}

#[test]
fn receiver_report_with_sdes_and_bye_built_then_parsed() {
    let blocks = sample_blocks();
    let mut out = Vec::new();
    // CNAME lengths 0..=5 cover every amount of null padding.
    for cname_len in 0..=5 {
        let cname = &b"abcde"[..cname_len];
        write_receiver_report(9, &blocks[..2], cname, &mut out).unwrap();
        append_bye(9, &mut out);
        let packets: Vec<_> = RtcpCompound::parse(&out).unwrap().packets().collect();
        assert_eq!(packets.len(), 3);
        let RtcpPacket::ReceiverReport(rr) = packets[0] else {
            panic!()
        };
        assert_eq!(rr.ssrc, 9);
        assert_eq!(rr.reports.iter().collect::<Vec<_>>(), blocks[..2].to_vec());
        let RtcpPacket::SourceDescription(sdes) = packets[1] else {
            panic!()
        };
        assert_eq!(sdes.chunks().next().unwrap().cname(), Some(cname));
        let RtcpPacket::Goodbye(bye) = packets[2] else {
            panic!()
        };
        assert_eq!(bye.sources().collect::<Vec<_>>(), vec![9]);
        assert_eq!(bye.reason, None);
    }
}

#[test]
fn cumulative_loss_outside_24_bits_is_clamped_when_written() {
    let mut out = Vec::new();
    let blocks = [
        ReportBlock {
            cumulative_lost: 0x0100_0000,
            ..ReportBlock::default()
        },
        ReportBlock {
            cumulative_lost: -0x0100_0000,
            ..ReportBlock::default()
        },
    ];
    write_receiver_report(1, &blocks, b"c", &mut out).unwrap();
    let Some(RtcpPacket::ReceiverReport(rr)) = RtcpCompound::parse(&out).unwrap().packets().next()
    else {
        panic!()
    };
    let lost: Vec<i32> = rr.reports.iter().map(|b| b.cumulative_lost).collect();
    assert_eq!(lost, vec![0x7F_FFFF, -0x80_0000]);
}

#[test]
fn builders_refuse_more_than_31_blocks_or_an_over_long_cname() {
    let mut out = Vec::new();
    assert_eq!(
        write_receiver_report(1, &[ReportBlock::default(); 32], b"c", &mut out),
        Err(RtcpError::TooManyReportBlocks(32))
    );
    assert_eq!(
        write_sender_report(1, &SenderInfo::default(), &[], &[b'a'; 256], &mut out),
        Err(RtcpError::CnameTooLong(256))
    );
}

/// APP and an unknown type 210 between an RR and a BYE with a reason, with
/// padding on the last packet.
fn compound_with_app_unknown_and_padded_bye() -> Vec<u8> {
    let mut v = Vec::new();
    write_receiver_report(5, &[], b"rr", &mut v).unwrap();
    // APP: subtype 3, SSRC, name "WARM", 4 bytes of data.
    v.extend_from_slice(&[
        0x83, PT_APP, 0, 3, 0, 0, 0, 5, b'W', b'A', b'R', b'M', 1, 2, 3, 4,
    ]);
    v.extend_from_slice(&[0x80, 210, 0, 0]);
    // BYE for one source with reason "ok", padded by 4 bytes: 4 + 4 + 3
    // (+1 pad to word) + 4 = 16 bytes, length 3.
    v.extend_from_slice(&[0xA1, PT_BYE, 0, 3, 0, 0, 0, 5, 2, b'o', b'k', 0, 0, 0, 0, 4]);
    v
}

#[test]
fn app_and_unknown_packets_are_skipped_by_length_and_padding_is_removed() {
    let v = compound_with_app_unknown_and_padded_bye();
    let packets: Vec<_> = RtcpCompound::parse(&v).unwrap().packets().collect();
    assert_eq!(packets.len(), 5);
    assert!(matches!(
        packets[2],
        RtcpPacket::Other {
            packet_type: PT_APP,
            count: 3,
            body
        } if body.len() == 12
    ));
    assert!(matches!(
        packets[3],
        RtcpPacket::Other {
            packet_type: 210,
            count: 0,
            body: []
        }
    ));
    let RtcpPacket::Goodbye(bye) = packets[4] else {
        panic!("{:?}", packets[4])
    };
    assert_eq!(bye.sources().collect::<Vec<_>>(), vec![5]);
    assert_eq!(bye.reason, Some(&b"ok"[..]));
}

#[test]
fn every_truncation_of_a_compound_is_an_error_except_at_packet_boundaries() {
    let mut sr = Vec::new();
    write_sender_report(
        7,
        &SenderInfo::default(),
        &sample_blocks(),
        b"cname",
        &mut sr,
    )
    .unwrap();
    append_bye(7, &mut sr);
    for full in [sr, compound_with_app_unknown_and_padded_bye()] {
        // Where each packet ends, from the parsed lengths.
        let mut boundaries = Vec::new();
        let mut at = 0;
        while at < full.len() {
            at += (usize::from(u16::from_be_bytes([full[at + 2], full[at + 3]])) + 1) * 4;
            boundaries.push(at);
        }
        let total = RtcpCompound::parse(&full).unwrap().packets().count();
        assert_eq!(total, boundaries.len());
        for cut in 0..full.len() {
            match RtcpCompound::parse(&full[..cut]) {
                Ok(c) => {
                    // A cut between packets is a shorter, valid compound.
                    let n = boundaries.iter().position(|&b| b == cut);
                    assert!(n.is_some(), "cut {cut} parsed");
                    assert_eq!(c.packets().count(), n.unwrap() + 1);
                }
                Err(e) => assert!(!boundaries.contains(&cut) || cut == 0, "cut {cut}: {e}"),
            }
        }
    }
}

#[test]
fn malformed_rtcp_reports_what_is_wrong() {
    assert_eq!(RtcpCompound::parse(&[]), Err(RtcpError::Empty));
    assert_eq!(
        RtcpCompound::parse(&[0x40, PT_RR, 0, 1, 0, 0, 0, 0]),
        Err(RtcpError::BadVersion {
            offset: 0,
            version: 1
        })
    );
    assert_eq!(
        RtcpCompound::parse(&[0x80, PT_RR, 0, 5, 0, 0, 0, 0]),
        Err(RtcpError::LengthOverrun {
            offset: 0,
            packet_type: PT_RR,
            declared: 24,
            available: 8
        })
    );
    // RR claiming one block in a body with room for none.
    assert_eq!(
        RtcpCompound::parse(&[0x81, PT_RR, 0, 1, 0, 0, 0, 0]),
        Err(RtcpError::Truncated {
            offset: 0,
            packet_type: PT_RR,
            needed: 28,
            body: 4
        })
    );
    assert_eq!(
        RtcpCompound::parse(&[0xA0, PT_RR, 0, 1, 0, 0, 0, 9]),
        Err(RtcpError::BadPadding {
            offset: 0,
            padding: 9,
            body: 4
        })
    );
    // A valid RR followed by 3 stray bytes.
    assert_eq!(
        RtcpCompound::parse(&[0x80, PT_RR, 0, 1, 0, 0, 0, 0, 0x80, 1, 2]),
        Err(RtcpError::TooShort { offset: 8, len: 3 })
    );
}

// --------------------------------------------------------- NTP and RTT

#[test]
fn ntp_timestamps_from_unix_time() {
    let epoch = NtpTimestamp::from_unix(Duration::ZERO);
    assert_eq!((epoch.seconds(), epoch.fraction()), (2_208_988_800, 0));
    let t = NtpTimestamp::from_unix(Duration::from_millis(1_500));
    assert_eq!((t.seconds(), t.fraction()), (2_208_988_801, 0x8000_0000));
    assert_eq!(t.middle32(), (2_208_988_801u32 << 16) | 0x8000);
    assert_eq!(
        ntp_short_from_duration(Duration::from_millis(5_250)),
        0x0005_4000
    );
    assert_eq!(
        duration_from_ntp_short(0x0005_4000),
        Duration::from_millis(5_250)
    );
    assert_eq!(
        ntp_short_from_duration(Duration::from_secs(1 << 20)),
        u32::MAX
    );
}

#[test]
fn rtt_from_the_rfc_3550_example_is_6125_ms() {
    // RFC 3550 §6.4.1: RR arrives at 0xb710:8000, LSR 0xb705:2000,
    // DLSR 0x0005:4000 → 0x0006:2000 = 6.125 s.
    assert_eq!(rtt_ms(0xB710_8000, 0xB705_2000, 0x0005_4000), Some(6125));
    assert_eq!(rtt_ms(0xB710_8000, 0, 0x0005_4000), None, "no SR yet");
    assert_eq!(rtt_ms(0xB705_2000, 0xB705_2000, 1), None, "negative");
    assert_eq!(
        rtt_ms(0x0000_1000, 0xFFFF_F000, 0),
        Some(125),
        "across the wrap"
    );
}

// --------------------------------------------------------- statistics

#[test]
fn seeded_five_percent_loss_across_seq_wraps_gives_exact_counts_and_interval_fractions() {
    const PACKETS: u64 = 200_000; // four wraps of the 16-bit sequence
    const START: u32 = 65_000;
    const PER_REPORT: u64 = 250; // 5 s of 20 ms packets
    let mut rng = XorShift(42);
    let mut stats = ReceiverStats::new(8000);
    let ms = Duration::from_millis;

    // Our own bookkeeping, by packet index (0 = first sent).
    let mut highest = 0u64;
    let mut received_total = 0u64;
    let (mut expected_prior, mut received_prior) = (0u64, 0u64);
    let mut lost_any_interval = false;
    for i in 0..PACKETS {
        // The first two always arrive so probation ends at index 1, which
        // becomes the base sequence number.
        let lost = i >= 2 && rng.below(100) < 5;
        if !lost {
            let seq = (START + i as u32) as u16;
            let status = stats.on_packet(
                &header(seq, (i * 160) as u32),
                PacketKind::Audio,
                ms(20 * i),
            );
            if i >= 1 {
                assert_eq!(status, SeqStatus::Counted, "packet {i}");
                highest = i;
                received_total += 1;
            } else {
                assert_eq!(status, SeqStatus::Probation);
            }
        }
        if i % PER_REPORT == PER_REPORT - 1 {
            let block = stats.make_report_block(ms(20 * i)).unwrap();
            let expected = highest; // indices 1..=highest
            assert_eq!(u64::from(stats.expected()), expected);
            assert_eq!(u64::from(stats.received()), received_total);
            assert_eq!(
                i64::from(block.cumulative_lost),
                (expected - received_total) as i64
            );
            assert_eq!(
                u64::from(block.extended_highest_sequence),
                u64::from(START) + highest
            );
            let exp_int = expected - expected_prior;
            let lost_int = exp_int - (received_total - received_prior);
            assert_eq!(
                u64::from(block.fraction_lost),
                (lost_int << 8) / exp_int,
                "report at {i}"
            );
            lost_any_interval |= lost_int > 0;
            expected_prior = expected;
            received_prior = received_total;
        }
    }
    assert!(lost_any_interval);
    let lost = stats.cumulative_lost();
    // 5 % of 200,000, give or take the seeded draw.
    assert!((9_000..11_000).contains(&lost), "{lost}");
    assert_eq!(stats.extended_highest_sequence() >> 16, 4, "four wraps");
}

#[test]
fn reordering_across_the_wrap_and_duplicates_are_counted_as_a3_says() {
    let mut stats = ReceiverStats::new(8000);
    let t = Duration::ZERO;
    let mut statuses = Vec::new();
    for seq in [65533, 65534, 65535, 1, 0, 2, 2] {
        statuses.push(stats.on_packet(&header(seq, 0), PacketKind::Audio, t));
    }
    assert_eq!(statuses[0], SeqStatus::Probation);
    assert!(statuses[1..].iter().all(|&s| s == SeqStatus::Counted));
    // Base 65534, highest 65536 + 2: five expected, six received.
    assert_eq!(stats.extended_highest_sequence(), 65_538);
    assert_eq!((stats.expected(), stats.received()), (5, 6));
    assert_eq!(stats.cumulative_lost(), -1);
    let block = stats.make_report_block(t).unwrap();
    assert_eq!((block.cumulative_lost, block.fraction_lost), (-1, 0));
}

#[test]
fn a_big_jump_is_ignored_until_a_second_packet_confirms_a_restart() {
    let mut stats = ReceiverStats::new(8000);
    let t = Duration::ZERO;
    for seq in 100..200 {
        stats.on_packet(&header(seq, 0), PacketKind::Audio, t);
    }
    assert_eq!(stats.received(), 99);
    assert_eq!(
        stats.on_packet(&header(40_000, 0), PacketKind::Audio, t),
        SeqStatus::Ignored
    );
    assert_eq!(stats.received(), 99);
    // A late packet within the misorder window is still counted.
    assert_eq!(
        stats.on_packet(&header(150, 0), PacketKind::Audio, t),
        SeqStatus::Counted
    );
    assert_eq!(
        stats.on_packet(&header(40_001, 0), PacketKind::Audio, t),
        SeqStatus::Restarted
    );
    assert_eq!((stats.expected(), stats.received()), (1, 1));
    assert_eq!(stats.extended_highest_sequence(), 40_001);
}

#[test]
fn a_new_ssrc_starts_over_on_probation() {
    let mut stats = ReceiverStats::new(8000);
    let t = Duration::ZERO;
    for seq in 0..10 {
        stats.on_packet(&header(seq, 0), PacketKind::Audio, t);
    }
    let mut other = header(5000, 0);
    other.ssrc = 99;
    assert_eq!(
        stats.on_packet(&other, PacketKind::Audio, t),
        SeqStatus::Probation
    );
    assert!(!stats.is_valid());
    assert_eq!(stats.make_report_block(t), None);
    other.sequence = 5001;
    assert_eq!(
        stats.on_packet(&other, PacketKind::Audio, t),
        SeqStatus::Counted
    );
    assert_eq!(stats.ssrc(), Some(99));
    assert_eq!(stats.make_report_block(t).unwrap().ssrc, 99);
}

#[test]
fn jitter_is_zero_for_constant_transit() {
    let mut stats = ReceiverStats::new(8000);
    for i in 0..500u64 {
        // 37 ms of constant network delay, arbitrary timestamp base.
        let arrival = Duration::from_millis(37 + 20 * i);
        stats.on_packet(
            &header(i as u16, 1_000_000 + 160 * i as u32),
            PacketKind::Audio,
            arrival,
        );
    }
    assert_eq!(stats.jitter(), 0);
    assert_eq!(
        stats
            .make_report_block(Duration::from_secs(10))
            .unwrap()
            .jitter,
        0
    );
}

#[test]
fn jitter_of_alternating_plus_minus_n_converges_to_the_rfc_estimate() {
    const N: u64 = 40; // ±5 ms at 8 kHz, so |D| = 2N = 80 ts units
    let mut stats = ReceiverStats::new(8000);
    // RFC 3550 A.8 first form, in floating point, as an independent model.
    let mut model = 0.0f64;
    let mut prev_transit: Option<f64> = None;
    for i in 0..1_000u64 {
        let ts = 160 * i;
        let arrival_ts = if i % 2 == 0 {
            ts + 800 + N
        } else {
            ts + 800 - N
        };
        let arrival = Duration::from_micros(arrival_ts * 125);
        let status = stats.on_packet(&header(i as u16, ts as u32), PacketKind::Audio, arrival);
        if status == SeqStatus::Counted {
            let transit = arrival_ts as f64 - ts as f64;
            if let Some(p) = prev_transit {
                model += ((transit - p).abs() - model) / 16.0;
            }
            prev_transit = Some(transit);
            // The integer form tracks the float form to within one unit.
            assert!(
                (f64::from(stats.jitter()) - model.floor()).abs() <= 1.0,
                "packet {i}"
            );
        }
    }
    assert!((model - 2.0 * N as f64).abs() < 1e-6);
    // J approaches 2N from below, so the truncated value is 2N − 1.
    assert_eq!(u64::from(stats.jitter()), 2 * N - 1);
    assert_eq!(stats.jitter() as f64, model.floor());
}

#[test]
fn telephone_events_count_in_the_sequence_space_but_not_in_jitter() {
    let mut stats = ReceiverStats::new(8000);
    let ms = Duration::from_millis;
    let mut seq = 0u16;
    // 50 audio packets, 10 event packets all stamped with the event start
    // (what a DTMF burst looks like), then audio resumes on time.
    for i in 0..50u64 {
        stats.on_packet(
            &header(seq, (160 * i) as u32),
            PacketKind::Audio,
            ms(20 * i),
        );
        seq += 1;
    }
    for i in 50..60u64 {
        stats.on_packet(
            &header(seq, 160 * 50),
            PacketKind::TelephoneEvent,
            ms(20 * i),
        );
        seq += 1;
    }
    for i in 60..100u64 {
        stats.on_packet(
            &header(seq, (160 * i) as u32),
            PacketKind::Audio,
            ms(20 * i),
        );
        seq += 1;
    }
    assert_eq!(stats.cumulative_lost(), 0);
    assert_eq!(stats.received(), 99);
    assert_eq!(stats.jitter(), 0);
}

#[test]
fn lsr_and_dlsr_come_from_the_last_sender_report_and_give_the_peer_its_rtt() {
    let mut stats = ReceiverStats::new(8000);
    let ms = Duration::from_millis;
    for i in 0..10u64 {
        stats.on_packet(
            &header(i as u16, (160 * i) as u32),
            PacketKind::Audio,
            ms(20 * i),
        );
    }
    let block = stats.make_report_block(ms(200)).unwrap();
    assert_eq!(
        (block.last_sr, block.delay_since_last_sr),
        (0, 0),
        "no SR yet"
    );

    // An SR from another SSRC does not count.
    let ntp = NtpTimestamp(0x0000_B705_2000_0000);
    stats.on_sender_report(7, ntp, ms(100));
    assert_eq!(stats.make_report_block(ms(200)).unwrap().last_sr, 0);

    // Only the middle 32 bits (0xb705:2000) reach LSR.
    let ntp = NtpTimestamp(0xE8F0_B705_2000_FFFF);
    stats.on_sender_report(0x1234_5678, ntp, ms(1_000));
    let block = stats.make_report_block(ms(6_250)).unwrap();
    assert_eq!(block.last_sr, 0xB705_2000);
    assert_eq!(block.delay_since_last_sr, 0x0005_4000);
    // Back at the SR's sender, the block arrives when its clock reads
    // LSR + DLSR + 0.875 s: 875 ms of round trip.
    let now = 0xB705_2000u32 + 0x0005_4000 + 0x0000_E000;
    assert_eq!(
        rtt_ms(now, block.last_sr, block.delay_since_last_sr),
        Some(875)
    );
}

#[test]
fn sender_stats_feed_the_sender_report() {
    let mut s = SenderStats::new();
    assert!(!s.has_sent());
    for _ in 0..250 {
        s.on_sent(160);
    }
    assert!(s.has_sent());
    assert_eq!((s.packet_count(), s.octet_count()), (250, 40_000));
    let ntp = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
    let info = s.sender_info(ntp, 40_000);
    let mut out = Vec::new();
    write_sender_report(1, &info, &[], b"c", &mut out).unwrap();
    let Some(RtcpPacket::SenderReport(sr)) = RtcpCompound::parse(&out).unwrap().packets().next()
    else {
        panic!()
    };
    assert_eq!(sr.info, info);
    assert_eq!((sr.info.packet_count, sr.info.octet_count), (250, 40_000));
}
