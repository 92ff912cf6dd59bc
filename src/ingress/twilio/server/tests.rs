//! The voice webhook when no stream token can be made.

use super::*;
use crate::random::FailingRandom;

#[tokio::test]
async fn a_failing_random_source_answers_the_voice_webhook_503_and_registers_nothing() {
    let workers = MediaWorkers::start(1).expect("a media worker");
    let service = TwilioService::new(
        None,
        None,
        true,
        workers,
        Backend::Demo(Default::default()),
        crate::app::session_config(&crate::config::Config::default()),
        CallConfig::default(),
    )
    .with_random(Arc::new(FailingRandom));
    let service = Arc::new(service);
    let response = voice(
        State(service.clone()),
        Uri::from_static("/twilio/voice"),
        HeaderMap::new(),
        Form(vec![("CallSid".into(), "CA123".into())]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 4_096)
        .await
        .expect("body");
    assert!(
        String::from_utf8_lossy(&body).contains("random source"),
        "{body:?}"
    );
    assert_eq!(service.pending.lock().map(|p| p.len()).ok(), Some(0));
}

#[test]
fn stream_tokens_are_128_random_bits_and_distinct() {
    let service = TwilioService::new(
        None,
        None,
        true,
        MediaWorkers::start(1).expect("a media worker"),
        Backend::Demo(Default::default()),
        crate::app::session_config(&crate::config::Config::default()),
        CallConfig::default(),
    );
    let (a, b) = (
        service.new_token().expect("token"),
        service.new_token().expect("token"),
    );
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}
