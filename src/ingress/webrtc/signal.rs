//! The signalling messages of `/webrtc/ws` (docs/WEBRTC.md): JSON text
//! frames, one message each, tagged by `type`. Parsing is total: anything
//! malformed is a [`SignalError`], never a panic.

use serde::{Deserialize, Serialize};

use crate::call::events::Speaker;

/// Largest signalling message accepted, bytes (an SDP offer from Chromium
/// is 3–6 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A message from the browser.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Start a call: the browser's SDP offer (one audio m-line).
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate (`RTCIceCandidate.candidate`); an empty
    /// string ends the browser's gathering. Optional: the server is
    /// ICE-lite and learns the browser's address from its checks.
    Candidate {
        /// The `candidate:` attribute value.
        candidate: String,
    },
    /// Join a live call instead of starting one (decision 0024): the
    /// browser's SDP offer, which call, in which role, and the admin token
    /// (in the message, never in the URL).
    Join {
        /// The call's id (`GET /api/v1/calls`).
        call_id: String,
        /// `monitor`, `coach` or `rep`.
        role: JoinRole,
        /// `WARMLINE_ADMIN_TOKEN`.
        token: String,
        /// The SDP offer.
        sdp: String,
        /// With `role: "rep"`: the agent leaves the call once the leg is
        /// in (a supervisor takes the call over). Refused with any other
        /// role.
        #[serde(default)]
        take_over: bool,
    },
    /// The browser hangs up.
    Hangup,
}

/// The roles a browser may join a call in.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JoinRole {
    /// Hears everyone, heard by nobody.
    Monitor,
    /// Hears everyone, heard by the rep only.
    Coach,
    /// A human representative: hears and is heard.
    Rep,
}

impl From<JoinRole> for crate::call::registry::LegRole {
    fn from(role: JoinRole) -> Self {
        match role {
            JoinRole::Monitor => crate::call::registry::LegRole::Monitor,
            JoinRole::Coach => crate::call::registry::LegRole::Coach,
            JoinRole::Rep => crate::call::registry::LegRole::Rep,
        }
    }
}

/// A message to the browser.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The SDP answer to the offer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// The call's state: `connecting`, `connected` (media flows), `ended`.
    State {
        /// The state.
        state: &'static str,
    },
    /// A transcript line.
    Transcript {
        /// `agent` or `caller`.
        speaker: Speaker,
        /// The model's conversation item.
        item_id: String,
        /// What was said.
        text: String,
    },
    /// The caller talked over the agent, and the agent stopped.
    BargeIn,
    /// The call ended (the server's side), and why.
    Hangup {
        /// Why.
        reason: String,
    },
    /// Something went wrong with what the browser sent.
    Error {
        /// What, and what to do.
        message: String,
    },
}

/// Why a signalling message was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("signalling message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLong(usize),
    /// Not one of the messages of docs/WEBRTC.md.
    #[error("not a signalling message (see docs/WEBRTC.md): {0}")]
    Malformed(String),
}

/// Parses one text frame from the browser.
pub fn parse(text: &str) -> Result<ClientMessage, SignalError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(SignalError::TooLong(text.len()));
    }
    serde_json::from_str(text).map_err(|e| SignalError::Malformed(e.to_string()))
}

impl ServerMessage {
    /// The message as a JSON text frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{\"type\":\"error\"}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_a_candidate_and_a_hangup_parse() {
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0"}"#).expect("offer"),
            ClientMessage::Offer { sdp: "v=0".into() }
        );
        assert!(matches!(
            parse(r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5 typ host"}"#),
            Ok(ClientMessage::Candidate { .. })
        ));
        assert_eq!(
            parse(r#"{"type":"hangup"}"#).expect("hangup"),
            ClientMessage::Hangup
        );
    }

    #[test]
    fn a_join_names_the_call_the_role_and_the_token() {
        let join =
            parse(r#"{"type":"join","call_id":"0193","role":"monitor","token":"t","sdp":"v=0"}"#)
                .expect("join");
        assert!(matches!(
            join,
            ClientMessage::Join {
                role: JoinRole::Monitor,
                take_over: false,
                ..
            }
        ));
        let take = parse(
            r#"{"type":"join","call_id":"0193","role":"rep","token":"t","sdp":"v=0","take_over":true}"#,
        )
        .expect("take over");
        assert!(matches!(
            take,
            ClientMessage::Join {
                role: JoinRole::Rep,
                take_over: true,
                ..
            }
        ));
        assert!(parse(
            r#"{"type":"join","call_id":"0193","role":"caller","token":"t","sdp":"v=0"}"#
        )
        .is_err());
    }

    #[test]
    fn garbage_and_oversized_messages_are_refused_not_panicked_on() {
        assert!(matches!(parse("not json"), Err(SignalError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"type":"dance"}"#),
            Err(SignalError::Malformed(_))
        ));
        let big = format!(
            r#"{{"type":"offer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(matches!(parse(&big), Err(SignalError::TooLong(_))));
    }

    #[test]
    fn server_messages_carry_their_type_tag() {
        let line = ServerMessage::Transcript {
            speaker: Speaker::Agent,
            item_id: "i1".into(),
            text: "Hello.".into(),
        };
        assert_eq!(
            line.to_json(),
            r#"{"type":"transcript","speaker":"agent","item_id":"i1","text":"Hello."}"#
        );
        assert_eq!(ServerMessage::BargeIn.to_json(), r#"{"type":"barge_in"}"#);
    }
}
