//! One webhook tool call: the signed request, bounded retries for
//! idempotent tools, and the answer turned into a function output.
//!
//! Whatever happens, the model gets JSON it can relay in words: the
//! endpoint's own JSON on a 2xx, otherwise `{"error": {...}}` saying what
//! went wrong and that the action did not (or may not) complete.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::signing;
use crate::call::tools::CallIdentity;

/// First pause before a retry; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Largest answer read from an endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A webhook tool, ready to call.
#[derive(Clone)]
pub struct Webhook {
    /// The tool's name.
    pub name: String,
    /// The endpoint.
    pub url: reqwest::Url,
    /// `POST`, `PUT` or `PATCH`.
    pub method: reqwest::Method,
    /// Headers sent with every request (plain and from the environment).
    pub headers: reqwest::header::HeaderMap,
    /// Budget for the whole call, retries included.
    pub timeout: Duration,
    /// Extra attempts (only non-zero for idempotent tools).
    pub retries: u32,
    /// The signing key.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key or header values (they may be secrets).
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("retries", &self.retries)
            .finish()
    }
}

/// How one attempt ended.
enum Attempt {
    /// A final answer for the model.
    Done(Value),
    /// Worth another try (connection failure, 5xx, 429), with the error
    /// to give if none is left.
    Retry(Value),
}

impl Webhook {
    /// Calls the endpoint for one tool call; always answers.
    pub async fn call(
        &self,
        client: &reqwest::Client,
        call: &CallIdentity,
        tool_call_id: &str,
        arguments: &str,
    ) -> Value {
        let arguments: Value = match serde_json::from_str(arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return error(
                    "bad_arguments",
                    format!(
                        "The arguments for {} were not a JSON object, so it did not run.",
                        self.name
                    ),
                )
            }
        };
        let body = json!({"call": call, "tool": self.name, "arguments": arguments}).to_string();
        let idempotency_key = format!("{}:{}", call.id, tool_call_id);
        let deadline = Instant::now() + self.timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome =
                tokio::time::timeout(left, self.attempt(client, &body, &idempotency_key, left))
                    .await
                    .unwrap_or_else(|_| Attempt::Done(timed_out(&self.name)));
            match outcome {
                Attempt::Done(v) => return v,
                Attempt::Retry(v) if attempt >= self.retries => return v,
                Attempt::Retry(v) => {
                    attempt += 1;
                    if Instant::now() + backoff >= deadline {
                        return v;
                    }
                    tracing::info!(tool = %self.name, attempt, "retrying an idempotent tool");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn attempt(
        &self,
        client: &reqwest::Client,
        body: &str,
        idempotency_key: &str,
        left: Duration,
    ) -> Attempt {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let request = client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                signing::SIGNATURE_HEADER,
                signing::sign(&self.secret, timestamp, body.as_bytes()),
            )
            .header(signing::IDEMPOTENCY_HEADER, idempotency_key)
            .timeout(left)
            .body(body.to_owned());
        super::dispatch::request_leaving();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Attempt::Done(timed_out(&self.name)),
            Err(e) => {
                tracing::warn!(tool = %self.name, error = %e, "tool endpoint unreachable");
                return Attempt::Retry(error(
                    "unreachable",
                    format!(
                        "The {} service could not be reached, so it did not run.",
                        self.name
                    ),
                ));
            }
        };
        let status = response.status();
        let bytes = match read_capped(response).await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Attempt::Done(timed_out(&self.name)),
            Err(_) => {
                return Attempt::Retry(error(
                    "unreachable",
                    format!(
                        "The {} service dropped the connection; it may not have completed.",
                        self.name
                    ),
                ))
            }
        };
        if !status.is_success() {
            let e = json!({"error": {
                "kind": "http_status",
                "status": status.as_u16(),
                "message": format!("The {} service answered with an error (HTTP {}), so it did not complete.", self.name, status.as_u16()),
            }});
            return if status.is_server_error() || status.as_u16() == 429 {
                Attempt::Retry(e)
            } else {
                Attempt::Done(e)
            };
        }
        match bytes.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            Some(v) => Attempt::Done(v),
            None => Attempt::Done(error(
                "bad_answer",
                format!("The {} service answered, but not with JSON (or too much of it); its result is unknown.", self.name),
            )),
        }
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`]; `Ok(None)` when the answer is longer.
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// An error object the model can relay in words.
pub fn error(kind: &str, message: String) -> Value {
    json!({"error": {"kind": kind, "message": message}})
}

fn timed_out(name: &str) -> Value {
    error(
        "timeout",
        format!("The {name} service did not answer in time; it may or may not have completed."),
    )
}
