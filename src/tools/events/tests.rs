use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::*;
use crate::call::events::EndReason;

type Seen = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver that answers 503 to its first request and 200 after.
async fn flaky_receiver() -> (Seen, String) {
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().expect("not poisoned");
                seen.push((headers, body));
                if seen.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (seen, url)
}

fn target(url: &str) -> Target {
    Target {
        client: client().expect("a client"),
        url: reqwest::Url::parse(url).expect("url"),
        secret: b"whsec_events".to_vec(),
        timeout: Duration::from_secs(5),
        retries: 2,
        first_backoff: Duration::from_millis(10),
    }
}

fn identity() -> CallIdentity {
    CallIdentity::mint("twilio", "CA1", "+15550001", "+15550002")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_retried_with_the_same_id_and_a_valid_signature() {
    let (seen, url) = flaky_receiver().await;
    let sink = EventSink::start(target(&url), 16, &Handle::current());
    sink.call_started(&identity());
    tokio::time::timeout(Duration::from_secs(10), sink.flushed())
        .await
        .expect("delivered in time");
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 2, "one 503, one retry");
    let header = |i: usize, name: &str| {
        seen[i]
            .0
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(0, "idempotency-key"), header(1, "idempotency-key"));
    assert_eq!(header(1, "x-warmline-event"), "call.started");
    let body: Value = serde_json::from_str(&seen[1].1).expect("JSON");
    assert_eq!(body["id"], header(1, "idempotency-key"));
    assert_eq!(body["type"], "call.started");
    assert_eq!(body["call"]["provider_id"], "CA1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert_eq!(
        signing::verify(
            b"whsec_events",
            &header(1, "x-warmline-timestamp"),
            &header(1, "x-warmline-signature"),
            seen[1].1.as_bytes(),
            now,
            signing::DEFAULT_TOLERANCE,
        ),
        Ok(())
    );
}

#[test]
fn a_full_queue_drops_the_new_event_and_never_waits() {
    // A runtime that is never driven: nothing is delivered, the queue
    // only fills.
    let idle = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let sink = EventSink::start(target("http://127.0.0.1:9/events"), 2, idle.handle());
    sink.call_started(&identity());
    sink.call_started(&identity());
    let ended = crate::call::call_log::CallLog::new(Duration::ZERO, 8).finish(
        Duration::from_secs(1),
        identity(),
        EndReason::CallerHungUp,
        None,
    );
    sink.call_ended(ended);
    assert_eq!(sink.pending(), 2);
    assert_eq!(sink.dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn call_ended_carries_the_envelope_and_null_placeholders() {
    let ended = crate::call::call_log::CallLog::new(Duration::ZERO, 8).finish(
        Duration::from_millis(1_500),
        identity(),
        EndReason::AgentEnded,
        None,
    );
    let event = Queued {
        id: "evt_1".into(),
        created_at: "2026-12-03T20:00:00.000Z".into(),
        payload: Payload::Ended(Box::new(ended)),
    };
    let body: Value = serde_json::from_str(&event.body()).expect("JSON");
    assert_eq!(body["type"], "call.ended");
    assert_eq!(body["id"], "evt_1");
    assert_eq!(body["reason"], "agent_ended");
    assert_eq!(body["duration_ms"], 1_500);
    for field in ["summary", "escalation", "recording_url", "detail"] {
        assert_eq!(body.get(field), Some(&Value::Null), "{field}");
    }
    assert_eq!(body["transcript"], json!([]));
}
