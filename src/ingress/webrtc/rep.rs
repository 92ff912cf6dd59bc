//! `/rep`: the reps' softphone page (web/rep/, compiled into the binary),
//! `GET /rep/me` (who a bearer token belongs to), `/rep/ws`, the rep's
//! signalling socket (docs/WEBRTC.md, decision 0028), and the card page
//! `/rep/calls/{id}` ([`super::rep_card`], decision 0040). Wrong rep
//! tokens, on any of them, spend one failure bucket: past its burst they
//! are answered 429 (or refused on the socket) until it refills.
//!
//! The socket lives on the HTTP runtime. It logs the rep in with the first
//! message, sets presence, forwards the rep's answers to the escalation of
//! the call they name ([`crate::handoff::RepHub::answer`]) and writes the
//! hub's pushes (ring, card, call state) to the page. After `accept`, the
//! rep's `offer` and `candidate`s carry their audio into the call
//! ([`super::rep_audio`]). A closed socket logs the rep out: offline, and
//! a call they were in goes back to the AI, told what happened (decision
//! 0035).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::rep_audio::{self, RepAudio, RepLeg};
use super::rep_card;
use super::rep_signal::{self, RepClientMessage, RepServerMessage};
use super::signal::MAX_MESSAGE_BYTES;
use crate::handoff::{Handoff, Presence, RepId, RepInput};
use crate::http::rate_limit::FailureBucket;

const INDEX: &str = include_str!("../../../web/rep/index.html");
const STYLE: &str = include_str!("../../../web/rep/rep.css");
const SCRIPT: &str = include_str!("../../../web/rep/rep.js");
const CARD_VIEW: &str = include_str!("../../../web/rep/card_view.js");

/// The page must log in within this after connecting.
const LOGIN_WAIT: Duration = Duration::from_secs(10);

/// What the rep's routes share.
#[derive(Clone, Debug)]
pub(super) struct RepState {
    pub(super) handoff: Handoff,
    /// Media for reps' audio; `None`: the softphone signals but cannot
    /// carry audio (an `offer` is refused).
    audio: Option<Arc<RepAudio>>,
    /// Wrong rep tokens, on every rep route and the socket's login.
    failures: Arc<Mutex<FailureBucket>>,
}

impl RepState {
    /// A wrong token was presented: `Err(retry_after)` once the failure
    /// bucket is empty.
    pub(super) fn refused(&self) -> Result<(), Duration> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused(now())
    }

    /// The rep a request's `Authorization: Bearer` names, or the answer
    /// to give: 401 for a wrong token, 429 past the failure burst.
    // The error is the HTTP answer itself, returned once per request:
    // boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub(super) fn rep_of(&self, headers: &HeaderMap, what: &str) -> Result<RepId, Response> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if let Some(rep) = self.handoff.directory().authenticate(token) {
            return Ok(rep);
        }
        crate::refusals::refused("rep", "token", what, &"unknown rep token");
        match self.refused() {
            Ok(()) => Err((
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer")],
                "unknown rep token",
            )
                .into_response()),
            Err(wait) => Err((
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", wait.as_secs().max(1).to_string())],
                "too many wrong rep tokens: try again later",
            )
                .into_response()),
        }
    }
}

/// The page, `/rep/me` and `/rep/ws`, without audio for reps (tests of
/// the signalling alone).
pub fn routes(handoff: Handoff) -> Router {
    routes_inner(RepState {
        handoff,
        audio: None,
        failures: Arc::default(),
    })
}

/// The page, `/rep/me` and `/rep/ws`, with the rep's audio joining the
/// call they accept on `audio`'s ports.
pub fn routes_with_audio(handoff: Handoff, audio: RepAudio) -> Router {
    routes_inner(RepState {
        handoff,
        audio: Some(Arc::new(audio)),
        failures: Arc::default(),
    })
}

fn routes_inner(state: RepState) -> Router {
    Router::new()
        .route("/rep/ws", get(upgrade))
        .route("/rep/me", get(me))
        .route("/rep/calls/{id}", get(rep_card::page))
        .route("/rep/calls/{id}/card", get(rep_card::card))
        .with_state(state)
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
        .route(
            "/rep/card_view.js",
            get(|| async { asset("text/javascript; charset=utf-8", CARD_VIEW) }),
        )
        .route(
            "/rep/card.js",
            get(|| async { asset("text/javascript; charset=utf-8", rep_card::SCRIPT) }),
        )
}

pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// `GET /rep/me` with `Authorization: Bearer <token>`: the rep's status,
/// or 401.
async fn me(State(state): State<RepState>, headers: HeaderMap) -> Response {
    let rep = match state.rep_of(&headers, "rep status") {
        Ok(rep) => rep,
        Err(answer) => return answer,
    };
    match state.handoff.directory().status(&rep, now()) {
        Some(status) => Json(status).into_response(),
        // Authenticated a moment ago: the directory lost the rep (a reload).
        None => (StatusCode::UNAUTHORIZED, "unknown rep").into_response(),
    }
}

async fn upgrade(State(state): State<RepState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| softphone(state, socket))
}

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn refuse(socket: &mut WebSocket, message: String) -> bool {
    send_text(socket, RepServerMessage::Error { message }.to_json()).await
}

