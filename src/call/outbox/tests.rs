use super::*;

fn audio(n: u8) -> ModelCommand {
    ModelCommand::AppendAudio(vec![n; 160])
}

fn truncate(ms: u64) -> ModelCommand {
    ModelCommand::Truncate {
        item_id: "item_1".into(),
        content_index: 0,
        audio_end_ms: ms,
    }
}

fn drain_rx(rx: &mut mpsc::Receiver<ModelCommand>) -> Vec<ModelCommand> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn with_room_every_command_goes_straight_to_the_channel() {
    let (tx, mut rx) = mpsc::channel(8);
    let mut outbox = ModelOutbox::new();
    assert_eq!(outbox.push(&tx, audio(1)), Pushed::Sent);
    assert_eq!(outbox.push(&tx, ModelCommand::CancelResponse), Pushed::Sent);
    assert_eq!(
        drain_rx(&mut rx),
        vec![audio(1), ModelCommand::CancelResponse]
    );
    assert!(!outbox.has_control());
}

#[test]
fn a_full_channel_drops_audio_counted_but_keeps_control_in_order() {
    let (tx, mut rx) = mpsc::channel(2);
    let mut outbox = ModelOutbox::new();
    outbox.push(&tx, audio(1));
    outbox.push(&tx, audio(2));
    // Full: audio is dropped, control waits.
    assert_eq!(outbox.push(&tx, audio(3)), Pushed::AudioDropped);
    assert_eq!(
        outbox.push(&tx, ModelCommand::CancelResponse),
        Pushed::Queued
    );
    assert_eq!(outbox.push(&tx, truncate(1_234)), Pushed::Queued);
    // Audio behind waiting control is dropped, never sent ahead of it.
    assert_eq!(outbox.push(&tx, audio(4)), Pushed::AudioDropped);
    assert_eq!(
        outbox.push(
            &tx,
            ModelCommand::FunctionOutput {
                call_id: "c".into(),
                output: "{}".into()
            }
        ),
        Pushed::Queued
    );
    assert_eq!(outbox.queued(), 3);

    // The socket drains one command: one permit's worth moves.
    assert_eq!(rx.try_recv().ok(), Some(audio(1)));
    assert_eq!(outbox.drain(&tx), Drained::Full);
    assert_eq!(outbox.queued(), 2);
    // Everything drains.
    let mut got = drain_rx(&mut rx);
    assert_eq!(outbox.drain(&tx), Drained::Empty);
    got.extend(drain_rx(&mut rx));
    assert_eq!(
        got,
        vec![
            audio(2),
            ModelCommand::CancelResponse,
            truncate(1_234),
            ModelCommand::FunctionOutput {
                call_id: "c".into(),
                output: "{}".into()
            },
        ]
    );
    assert_eq!(
        outbox.dropped_total(),
        DroppedAudio {
            frames: 2,
            bytes: 320
        }
    );
    assert_eq!(outbox.dropped_total().ms(), 40);
    // Once control is out, audio flows again.
    assert_eq!(outbox.push(&tx, audio(5)), Pushed::Sent);
}

#[tokio::test(start_paused = true)]
async fn awaiting_a_permit_delivers_queued_control_when_the_reader_comes_back() {
    let (tx, mut rx) = mpsc::channel(1);
    let mut outbox = ModelOutbox::new();
    outbox.push(&tx, audio(1));
    outbox.push(&tx, ModelCommand::CancelResponse);
    outbox.push(&tx, truncate(40));
    // The reader stalls for three seconds, then reads everything.
    let reader = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let mut got = Vec::new();
        while let Some(c) = rx.recv().await {
            got.push(c);
        }
        got
    });
    while outbox.has_control() {
        let permit = tx.clone().reserve_owned().await.expect("open");
        outbox.send_next(permit, &tx);
    }
    drop(tx);
    let got = reader.await.expect("reader");
    assert_eq!(
        got,
        vec![audio(1), ModelCommand::CancelResponse, truncate(40)]
    );
}

#[test]
fn a_stuck_session_overflows_instead_of_growing_without_bound() {
    let (tx, _rx) = mpsc::channel(1);
    let mut outbox = ModelOutbox::new();
    outbox.push(&tx, audio(1));
    for _ in 0..MAX_QUEUED_CONTROL {
        assert_eq!(
            outbox.push(&tx, ModelCommand::CancelResponse),
            Pushed::Queued
        );
    }
    assert_eq!(
        outbox.push(&tx, ModelCommand::CallerDtmf('5')),
        Pushed::Overflow(ModelCommand::CallerDtmf('5'))
    );
    assert_eq!(outbox.session_replaced(), MAX_QUEUED_CONTROL);
    assert!(!outbox.has_control());
}

#[test]
fn a_closed_channel_is_reported_not_queued() {
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let mut outbox = ModelOutbox::new();
    assert_eq!(
        outbox.push(&tx, ModelCommand::CancelResponse),
        Pushed::Closed
    );
    assert_eq!(outbox.push(&tx, audio(1)), Pushed::Closed);
    assert!(!outbox.has_control());
}

#[test]
fn drop_reports_aggregate_and_come_at_most_every_ten_seconds() {
    let (tx, _rx) = mpsc::channel(1);
    let mut outbox = ModelOutbox::new();
    let s = std::time::Duration::from_secs;
    assert_eq!(outbox.drop_report(s(0)), None);
    outbox.push(&tx, audio(0));
    for _ in 0..3 {
        outbox.push(&tx, audio(1));
    }
    assert_eq!(
        outbox.drop_report(s(1)).map(|d| d.frames),
        Some(3),
        "the first drop is reported at once"
    );
    for _ in 0..5 {
        outbox.push(&tx, audio(1));
    }
    assert_eq!(outbox.drop_report(s(5)), None);
    assert_eq!(outbox.drop_report(s(11)).map(|d| d.frames), Some(5));
    assert_eq!(outbox.dropped_total().frames, 8);
}

#[test]
fn audio_arriving_once_room_frees_goes_after_the_waiting_control() {
    let (tx, mut rx) = mpsc::channel(2);
    let mut outbox = ModelOutbox::new();
    outbox.push(&tx, audio(1));
    outbox.push(&tx, audio(2));
    outbox.push(&tx, ModelCommand::CancelResponse);
    // The reader takes both frames; the next audio finds room.
    assert_eq!(drain_rx(&mut rx), vec![audio(1), audio(2)]);
    assert_eq!(outbox.push(&tx, audio(3)), Pushed::Sent);
    assert_eq!(
        drain_rx(&mut rx),
        vec![ModelCommand::CancelResponse, audio(3)]
    );
    assert_eq!(outbox.dropped_total().frames, 0);
}
