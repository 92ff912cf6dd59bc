//! The admin API's credentials: one reusable layer that every `/api/v1`
//! route sits behind (`Authorization: Bearer <token>`), taking either the
//! admin token itself or a supervisor's live session token
//! ([`super::sessions`], decision 0038).
//!
//! The admin token is read from the environment only, never from the
//! config file. Without it the admin API is off: every protected route
//! answers 401 with a body saying which variable to set, so a deployment
//! that forgot it is closed, not open (and no session can be made). The
//! admin token is compared in constant time (aws-lc-rs's HMAC verifier
//! over the presented token; see [`AdminToken`]); a session token is
//! looked up by its SHA-256.
//!
//! Use [`protect`] on a router: it answers 401 before the handler runs
//! and before the body is read, and hands the handler the [`Actor`] the
//! request acts as (an `Extension<Actor>`: who the audit log records).

use aws_lc_rs::hmac;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use std::time::SystemTime;

use super::sessions::{SessionError, Sessions};
use crate::audit::Actor;
use crate::config::tools::ADMIN_TOKEN_VAR;

/// The key both sides of the comparison are MACed with. It need not be
/// secret: the MAC only turns "equal bytes" into a fixed-length tag that
/// aws-lc-rs compares in constant time, whatever length the client sent.
const COMPARE_KEY: &[u8] = b"warmline admin token comparison";

/// The expected admin token, or none (the admin API is off), and the
/// supervisors' sessions it accepts too. Clones share the sessions and
/// the rate limit of refused attempts.
#[derive(Clone)]
pub struct AdminToken {
    key: hmac::Key,
    expected: Option<hmac::Tag>,
    /// Wrong or missing tokens, rate limited (429 past the burst).
    failures: std::sync::Arc<std::sync::Mutex<super::rate_limit::FailureBucket>>,
    /// Supervisors' sessions; none: only the admin token is accepted.
    sessions: Option<Sessions>,
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
    #[error(
        "send Authorization: Bearer <{ADMIN_TOKEN_VAR}> or a session token (POST /api/v1/sessions)"
    )]
    Missing,
    /// A bearer token that is neither the admin token nor a live session's.
    #[error("wrong admin token (or an unknown session token)")]
    Wrong,
    /// A session token whose session has ended (idle or past its
    /// absolute bound).
    #[error("the session has expired: log in again with the admin token")]
    Expired,
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
            sessions: None,
        }
    }

    /// Accepts the live sessions of `sessions` too.
    pub fn with_sessions(mut self, sessions: Sessions) -> AdminToken {
        self.sessions = Some(sessions);
        self
    }

    /// The sessions accepted, if any.
    pub fn sessions(&self) -> Option<&Sessions> {
        self.sessions.as_ref()
    }

    /// Whom a presented token stands for at `now`: the admin token
    /// (compared in constant time) or a live session.
    fn actor(&self, presented: &str, now: SystemTime) -> Result<Actor, AdminAuthError> {
        let expected = self.expected.ok_or(AdminAuthError::NotConfigured)?;
        if presented.is_empty() {
            return Err(AdminAuthError::Missing);
        }
        if hmac::verify(&self.key, presented.as_bytes(), expected.as_ref()).is_ok() {
            return Ok(Actor::admin_token());
        }
        let sessions = self.sessions.as_ref().ok_or(AdminAuthError::Wrong)?;
        match sessions.check(presented, now) {
            Ok(session) => Ok(session.actor()),
            Err(SessionError::Expired) => Err(AdminAuthError::Expired),
            Err(_) => Err(AdminAuthError::Wrong),
        }
    }

    /// A refused attempt: `Some(retry_after)` once the failure bucket is
    /// empty (answer 429), else `None` (answer 401).
    pub fn refused(&self) -> Option<std::time::Duration> {
        match self.failures.lock() {
            Ok(mut bucket) => bucket.refused(std::time::Instant::now()).err(),
            Err(_) => None,
        }
    }

    /// Whether a token is configured.
    pub fn is_set(&self) -> bool {
        self.expected.is_some()
    }

    /// Checks a token presented outside a header (a WebSocket message,
    /// where a browser cannot set one) at `now`, like [`check`]
    /// (Self::check).
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn check_token(&self, presented: &str, now: SystemTime) -> Result<Actor, AdminAuthError> {
        self.actor(presented, now)
    }

    /// Checks a request's headers at `now`: whom the request acts as.
    pub fn check(&self, headers: &HeaderMap, now: SystemTime) -> Result<Actor, AdminAuthError> {
        if self.expected.is_none() {
            return Err(AdminAuthError::NotConfigured);
        }
        let presented = bearer(headers).ok_or(AdminAuthError::Missing)?;
        self.actor(presented, now)
    }
}

