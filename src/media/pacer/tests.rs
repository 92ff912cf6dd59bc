use super::*;

fn pacer() -> Pacer {
    Pacer::new(PacerConfig::new(SampleRate::Hz8000))
}

fn ramp(len: usize, start: i16) -> Vec<i16> {
    (0..len).map(|i| start.wrapping_add(i as i16)).collect()
}

/// Polls every tick due up to `now` and returns them.
fn drain(p: &mut Pacer, now: Duration) -> Vec<Tick> {
    std::iter::from_fn(|| p.poll(now)).collect()
}

#[test]
fn ten_simulated_seconds_release_exactly_500_frames() {
    let mut p = pacer();
    p.push(SourceId(1), &ramp(8_000 * 12, 0)).expect("fits");
    let mut released = 0;
    let mut ms = 0;
    // Wake up a little late each time, as a real timer does.
    while ms < 10_000 {
        let wake = Duration::from_millis(ms) + Duration::from_micros((ms * 37) % 900);
        released += drain(&mut p, wake)
            .iter()
            .filter(|t| matches!(t, Tick::Frame(_)))
            .count();
        ms += 20;
    }
    assert_eq!(released, 500);
    assert_eq!(p.played_ms(SourceId(1)), 10_000);
    assert_eq!(p.stats().skipped_ticks, 0);
}

#[test]
fn flush_at_any_tick_reports_played_audio_to_the_sample() {
    let lengths = [1_234usize, 5_678, 999, 3_210];
    let total_ticks = lengths.iter().sum::<usize>() / 160 + lengths.len() + 2;
    for flush_at in 0..total_ticks {
        let mut p = pacer();
        for (i, &len) in lengths.iter().enumerate() {
            let source = SourceId(i as u64);
            p.push(source, &ramp(len, (i * 1000) as i16)).expect("fits");
            p.finish(source);
        }
        let mut sent = [0u64; 4];
        for tick in 0..flush_at {
            let t = p.poll(TICK * tick as u32).expect("a tick is due");
            if let Tick::Frame(f) = t {
                let i = f.source.0 as usize;
                assert_eq!(
                    f.source_offset, sent[i],
                    "frames of a source are contiguous"
                );
                // The released samples are the source's own, in order.
                let expected = ramp(f.audio_samples, (i * 1000) as i16 + sent[i] as i16);
                assert_eq!(&f.frame.samples()[..f.audio_samples], &expected[..]);
                assert!(f.frame.samples()[f.audio_samples..].iter().all(|&s| s == 0));
                sent[i] += f.audio_samples as u64;
            }
        }
        let report = p.flush();
        for (i, &len) in lengths.iter().enumerate() {
            let source = SourceId(i as u64);
            assert_eq!(p.played_samples(source), sent[i], "flush at {flush_at}");
            if let Some(entry) = report.sources.iter().find(|s| s.source == source) {
                assert_eq!(entry.played_samples, sent[i]);
                assert_eq!(entry.played_samples + entry.dropped_samples, len as u64);
            } else {
                assert_eq!(
                    sent[i], len as u64,
                    "a source absent from the report was fully played"
                );
            }
        }
        assert!(p.is_empty());
        assert!(matches!(
            p.poll(TICK * flush_at as u32),
            Some(Tick::Idle { .. })
        ));
    }
}

#[test]
fn a_late_driver_skips_missed_ticks_instead_of_bursting() {
    let mut p = pacer();
    p.push(SourceId(7), &ramp(8_000, 0)).expect("fits");
    assert_eq!(drain(&mut p, Duration::ZERO).len(), 1);
    // Wake 200 ms late: ten ticks are overdue, only max_catch_up + 1 go out.
    let burst = drain(&mut p, Duration::from_millis(220));
    assert_eq!(burst.len(), 3);
    assert_eq!(p.stats().skipped_ticks, 8);
    // No audio was lost: it is only later.
    assert_eq!(p.played_samples(SourceId(7)), 4 * 160);
    assert_eq!(p.next_deadline(), Duration::from_millis(240));
}

#[test]
fn a_streaming_source_with_less_than_a_frame_underruns_until_more_arrives() {
    let mut p = pacer();
    p.push(SourceId(1), &ramp(100, 0)).expect("fits");
    assert!(matches!(
        p.poll(Duration::ZERO),
        Some(Tick::Underrun {
            source: SourceId(1),
            ..
        })
    ));
    p.push(SourceId(1), &ramp(100, 100)).expect("fits");
    match p.poll(TICK) {
        Some(Tick::Frame(f)) => {
            assert_eq!(f.audio_samples, 160);
            assert_eq!(f.frame.samples()[..160], ramp(160, 0)[..]);
        }
        other => panic!("expected a frame, got {other:?}"),
    }
    p.finish(SourceId(1));
    match p.poll(TICK * 2) {
        Some(Tick::Frame(f)) => assert_eq!(f.audio_samples, 40),
        other => panic!("expected the padded tail, got {other:?}"),
    }
}

