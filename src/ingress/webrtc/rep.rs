//! `/rep`: the reps' softphone page (web/rep/, compiled into the binary),
//! `GET /rep/me` (who a bearer token belongs to) and `/rep/ws`, the rep's
//! signalling socket (docs/WEBRTC.md, decision 0028).
//!
//! The socket lives on the HTTP runtime. It logs the rep in with the first
//! message, sets presence, forwards the rep's answers to the escalation of
//! the call they name ([`crate::handoff::RepHub::answer`]) and writes the
//! hub's pushes (ring, card, call state) to the page. A closed socket logs
//! the rep out: offline, and a call they were in is hung up.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::rep_signal::{self, RepClientMessage, RepServerMessage};
use super::signal::MAX_MESSAGE_BYTES;
use crate::handoff::{Handoff, Presence, RepId, RepInput};

const INDEX: &str = include_str!("../../../web/rep/index.html");
const STYLE: &str = include_str!("../../../web/rep/rep.css");
const SCRIPT: &str = include_str!("../../../web/rep/rep.js");

/// The page must log in within this after connecting.
const LOGIN_WAIT: Duration = Duration::from_secs(10);

/// The page, `/rep/me` and `/rep/ws`.
pub fn routes(handoff: Handoff) -> Router {
    Router::new()
        .route("/rep/ws", get(upgrade))
        .route("/rep/me", get(me))
        .with_state(handoff)
        .route(
            "/rep",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route("/rep/", get(|| async { Redirect::permanent("/rep") }))
        .route(
            "/rep/rep.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/rep/rep.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// `GET /rep/me` with `Authorization: Bearer <token>`: the rep's status,
/// or 401.
async fn me(State(handoff): State<Handoff>, headers: HeaderMap) -> Response {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let now = tokio::time::Instant::now().into_std();
    match handoff
        .directory()
        .authenticate(token)
        .and_then(|rep| handoff.directory().status(&rep, now))
    {
        Some(status) => Json(status).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            "unknown rep token",
        )
            .into_response(),
    }
}

async fn upgrade(State(handoff): State<Handoff>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| softphone(handoff, socket))
}

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn refuse(socket: &mut WebSocket, message: String) -> bool {
    send_text(socket, RepServerMessage::Error { message }.to_json()).await
}

/// Reads text frames until the login; None when the page left or sent a
/// wrong token.
async fn login(handoff: &Handoff, socket: &mut WebSocket) -> Option<RepId> {
    loop {
        let text = match socket.recv().await? {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        };
        match rep_signal::parse(text.as_str()) {
            Ok(RepClientMessage::Login { token }) => {
                let rep = handoff.directory().authenticate(&token);
                if rep.is_none() {
                    crate::refusals::refused("rep", "token", "rep login", &"unknown token");
                    refuse(socket, "unknown rep token".into()).await;
                }
                return rep;
            }
            Ok(_) => {
                refuse(
                    socket,
                    "log in first: {\"type\":\"login\",\"token\":…}".into(),
                )
                .await;
            }
            Err(e) => {
                refuse(socket, e.to_string()).await;
            }
        }
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// One rep's softphone, for as long as the page stays.
async fn softphone(handoff: Handoff, mut socket: WebSocket) {
    let rep = match tokio::time::timeout(LOGIN_WAIT, login(&handoff, &mut socket)).await {
        Ok(Some(rep)) => rep,
        Ok(None) => return,
        Err(_) => {
            refuse(&mut socket, "no login within 10 s".into()).await;
            return;
        }
    };
    let (login, mut pushes) = handoff.hub().connect(&rep);
    tracing::info!(%rep, "rep logged in");
    if let Some(status) = handoff.directory().status(&rep, now()) {
        let welcome = RepServerMessage::Welcome { status };
        if !send_text(&mut socket, welcome.to_json()).await {
            leave(&handoff, &rep, login).await;
            return;
        }
    }
    loop {
        tokio::select! {
            received = socket.recv() => {
                let text = match received {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if !on_message(&handoff, &rep, &mut socket, text.as_str()).await {
                    break;
                }
            }
            push = pushes.recv() => {
                // None: a newer login of this rep took over.
                let Some(push) = push else { break };
                let text = serde_json::to_string(&push).unwrap_or_default();
                if !send_text(&mut socket, text).await {
                    break;
                }
            }
        }
    }
    leave(&handoff, &rep, login).await;
}

/// Handles one message; false when the socket is gone.
async fn on_message(handoff: &Handoff, rep: &RepId, socket: &mut WebSocket, text: &str) -> bool {
    let (call_id, input) = match rep_signal::parse(text) {
        Ok(RepClientMessage::Presence { presence }) => {
            let status = match handoff.directory().set_presence(rep, presence, now()) {
                Ok(status) => status,
                Err(e) => return refuse(socket, e.to_string()).await,
            };
            handoff.hub().reps_changed();
            tracing::info!(%rep, ?presence, "rep presence");
            let push = crate::handoff::RepPush::Presence { status };
            return send_text(socket, serde_json::to_string(&push).unwrap_or_default()).await;
        }
        Ok(RepClientMessage::Login { .. }) => {
            return refuse(socket, "already logged in".into()).await;
        }
        Ok(RepClientMessage::Accept { call_id }) => (call_id, RepInput::Accept),
        Ok(RepClientMessage::Decline { call_id }) => (call_id, RepInput::Decline),
        Ok(RepClientMessage::SkipBrief { call_id }) => (call_id, RepInput::SkipBrief),
        Ok(RepClientMessage::Hangup { call_id }) => (call_id, RepInput::Hangup),
        Ok(RepClientMessage::HandBack { call_id, note }) => (call_id, RepInput::HandBack { note }),
        Err(e) => return refuse(socket, e.to_string()).await,
    };
    if !handoff.hub().answer(rep, &call_id, input).await {
        return refuse(
            socket,
            format!("no transfer of call {call_id} is in progress"),
        )
        .await;
    }
    true
}

/// The page went away: offline, and a call the rep was in ends for them.
async fn leave(handoff: &Handoff, rep: &RepId, login: u64) {
    if !handoff.hub().disconnect(rep, login) {
        // A newer login of the same rep is live: it keeps the presence.
        return;
    }
    let engaged = handoff
        .directory()
        .status(rep, now())
        .and_then(|s| s.engaged);
    let _ = handoff
        .directory()
        .set_presence(rep, Presence::Offline, now());
    handoff.hub().reps_changed();
    if let Some(call_id) = engaged {
        handoff.hub().answer(rep, &call_id, RepInput::Hangup).await;
    }
    tracing::info!(%rep, "rep logged out");
}