/// Reads text frames until the login; None when the page left or sent a
/// wrong token.
async fn login(state: &RepState, socket: &mut WebSocket) -> Option<RepId> {
    let handoff = &state.handoff;
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
                    let message = match state.refused() {
                        Ok(()) => "unknown rep token".to_owned(),
                        Err(wait) => format!(
                            "too many wrong rep tokens: try again in {} s",
                            wait.as_secs().max(1)
                        ),
                    };
                    refuse(socket, message).await;
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

/// One logged-in softphone: the call it accepted and that call's audio.
struct Phone {
    rep: RepId,
    audio: Option<Arc<RepAudio>>,
    /// The call the rep accepted last (their audio offer is for it).
    accepted: Option<String>,
    /// The rep's audio leg, once offered.
    leg: Option<RepLeg>,
}

/// The next message of the rep's leg for the page, or never without one.
async fn from_leg(leg: Option<&mut RepLeg>) -> Option<RepServerMessage> {
    match leg {
        Some(leg) => leg.next_for_page().await,
        None => std::future::pending().await,
    }
}

/// One rep's softphone, for as long as the page stays.
async fn softphone(state: RepState, mut socket: WebSocket) {
    let rep = match tokio::time::timeout(LOGIN_WAIT, login(&state, &mut socket)).await {
        Ok(Some(rep)) => rep,
        Ok(None) => return,
        Err(_) => {
            refuse(&mut socket, "no login within 10 s".into()).await;
            return;
        }
    };
    let handoff = state.handoff;
    let (login, mut pushes) = handoff.hub().connect(&rep);
    tracing::info!(%rep, "rep logged in");
    if let Some(status) = handoff.directory().status(&rep, now()) {
        let welcome = RepServerMessage::Welcome { status };
        if !send_text(&mut socket, welcome.to_json()).await {
            leave(&handoff, &rep, login).await;
            return;
        }
    }
    let mut phone = Phone {
        rep: rep.clone(),
        audio: state.audio,
        accepted: None,
        leg: None,
    };
    loop {
        tokio::select! {
            received = socket.recv() => {
                let text = match received {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if !on_message(&handoff, &mut phone, &mut socket, text.as_str()).await {
                    break;
                }
            }
            message = from_leg(phone.leg.as_mut()) => match message {
                Some(message) => {
                    if !send_text(&mut socket, message.to_json()).await {
                        break;
                    }
                }
                // The leg ended (detached, or its browser side closed).
                None => phone.leg = None,
            },
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
    if let Some(leg) = phone.leg.take() {
        leg.end("the rep's page closed").await;
    }
    leave(&handoff, &rep, login).await;
}

/// The rep's audio offer for the call they accepted: answered at once.
async fn on_offer(handoff: &Handoff, phone: &mut Phone, socket: &mut WebSocket, sdp: &str) -> bool {
    let (Some(audio), Some(call_id)) = (&phone.audio, &phone.accepted) else {
        let why = if phone.audio.is_none() {
            "this server carries no rep audio"
        } else {
            "accept a call before sending its audio offer"
        };
        return refuse(socket, why.into()).await;
    };
    if let Some(old) = phone.leg.take() {
        old.end("replaced by a new offer").await;
    }
    match rep_audio::offer(audio, handoff, &phone.rep, call_id, sdp) {
        Ok((sdp, leg)) => {
            phone.leg = Some(leg);
            send_text(socket, RepServerMessage::Answer { sdp }.to_json()).await
        }
        Err(e) => {
            crate::refusals::refused("rep", "offer", "rep audio", &e);
            refuse(socket, e.to_string()).await
        }
    }
}

/// Handles one message; false when the socket is gone.
async fn on_message(
    handoff: &Handoff,
    phone: &mut Phone,
    socket: &mut WebSocket,
    text: &str,
) -> bool {
    let rep = &phone.rep.clone();
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
        Ok(RepClientMessage::Offer { sdp }) => return on_offer(handoff, phone, socket, &sdp).await,
        Ok(RepClientMessage::Candidate { candidate }) => {
            if let Some(leg) = &phone.leg {
                leg.candidate(candidate).await;
            }
            return true;
        }
        Ok(RepClientMessage::Accept { call_id }) => (call_id, RepInput::Accept),
        Ok(RepClientMessage::Decline { call_id }) => (call_id, RepInput::Decline),
        Ok(RepClientMessage::SkipBrief { call_id }) => (call_id, RepInput::SkipBrief),
        Ok(RepClientMessage::Hangup { call_id }) => (call_id, RepInput::Hangup),
        Ok(RepClientMessage::HandBack { call_id, note }) => (call_id, RepInput::HandBack { note }),
        Err(e) => return refuse(socket, e.to_string()).await,
    };
    let accepted = input == RepInput::Accept;
    if !handoff.hub().answer(rep, &call_id, input).await {
        return refuse(
            socket,
            format!("no transfer of call {call_id} is in progress"),
        )
        .await;
    }
    if accepted {
        // The rep's audio offer that follows is for this call.
        phone.accepted = Some(call_id);
    }
    true
}

/// The page went away: offline, and a call the rep was in goes on
/// without them (back to the AI once bridged; the next rep before).
async fn leave(handoff: &Handoff, rep: &RepId, login: u64) {
    if !handoff.hub().disconnect(rep, login) {
        // A newer login of the same rep is live: it keeps the presence.
        return;
    }
    let engaged = handoff
        .directory()
        .status(rep, now())
        .and_then(|s| s.engaged);
    handoff.rep_media().forget(rep);
    let _ = handoff
        .directory()
        .set_presence(rep, Presence::Offline, now());
    handoff.hub().reps_changed();
    if let Some(call_id) = engaged {
        // Not a hang-up: nobody chose to end the caller's call (0035).
        handoff.hub().answer(rep, &call_id, RepInput::Lost).await;
    }
    tracing::info!(%rep, "rep logged out");
}