#[test]
fn a_new_source_closes_the_previous_ones_partial_frame() {
    let mut p = pacer();
    p.push(SourceId(1), &ramp(200, 0)).expect("fits");
    p.push(SourceId(2), &ramp(160, 0)).expect("fits");
    let audio: Vec<(SourceId, usize)> = drain(&mut p, TICK * 2)
        .into_iter()
        .filter_map(|t| match t {
            Tick::Frame(f) => Some((f.source, f.audio_samples)),
            _ => None,
        })
        .collect();
    assert_eq!(
        audio,
        vec![(SourceId(1), 160), (SourceId(1), 40), (SourceId(2), 160)]
    );
}

#[test]
fn release_timestamps_follow_the_tick_clock() {
    let mut p = pacer();
    p.push(SourceId(1), &ramp(480, 0)).expect("fits");
    let stamps: Vec<u64> = drain(&mut p, TICK * 2)
        .into_iter()
        .map(|t| match t {
            Tick::Frame(f) => f.frame.timestamp().0,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(stamps, vec![0, 160, 320]);
}

#[test]
fn a_full_queue_refuses_audio_and_keeps_what_it_has() {
    let mut p = Pacer::new(PacerConfig {
        max_queued_ms: 100,
        ..PacerConfig::new(SampleRate::Hz8000)
    });
    p.push(SourceId(1), &ramp(800, 0)).expect("exactly the cap");
    let err = p.push(SourceId(1), &[0; 1]).expect_err("over the cap");
    assert_eq!(
        err,
        PacerError::QueueFull {
            queued: 800,
            cap: 800,
            offered: 1
        }
    );
    assert_eq!(p.queued_samples(), 800);
}

#[test]
fn nothing_is_released_before_its_tick() {
    let mut p = pacer();
    p.push(SourceId(1), &ramp(1600, 0)).expect("fits");
    assert!(p.poll(Duration::ZERO).is_some());
    assert!(p.poll(Duration::from_micros(19_999)).is_none());
    assert!(p.poll(TICK).is_some());
}

/// The real audio of every frame released up to `now`.
fn released_audio(p: &mut Pacer, from: Duration, now: Duration) -> Vec<(SourceId, u64, Vec<i16>)> {
    stepped(p, from, now)
        .into_iter()
        .filter_map(|t| match t {
            Tick::Frame(f) => Some((
                f.source,
                f.source_offset,
                f.frame.samples()[..f.audio_samples].to_vec(),
            )),
            _ => None,
        })
        .collect()
}

/// Every tick from `from` to `now`, polled on time.
fn stepped(p: &mut Pacer, from: Duration, now: Duration) -> Vec<Tick> {
    let mut t = from;
    let mut out = Vec::new();
    while t <= now {
        out.extend(drain(p, t));
        t += TICK;
    }
    out
}

#[test]
fn a_paused_pacer_keeps_its_queue_and_resumes_at_the_next_sample() {
    let mut p = pacer();
    let audio = ramp(8_000, 0);
    p.push(SourceId(1), &audio).expect("fits");
    let mut out: Vec<i16> = Vec::new();
    for (_, _, a) in released_audio(&mut p, Duration::ZERO, Duration::from_millis(100)) {
        out.extend(a);
    }
    p.pause();
    let during = stepped(
        &mut p,
        Duration::from_millis(120),
        Duration::from_millis(400),
    );
    assert!(during.iter().all(|t| matches!(t, Tick::Idle { .. })));
    assert_eq!(p.stats().paused_ticks, 15);
    assert!(!p.is_empty());
    p.resume();
    for (_, _, a) in released_audio(
        &mut p,
        Duration::from_millis(420),
        Duration::from_millis(2_000),
    ) {
        out.extend(a);
    }
    assert_eq!(out, audio);
}

#[test]
fn requeued_unplayed_frames_are_released_again_without_a_seam() {
    let mut p = pacer();
    let audio = ramp(4_000, 100);
    p.push(SourceId(7), &audio[..3_000]).expect("fits");
    // Five frames leave; the last three are "dropped by the leg".
    let sent = released_audio(&mut p, Duration::ZERO, Duration::from_millis(80));
    assert_eq!(sent.len(), 5);
    p.pause();
    for (source, offset, a) in sent[2..].iter().rev() {
        p.requeue_front(*source, *offset, a, false);
    }
    assert_eq!(p.played_samples(SourceId(7)), 320);
    p.push(SourceId(7), &audio[3_000..]).expect("fits");
    p.finish(SourceId(7));
    p.resume();
    let mut out: Vec<i16> = sent[..2].iter().flat_map(|(_, _, a)| a.clone()).collect();
    let rest = released_audio(&mut p, Duration::from_millis(100), Duration::from_secs(2));
    // Offsets continue where the played frames stopped; frames stay whole.
    assert_eq!(rest[0].1, 320);
    assert!(rest[..rest.len() - 1]
        .iter()
        .all(|(_, _, a)| a.len() == 160));
    out.extend(rest.into_iter().flat_map(|(_, _, a)| a));
    assert_eq!(out, audio);
}