/// The bearer token of a request's `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
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

/// Puts every route of `router` behind the admin token or a live
/// session: a request without one gets 401 (429 past the failure
/// bucket) and never reaches its handler; one with it reaches the handler
/// with its [`Actor`] as an extension.
pub fn protect<S>(router: Router<S>, token: AdminToken) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.route_layer(axum::middleware::from_fn_with_state(token, require))
}

async fn require(State(token): State<AdminToken>, mut request: Request, next: Next) -> Response {
    match token.check(request.headers(), SystemTime::now()) {
        Ok(actor) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Err(e) => {
            let limited = token.refused();
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

    const NOW: SystemTime = SystemTime::UNIX_EPOCH;

    fn check(token: &AdminToken, authorization: Option<&str>) -> Result<Actor, AdminAuthError> {
        token.check(&headers(authorization), NOW)
    }

    #[test]
    fn only_the_configured_bearer_token_is_accepted() {
        let token = AdminToken::new(Some("s3cret-admin"));
        let admin = Ok(Actor::admin_token());
        assert_eq!(check(&token, Some("Bearer s3cret-admin")), admin);
        assert_eq!(check(&token, Some("bearer s3cret-admin")), admin);
        assert_eq!(
            check(&token, Some("Bearer s3cret-admiN")),
            Err(AdminAuthError::Wrong)
        );
        assert_eq!(
            check(&token, Some("Bearer s3cret-admin-and-more")),
            Err(AdminAuthError::Wrong)
        );
        assert_eq!(
            check(&token, Some("Basic czNjcmV0LWFkbWlu")),
            Err(AdminAuthError::Missing)
        );
        assert_eq!(check(&token, Some("Bearer ")), Err(AdminAuthError::Missing));
        assert_eq!(check(&token, None), Err(AdminAuthError::Missing));
    }

    #[test]
    fn without_a_configured_token_nothing_is_accepted() {
        for unset in [AdminToken::new(None), AdminToken::new(Some(""))] {
            let unset = unset.with_sessions(Sessions::in_memory());
            assert!(!unset.is_set());
            assert_eq!(check(&unset, None), Err(AdminAuthError::NotConfigured));
            assert_eq!(
                check(&unset, Some("Bearer anything")),
                Err(AdminAuthError::NotConfigured)
            );
        }
        assert!(AdminAuthError::NotConfigured
            .to_string()
            .contains("WARMLINE_ADMIN_TOKEN"));
    }

    #[test]
    fn a_live_session_token_acts_as_its_supervisor_and_an_ended_one_is_refused() {
        let sessions = Sessions::in_memory();
        let token = AdminToken::new(Some("s3cret-admin")).with_sessions(sessions.clone());
        let ada = sessions.login("Ada", NOW).expect("a session");
        let bearer = format!("Bearer {}", ada.token);
        let actor = check(&token, Some(&bearer)).expect("accepted");
        assert_eq!(actor, Actor::supervisor("Ada", &ada.session.id));
        assert_eq!(
            token
                .check_token(&ada.token, NOW)
                .expect("in a join too")
                .name,
            "Ada"
        );
        // A session token is not accepted where no sessions are.
        assert_eq!(
            check(&AdminToken::new(Some("s3cret-admin")), Some(&bearer)),
            Err(AdminAuthError::Wrong)
        );
        let late = NOW + super::super::sessions::IDLE_TTL;
        assert_eq!(
            token.check(&headers(Some(&bearer)), late),
            Err(AdminAuthError::Expired)
        );
        assert_eq!(
            token.check(&headers(Some(&bearer)), late),
            Err(AdminAuthError::Wrong),
            "an expired session is forgotten"
        );
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
