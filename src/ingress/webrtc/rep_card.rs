//! The card page, `/rep/calls/{id}` (decision 0040): the URL a SIP rep's
//! INVITE carries in `X-Warmline-Card`, for a desktop beside the phone.
//! The page (web/rep/card.html, card.js) is public and holds nothing; it
//! reads `GET /rep/calls/{id}/card` with the rep's token, which answers
//! the card of a call offered to that rep from the hub's shelf
//! ([`crate::handoff::cards`]), and 404 for any other call, so a rep
//! cannot tell another rep's call from one that never was.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::rep::{asset, RepState};

const PAGE: &str = include_str!("../../../web/rep/card.html");
/// The page's module.
pub(super) const SCRIPT: &str = include_str!("../../../web/rep/card.js");

/// Longest call id looked up (warmline's are 36 characters).
const MAX_ID: usize = 128;

/// `GET /rep/calls/{id}`: the page (the same for every id; it reads its
/// own from the address).
pub(super) async fn page(Path(_id): Path<String>) -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /rep/calls/{id}/card` with `Authorization: Bearer <rep token>`:
/// `{card, state}`, 404 when the call was not offered to this rep (or
/// has left the shelf), 401/429 for a wrong token.
pub(super) async fn card(
    State(state): State<RepState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rep = match state.rep_of(&headers, "rep call card") {
        Ok(rep) => rep,
        Err(answer) => return answer,
    };
    if id.len() > MAX_ID {
        return (StatusCode::NOT_FOUND, "no such call").into_response();
    }
    match state.handoff.hub().card_for(&rep, &id) {
        Some(shelved) => (
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Json(shelved),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no card: this call was not offered to you, or it is too old to show",
        )
            .into_response(),
    }
}
