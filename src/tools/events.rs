//! The call-events webhook: `call.started` and `call.ended`, signed like
//! the tool webhooks, delivered on the main runtime.
//!
//! It owns one bounded queue per process ([`QUEUE_CAPACITY`] events) and
//! a delivery task that sends at most [`IN_FLIGHT`] at once. A call hands
//! its event over with `try_send` and goes on: nothing here can hold a
//! call open or make the media worker wait. When the queue is full (the
//! receiver has been down or slow for long) the new event is dropped,
//! logged and counted in `warmline_call_events_total{outcome="dropped"}`
//! (decision record 0019). Each event has an id, sent as `Idempotency-Key`
//! and in the body, the same on every retry; retries follow a 5xx, a 429,
//! a timeout or a connection error, with backoff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Semaphore};

use super::signing;
use super::ToolsError;
use crate::call::events::{CallEnded, CallEvents};
use crate::call::tools::{rfc3339, CallIdentity};
use crate::config::tools::TOOLS_SECRET_VAR;
use crate::config::EventsConfig;

/// Events waiting for delivery, per process. At about 1–20 KiB each
/// (a `call.ended` holds the transcript) this bounds the memory to tens of
/// MiB, and covers a receiver outage of a minute at 15 call ends a second.
pub const QUEUE_CAPACITY: usize = 1_024;
/// Deliveries in flight at once.
pub const IN_FLIGHT: usize = 8;
/// How long a shutting-down process waits for queued events.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(10);
/// The header naming the event type.
pub const EVENT_HEADER: &str = "X-Warmline-Event";
/// First pause before a retry; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One event on its way.
struct Queued {
    id: String,
    created_at: String,
    payload: Payload,
}

enum Payload {
    Started(CallIdentity),
    Ended(Box<CallEnded>),
}

impl Queued {
    fn kind(&self) -> &'static str {
        match self.payload {
            Payload::Started(_) => "call.started",
            Payload::Ended(_) => "call.ended",
        }
    }

    /// The JSON body: the envelope (`id`, `type`, `created_at`) and the
    /// event's fields.
    fn body(&self) -> String {
        let mut body = match &self.payload {
            Payload::Started(call) => json!({"call": call}),
            Payload::Ended(ended) => serde_json::to_value(ended).unwrap_or_else(|e| {
                // Plain data: cannot fail; say so rather than send nothing.
                json!({"call": ended.call, "error": e.to_string()})
            }),
        };
        if let Value::Object(map) = &mut body {
            map.insert("id".into(), Value::String(self.id.clone()));
            map.insert("type".into(), Value::String(self.kind().into()));
            map.insert("created_at".into(), Value::String(self.created_at.clone()));
        }
        body.to_string()
    }
}

/// Where events go and how.
struct Target {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
    timeout: Duration,
    retries: u32,
    first_backoff: Duration,
}

