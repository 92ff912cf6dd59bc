//! `GET /api/v1/approvals` and `POST /api/v1/approvals/{id}`, behind the
//! admin token ([`crate::http::admin`]).
//!
//! The body of a decision is read and checked here, so that each mistake
//! gets its own status: 400 for a body that is not a decision, 422 for
//! edited arguments the tool's schema refuses (the approval stays
//! pending), 404 for an approval that is not pending (any more). A
//! decision is taken as the request's [`Actor`] (a supervisor's session
//! name, or the admin token): the tool call's record keeps it as
//! `approved_by`, and the audit log records it (decision 0038).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Approvals, DecideError, Decision, MAX_NOTE_CHARS};
use crate::audit::{Action, Actor, Audit};
use crate::http::admin::{protect, AdminToken};

/// Largest decision body read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The approval routes, each behind `token`; decisions are logged only.
pub fn routes(approvals: Approvals, token: AdminToken) -> Router {
    routes_with_audit(approvals, token, Audit::off())
}

/// [`routes`], with each decision recorded in `audit`.
pub fn routes_with_audit(approvals: Approvals, token: AdminToken, audit: Audit) -> Router {
    let router = Router::new()
        .route("/api/v1/approvals", get(list))
        .route("/api/v1/approvals/{id}", post(decide))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api { approvals, audit });
    protect(router, token)
}

#[derive(Clone)]
struct Api {
    approvals: Approvals,
    audit: Audit,
}

async fn list(State(api): State<Api>) -> Json<Value> {
    Json(json!(api.approvals.list()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Verb,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Verb {
    Approve,
    Reject,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A refused body: its status and what to say.
type Refusal = (StatusCode, String);

fn bad_request(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, message.into())
}

/// Parses a decision body; the error is the 400 or 422 to send.
fn parse(body: &[u8]) -> Result<Decision, Refusal> {
    let body: DecisionBody = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "expected {{\"decision\": \"approve\" | \"reject\", \"arguments\": {{…}}?, \"note\": \"…\"?}}: {e}"
        ))
    })?;
    if let Some(note) = &body.note {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(bad_request(format!(
                "note is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
    }
    match (body.decision, body.arguments) {
        (Verb::Approve, Some(a)) if !a.is_object() => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "arguments must be a JSON object; the approval is still pending".into(),
        )),
        (Verb::Approve, arguments) => Ok(Decision::Approve {
            arguments,
            note: body.note,
        }),
        (Verb::Reject, Some(_)) => Err(bad_request(
            "arguments apply only to \"approve\"; a rejected tool does not run",
        )),
        (Verb::Reject, None) => Ok(Decision::Reject { note: body.note }),
    }
}

async fn decide(
    State(api): State<Api>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let decision = match parse(&body) {
        Ok(d) => d,
        Err((status, error)) => return answer(status, json!({ "error": error })),
    };
    let (word, action, mut detail) = match &decision {
        Decision::Approve { arguments, note } => (
            "approved",
            Action::Approve,
            json!({ "edited": arguments.is_some(), "arguments": arguments, "note": note }),
        ),
        Decision::Reject { note } => ("rejected", Action::Reject, json!({ "note": note })),
    };
    match api.approvals.decide_by(&id, decision, &actor.name) {
        Ok(decided) => {
            detail["approval_id"] = json!(decided.id);
            detail["tool"] = json!(decided.tool);
            api.audit
                .record(&actor, action, Some(&decided.call_id), detail);
            answer(StatusCode::OK, json!({ "id": id, "decision": word }))
        }
        Err(e) => {
            let mut body = json!({ "error": e.to_string() });
            let status = match &e {
                DecideError::Unknown(_) => StatusCode::NOT_FOUND,
                DecideError::InvalidArguments(details) => {
                    body["details"] = json!(details);
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            answer(status, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_body_is_parsed_or_refused_with_its_status() {
        assert_eq!(
            parse(br#"{"decision":"approve","arguments":{"a":1},"note":"ok"}"#),
            Ok(Decision::Approve {
                arguments: Some(json!({"a": 1})),
                note: Some("ok".into())
            })
        );
        assert_eq!(
            parse(br#"{"decision":"reject"}"#),
            Ok(Decision::Reject { note: None })
        );
        let status = |body: &[u8]| parse(body).map_err(|(s, _)| s.as_u16()).err();
        assert_eq!(status(b"not json"), Some(400));
        assert_eq!(status(br#"{"decision":"approve","extra":1}"#), Some(400));
        assert_eq!(
            status(br#"{"decision":"reject","arguments":{}}"#),
            Some(400)
        );
        let long = format!(
            r#"{{"decision":"reject","note":"{}"}}"#,
            "x".repeat(MAX_NOTE_CHARS + 1)
        );
        assert_eq!(status(long.as_bytes()), Some(400));
        assert_eq!(
            status(br#"{"decision":"approve","arguments":[1]}"#),
            Some(422)
        );
    }
}
