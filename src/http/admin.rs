//! The admin API's bearer token: one reusable layer that every `/api/v1`
//! route sits behind (`Authorization: Bearer <WARMLINE_ADMIN_TOKEN>`).
//!
//! The token is read from the environment only, never from the config
//! file. Without it the admin API is off: every protected route answers
//! 401 with a body saying which variable to set, so a deployment that
//! forgot it is closed, not open. The comparison is in constant time
//! (aws-lc-rs's HMAC verifier over the presented token; see [`AdminToken`]).
//!
//! Use [`protect`] on a router: it answers 401 before the handler runs
//! and before the body is read.

use aws_lc_rs::hmac;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

use crate::config::tools::ADMIN_TOKEN_VAR;

/// The key both sides of the comparison are MACed with. It need not be
/// secret: the MAC only turns "equal bytes" into a fixed-length tag that
/// aws-lc-rs compares in constant time, whatever length the client sent.
const COMPARE_KEY: &[u8] = b"warmline admin token comparison";

/// The expected admin token, or none (the admin API is off).
#[derive(Clone)]
pub struct AdminToken {
    key: hmac::Key,
    expected: Option<hmac::Tag>,
    /// Wrong or missing tokens, rate limited (429 past the burst).
    failures: std::sync::Arc<std::sync::Mutex<super::rate_limit::FailureBucket>>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token, only whether it is set.
        f.debug_struct("AdminToken")
            .field("set", &self.is_set())
            .finish()
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminAuthError {
    /// `WARMLINE_ADMIN_TOKEN` is unset: nothing can be accepted.
    #[error("the admin API is off: set {ADMIN_TOKEN_VAR} in the server's environment")]
    NotConfigured,
    /// No `Authorization: Bearer …` header.
    #[error("send Authorization: Bearer <{ADMIN_TOKEN_VAR}>")]
    Missing,
    /// A bearer token that is not the admin token.
    #[error("wrong admin token")]
    Wrong,
}

impl AdminToken {
    /// The token, `None` or empty meaning unset.
    pub fn new(token: Option<&str>) -> AdminToken {
        let key = hmac::Key::new(hmac::HMAC_SHA256, COMPARE_KEY);
        let expected = token
            .filter(|t| !t.is_empty())
            .map(|t| hmac::sign(&key, t.as_bytes()));
        AdminToken {
            key,
            expected,
            failures: Default::default(),
        }
    }

    /// Whether a token is configured.
    pub fn is_set(&self) -> bool {
        self.expected.is_some()
    }

    /// Checks a token presented outside a header (a WebSocket message,
    /// where a browser cannot set one), in constant time like [`check`]
    /// (Self::check).
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn check_token(&self, presented: &str) -> Result<(), AdminAuthError> {
        let expected = self.expected.ok_or(AdminAuthError::NotConfigured)?;
        if presented.is_empty() {
            return Err(AdminAuthError::Missing);
        }
        hmac::verify(&self.key, presented.as_bytes(), expected.as_ref())
            .map_err(|_| AdminAuthError::Wrong)
    }

    /// Checks a request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AdminAuthError> {
        let expected = self.expected.ok_or(AdminAuthError::NotConfigured)?;
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme is case-insensitive (RFC 9110 §11.1).
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim_start_matches(' '))
            })
            .filter(|t| !t.is_empty())
            .ok_or(AdminAuthError::Missing)?;
        hmac::verify(&self.key, presented.as_bytes(), expected.as_ref())
            .map_err(|_| AdminAuthError::Wrong)
    }
}

impl IntoResponse for AdminAuthError {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer realm=\"warmline\"")],
            Json(json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// Who made an admin request, for the records a request writes (a
/// callback marked done). A layer that knows the person (per-supervisor
/// sessions) puts it in the request's extensions; without one the request
/// is the shared admin token's, [`Actor::ADMIN`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The name of the shared admin token's requests.
    pub const ADMIN: &'static str = "admin";

    /// The actor of a request with `extensions`.
    pub fn of(extensions: &axum::http::Extensions) -> String {
        extensions
            .get::<Actor>()
            .map(|a| a.0.clone())
            .unwrap_or_else(|| Actor::ADMIN.to_owned())
    }
}