/// The process's call-events sink. Cheap to share.
pub struct EventSink {
    queue: mpsc::Sender<Queued>,
    pending: Arc<watch::Sender<usize>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("pending", &self.pending())
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl EventSink {
    /// The sink `[events]` configures (none without `url`), reading the
    /// key through `env`; deliveries run on `runtime`.
    pub fn new(
        config: &EventsConfig,
        env: &dyn Fn(&str) -> Option<String>,
        runtime: &Handle,
    ) -> Result<Option<Arc<EventSink>>, ToolsError> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let invalid = |message: String| ToolsError::Invalid {
            tool: "[events]".into(),
            message,
        };
        let url = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let variable = config.secret_env.as_deref().unwrap_or(TOOLS_SECRET_VAR);
        let secret =
            env(variable)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ToolsError::MissingEnv {
                    tool: "[events]".into(),
                    variable: variable.to_owned(),
                })?;
        let target = Target {
            client: client()?,
            url,
            secret: secret.into_bytes(),
            timeout: Duration::from_millis(config.timeout_ms),
            retries: config.retries,
            first_backoff: FIRST_BACKOFF,
        };
        Ok(Some(EventSink::start(target, QUEUE_CAPACITY, runtime)))
    }

    fn start(target: Target, capacity: usize, runtime: &Handle) -> Arc<EventSink> {
        let (queue, rx) = mpsc::channel(capacity);
        let pending = Arc::new(watch::Sender::new(0));
        runtime.spawn(deliver_all(rx, Arc::new(target), pending.clone()));
        Arc::new(EventSink {
            queue,
            pending,
            dropped: AtomicU64::new(0),
        })
    }

    /// Events queued or being delivered.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Completes when no event is queued or in flight (at once if none
    /// is). At shutdown, bound it with [`FLUSH_LIMIT`].
    pub async fn flushed(&self) {
        let mut pending = self.pending.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail here.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Queues an event without waiting; drops it when the queue is full.
    fn enqueue(&self, payload: Payload) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, now.as_secs(), now.subsec_nanos());
        let event = Queued {
            id: format!("evt_{}", uuid::Uuid::new_v7(ts).simple()),
            created_at: rfc3339(now),
            payload,
        };
        let kind = event.kind();
        // Counted before it can be delivered, so the count never dips.
        self.pending.send_modify(|n| *n += 1);
        if self.queue.try_send(event).is_err() {
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at the 1st, 2nd, 4th, 8th… drop: a long outage must
            // not flood the log.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    event = kind,
                    dropped,
                    queue = QUEUE_CAPACITY,
                    "call event dropped: the events queue is full (is the [events] url down?)"
                );
            }
            metrics::counter!(crate::metrics::CALL_EVENTS, "event" => kind, "outcome" => "dropped")
                .increment(1);
        }
        metrics::gauge!(crate::metrics::CALL_EVENTS_PENDING).set(self.pending() as f64);
    }
}

impl CallEvents for EventSink {
    fn call_started(&self, call: &CallIdentity) {
        self.enqueue(Payload::Started(call.clone()));
    }

    fn call_ended(&self, ended: CallEnded) {
        self.enqueue(Payload::Ended(Box::new(ended)));
    }
}

/// The events' HTTP client: the process's one crypto provider (decision
/// 0001), no redirects (a signed request must not go to another host).
fn client() -> Result<reqwest::Client, ToolsError> {
    reqwest::Client::builder()
        .use_preconfigured_tls((*crate::tls::client_config()).clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ToolsError::Client(e.to_string()))
}

/// Delivers queued events, [`IN_FLIGHT`] at a time, until every sender
/// is gone.
async fn deliver_all(
    mut rx: mpsc::Receiver<Queued>,
    target: Arc<Target>,
    pending: Arc<watch::Sender<usize>>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(event) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let target = target.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            let _slot = slot;
            target.deliver(&event).await;
            pending.send_modify(|n| *n = n.saturating_sub(1));
            metrics::gauge!(crate::metrics::CALL_EVENTS_PENDING).set(*pending.borrow() as f64);
        });
    }
}

impl Target {
    /// Sends one event, retrying what is worth retrying; always returns.
    async fn deliver(&self, event: &Queued) {
        let body = event.body();
        let kind = event.kind();
        let mut backoff = self.first_backoff;
        let mut attempt = 0;
        let failure = loop {
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    signing::SIGNATURE_HEADER,
                    signing::sign(&self.secret, timestamp, body.as_bytes()),
                )
                .header(signing::IDEMPOTENCY_HEADER, &event.id)
                .header(EVENT_HEADER, kind)
                .timeout(self.timeout)
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!(crate::metrics::CALL_EVENTS, "event" => kind, "outcome" => "delivered")
                        .increment(1);
                    return;
                }
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    format!("answered HTTP {}", r.status().as_u16())
                }
                Ok(r) => {
                    // A 4xx is the receiver's answer: repeating it would
                    // get the same.
                    break format!("answered HTTP {}; not retried", r.status().as_u16());
                }
                Err(e) if e.is_timeout() => "did not answer in time".to_owned(),
                Err(e) => format!("unreachable: {e}"),
            };
            if attempt >= self.retries {
                break failure;
            }
            attempt += 1;
            tracing::info!(event = kind, id = %event.id, attempt, %failure, "retrying a call event");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        tracing::warn!(event = kind, id = %event.id, %failure, "call event not delivered");
        metrics::counter!(crate::metrics::CALL_EVENTS, "event" => kind, "outcome" => "failed")
            .increment(1);
    }
}

#[cfg(test)]
mod tests;
