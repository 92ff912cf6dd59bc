use super::*;
use crate::call::events::Speaker;

fn identity() -> CallIdentity {
    CallIdentity::mint("twilio", "CA123", "+15550001111", "+15550002222")
}

fn line(n: u64) -> LiveEventKind {
    LiveEventKind::Transcript(TranscriptLine {
        item_id: format!("item_{n}"),
        speaker: Speaker::Agent,
        text: format!("line {n}"),
        at: "2026-12-03T00:00:00.000Z".into(),
        offset_ms: n,
        interrupted: false,
        heard_ms: None,
    })
}

#[test]
fn a_call_is_listed_while_registered_and_vanishes_when_its_registration_drops() {
    let registry = InProcessRegistry::new();
    let summary = CallSummary::connecting(&identity()).expect("a UUID id");
    let id = summary.id;
    let (handle, _commands) = command_queue(id);
    let registration = registry
        .register(summary, handle.clone())
        .expect("registers");
    assert!(
        registry.register(registration.summary(), handle).is_err(),
        "an id registers once"
    );
    registration.set_state(CallState::Live);
    let listed = registry.list(CallFilter::Live);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].state, CallState::Live);
    assert_eq!(listed[0].provider_id, "CA123");
    assert_eq!(
        registry.get(&id).map(|s| s.from),
        Some("+15550001111".into())
    );
    drop(registration);
    assert!(registry.list(CallFilter::Live).is_empty());
    assert!(registry.get(&id).is_none());
    assert!(registry.handle(&id).is_none());
}

#[test]
fn only_the_live_filter_is_served_and_the_error_names_it() {
    assert_eq!("live".parse::<CallFilter>(), Ok(CallFilter::Live));
    let error = "ended".parse::<CallFilter>().expect_err("not yet");
    assert!(error.to_string().contains("state=live"), "{error}");
    assert!("not-a-uuid".parse::<CallId>().is_err());
}

#[tokio::test]
async fn a_slow_subscriber_is_told_how_many_events_it_lost_and_never_slows_the_call() {
    let registry = InProcessRegistry::new();
    let summary = CallSummary::connecting(&identity()).expect("a UUID id");
    let id = summary.id;
    let (handle, _commands) = command_queue(id);
    let registration = registry.register(summary, handle).expect("registers");
    let mut slow = registry.subscribe(&id).expect("the call is live");
    let mut slow_all = registry.subscribe_all();
    let extra = 10u64;
    let total = CALL_EVENTS_CAPACITY as u64 + extra;
    // Publishing is synchronous and never waits for the subscriber: the
    // whole burst goes out while nobody reads.
    for n in 0..total {
        registration.publish(line(n));
    }
    assert_eq!(next_event(&mut slow).await, Received::Lagged(extra));
    // What it gets next is the oldest event still held, then the rest.
    match next_event(&mut slow).await {
        Received::Event(LiveEvent {
            kind: LiveEventKind::Transcript(l),
            call_id,
        }) => {
            assert_eq!(call_id, id);
            assert_eq!(l.offset_ms, extra);
        }
        other => panic!("expected the oldest held line, got {other:?}"),
    }
    // The process-wide stream holds more: it lost nothing of this burst.
    assert!(matches!(
        next_event(&mut slow_all).await,
        Received::Event(_)
    ));
    // Once it has caught up, it misses nothing more.
    for n in extra + 1..total {
        assert!(
            matches!(next_event(&mut slow).await, Received::Event(LiveEvent { kind: LiveEventKind::Transcript(l), .. }) if l.offset_ms == n)
        );
    }
    registration.set_state(CallState::Live);
    drop(registration);
    let mut last = None;
    loop {
        match next_event(&mut slow).await {
            Received::Event(e) => last = Some(e),
            Received::Closed => break,
            Received::Lagged(n) => panic!("lost {n} more"),
        }
    }
    assert_eq!(
        last.map(|e| e.kind),
        Some(LiveEventKind::State { state: "ended" }),
        "the end is the last event, then the stream closes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_command_queue_answers_busy_instead_of_dropping_the_command() {
    let id: CallId = identity().id.parse().expect("a UUID id");
    let (handle, mut commands) = command_queue(id);
    // Fill the queue with commands nobody reads yet.
    let mut pending = Vec::new();
    for n in 0..COMMAND_CAPACITY {
        let handle = handle.clone();
        pending.push(tokio::spawn(async move {
            handle.add_text(format!("note {n}")).await
        }));
    }
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    assert_eq!(handle.hang_up().await, Err(CommandError::Busy));
    assert!(started.elapsed() >= COMMAND_WAIT);
    // The queued ones were kept, in order, and are answered when read.
    for n in 0..COMMAND_CAPACITY {
        match commands.recv().await {
            Some(CallCommand::AddText { text, done }) => {
                assert_eq!(text, format!("note {n}"));
                let _ = done.send(());
            }
            other => panic!("expected note {n}, got {other:?}"),
        }
    }
    for p in pending {
        assert_eq!(p.await.expect("joins"), Ok(()));
    }
    drop(commands);
    assert_eq!(handle.hang_up().await, Err(CommandError::Ended));
    let link = crate::call::room::LegLink::new("test", |_port| async {});
    assert_eq!(
        handle.attach(LegRole::Rep, link).await,
        Err(CommandError::Ended)
    );
}