/// Puts every route of `router` behind the admin token: a request without
/// the right bearer token gets 401 and never reaches its handler.
pub fn protect<S>(router: Router<S>, token: AdminToken) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.route_layer(axum::middleware::from_fn_with_state(token, require))
}

async fn require(State(token): State<AdminToken>, request: Request, next: Next) -> Response {
    match token.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let limited = match token.failures.lock() {
                Ok(mut bucket) => bucket.refused(std::time::Instant::now()).err(),
                Err(_) => None,
            };
            tracing::debug!(path = %request.uri().path(), reason = %e, limited = limited.is_some(), "admin API request refused");
            match limited {
                Some(retry) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, retry.as_secs().to_string())],
                    Json(json!({ "error": "too many refused admin requests: wait, then send the right bearer token" })),
                )
                    .into_response(),
                None => e.into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(AUTHORIZATION, HeaderValue::from_str(a).expect("a header"));
        }
        h
    }

    #[test]
    fn only_the_configured_bearer_token_is_accepted() {
        let token = AdminToken::new(Some("s3cret-admin"));
        assert_eq!(token.check(&headers(Some("Bearer s3cret-admin"))), Ok(()));
        assert_eq!(token.check(&headers(Some("bearer s3cret-admin"))), Ok(()));
        assert_eq!(
            token.check(&headers(Some("Bearer s3cret-admiN"))),
            Err(AdminAuthError::Wrong)
        );
        assert_eq!(
            token.check(&headers(Some("Bearer s3cret-admin-and-more"))),
            Err(AdminAuthError::Wrong)
        );
        assert_eq!(
            token.check(&headers(Some("Basic czNjcmV0LWFkbWlu"))),
            Err(AdminAuthError::Missing)
        );
        assert_eq!(
            token.check(&headers(Some("Bearer "))),
            Err(AdminAuthError::Missing)
        );
        assert_eq!(token.check(&headers(None)), Err(AdminAuthError::Missing));
    }

    #[test]
    fn without_a_configured_token_nothing_is_accepted() {
        for unset in [AdminToken::new(None), AdminToken::new(Some(""))] {
            assert!(!unset.is_set());
            assert_eq!(
                unset.check(&headers(None)),
                Err(AdminAuthError::NotConfigured)
            );
            assert_eq!(
                unset.check(&headers(Some("Bearer anything"))),
                Err(AdminAuthError::NotConfigured)
            );
        }
        assert!(AdminAuthError::NotConfigured
            .to_string()
            .contains("WARMLINE_ADMIN_TOKEN"));
    }

    #[test]
    fn the_debug_form_never_shows_the_token() {
        let text = format!("{:?}", AdminToken::new(Some("s3cret-admin")));
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("set: true"), "{text}");
    }

    #[tokio::test]
    async fn wrong_tokens_past_the_burst_get_429_while_the_right_token_still_passes() {
        const PROTECTED: &str = "/api/v1/x";
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let router: Router = protect(
            // A path tests/openapi.rs does not take for a served route.
            Router::new().route(PROTECTED, axum::routing::get(|| async { "ok" })),
            AdminToken::new(Some("right-token")),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        let status = |token: &'static str| async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET {PROTECTED} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            tcp.write_all(request.as_bytes()).await.expect("write");
            let mut out = Vec::new();
            tcp.read_to_end(&mut out).await.expect("read");
            let text = String::from_utf8_lossy(&out).into_owned();
            text.split(' ').nth(1).unwrap_or_default().to_owned()
        };
        let mut statuses = Vec::new();
        for _ in 0..super::super::rate_limit::BURST + 3 {
            statuses.push(status("guess").await);
        }
        let burst = super::super::rate_limit::BURST as usize;
        assert!(statuses[..burst].iter().all(|s| s == "401"), "{statuses:?}");
        assert!(statuses[burst..].iter().all(|s| s == "429"), "{statuses:?}");
        assert_eq!(status("right-token").await, "200");
    }
}
