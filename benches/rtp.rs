//! RTP/RTCP cost per packet: parse a 20 ms G.711 packet, write one into a
//! reused buffer, and the receiver-statistics step every packet takes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use warmline::media::rtp::{
    write_rtp, write_sender_report, NtpTimestamp, PacketKind, ReceiverStats, RtcpCompound,
    RtpHeader, RtpPacketView, SenderInfo,
};

fn rtp(c: &mut Criterion) {
    let payload = [0x55u8; 160];
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc: 0x1234_5678,
    };
    let mut packet = Vec::with_capacity(172);
    write_rtp(&header, &payload, &mut packet);

    c.bench_function("rtp_parse_20ms", |b| {
        b.iter(|| RtpPacketView::parse(black_box(&packet)).map(|p| p.payload.len()))
    });

    let mut out = Vec::with_capacity(172);
    let mut seq: u16 = 0;
    c.bench_function("rtp_write_20ms", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let h = RtpHeader {
                sequence: seq,
                ..header
            };
            write_rtp(&h, black_box(&payload), &mut out);
            out.len()
        })
    });

    let mut stats = ReceiverStats::new(8000);
    let mut n: u64 = 0;
    c.bench_function("rtp_receiver_stats_packet", |b| {
        b.iter(|| {
            n += 1;
            let h = RtpHeader {
                sequence: n as u16,
                timestamp: (n * 160) as u32,
                ..header
            };
            stats.on_packet(
                black_box(&h),
                PacketKind::Audio,
                Duration::from_millis(n * 20),
            )
        })
    });

    let mut sr = Vec::with_capacity(128);
    let block = stats.make_report_block(Duration::from_secs(1));
    let info = SenderInfo {
        ntp: NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000)),
        ..SenderInfo::default()
    };
    let blocks: Vec<_> = block.into_iter().collect();
    c.bench_function("rtcp_write_then_parse_sr_sdes", |b| {
        b.iter(|| {
            write_sender_report(1, &info, &blocks, b"warmline@example", &mut sr)
                .map(|()| RtcpCompound::parse(black_box(&sr)).map(|c| c.packets().count()))
        })
    });
}

criterion_group!(benches, rtp);
criterion_main!(benches);
