//! `POST /api/v1/sessions` (log in: the admin token and a display name
//! for a session token), `GET /api/v1/sessions/current` (whom a token
//! stands for) and `DELETE /api/v1/sessions/current` (log out), behind
//! [`protect`] like every admin route: a wrong admin token at the login
//! spends the same failure bucket (429 past the burst).

use std::time::SystemTime;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Session, SessionError, Sessions, IDLE_TTL};
use crate::audit::{Action, Actor, Audit};
use crate::http::admin::{bearer, protect, AdminToken};

/// Largest login body read.
const MAX_BODY_BYTES: usize = 4 * 1024;

#[derive(Clone)]
struct Api {
    sessions: Option<Sessions>,
    audit: Audit,
}

/// The session routes over the sessions `token` accepts, behind `token`.
pub fn routes(token: AdminToken, audit: Audit) -> Router {
    let router = Router::new()
        .route("/api/v1/sessions", post(login))
        .route("/api/v1/sessions/current", get(current).delete(logout))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api {
            sessions: token.sessions().cloned(),
            audit,
        });
    protect(router, token)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn rfc3339(at: SystemTime) -> String {
    crate::call::tools::rfc3339(
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// A session as the API shows it (never its token).
fn shown(session: &Session) -> serde_json::Value {
    json!({
        "session_id": session.id,
        "name": session.name,
        "expires_at": rfc3339(session.ends_by()),
        "idle_timeout_secs": IDLE_TTL.as_secs(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    name: String,
}

async fn login(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    // A session must not mint sessions: a stolen session token would
    // otherwise outlive every bound.
    if !actor.is_admin_token() {
        return error(
            StatusCode::FORBIDDEN,
            "log in with the admin token itself, not a session token",
        );
    }
    let Some(sessions) = &api.sessions else {
        return error(
            StatusCode::NOT_FOUND,
            "supervisor sessions are off on this server",
        );
    };
    let Json(LoginBody { name }) = match body {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("send a JSON body {{\"name\": \"...\"}}: {e}"),
            )
        }
    };
    let made = match sessions.login(&name, SystemTime::now()) {
        Ok(made) => made,
        Err(e @ SessionError::BadName) => return error(StatusCode::BAD_REQUEST, e),
        Err(e) => {
            tracing::error!(error = %e, "a supervisor session could not be made");
            return error(StatusCode::SERVICE_UNAVAILABLE, e);
        }
    };
    let session = &made.session;
    api.audit.record(
        &session.actor(),
        Action::Login,
        None,
        json!({ "expires_at": rfc3339(session.ends_by()) }),
    );
    let mut body = shown(session);
    body["token"] = json!(made.token);
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn current(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
) -> Response {
    match (&api.sessions, bearer(&headers), actor.is_admin_token()) {
        (Some(sessions), Some(token), false) => match sessions.check(token, SystemTime::now()) {
            Ok(session) => Json(shown(&session)).into_response(),
            Err(e) => error(StatusCode::UNAUTHORIZED, e),
        },
        _ => Json(json!({ "name": Actor::ADMIN_TOKEN, "session_id": null })).into_response(),
    }
}

async fn logout(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
) -> Response {
    if actor.is_admin_token() {
        return error(
            StatusCode::BAD_REQUEST,
            "the admin token is not a session: there is nothing to log out",
        );
    }
    let ended = api
        .sessions
        .as_ref()
        .zip(bearer(&headers))
        .and_then(|(sessions, token)| sessions.logout(token));
    match ended {
        Some(session) => {
            api.audit
                .record(&session.actor(), Action::Logout, None, json!({}));
            Json(json!({ "session_id": session.id, "ended": true })).into_response()
        }
        // Ended by another request between the check and here.
        None => error(StatusCode::UNAUTHORIZED, SessionError::Unknown),
    }
}
