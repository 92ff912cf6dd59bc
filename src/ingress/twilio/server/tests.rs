//! The voice webhook when no stream token can be made, and under a flood
//! of bad signatures.

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

#[tokio::test]
async fn bad_signatures_past_the_burst_get_429_and_a_signed_webhook_still_passes() {
    let workers = MediaWorkers::start(1).expect("a media worker");
    let service = Arc::new(TwilioService::new(
        Some("the-auth-token".into()),
        Some("https://voice.example.com".into()),
        false,
        workers,
        Backend::Demo(Default::default()),
        crate::app::session_config(&crate::config::Config::default()),
        CallConfig::default(),
    ));
    let params = vec![("CallSid".to_owned(), "CA123".to_owned())];
    let post = |signature: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-twilio-signature",
            axum::http::HeaderValue::from_str(signature).expect("header"),
        );
        voice(
            State(service.clone()),
            Uri::from_static("/twilio/voice"),
            headers,
            Form(params.clone()),
        )
    };
    let burst = crate::http::rate_limit::BURST as usize;
    let mut statuses = Vec::new();
    for _ in 0..burst + 2 {
        statuses.push(post("bm90IGEgc2lnbmF0dXJl").await.status().as_u16());
    }
    assert!(statuses[..burst].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(statuses[burst..].iter().all(|s| *s == 429), "{statuses:?}");
    let good = super::signature::compute(
        "the-auth-token",
        "https://voice.example.com/twilio/voice",
        &params,
    );
    assert_eq!(post(&good).await.status(), StatusCode::OK);
}
