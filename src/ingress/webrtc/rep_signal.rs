//! The rep's half of the signalling protocol (`/rep/ws`, docs/WEBRTC.md):
//! JSON text frames tagged by `type`, like the caller's half in
//! [`super::signal`], with the same size limit and total parsing.
//!
//! The first message must be `login` with the rep's token (the page keeps
//! it in `sessionStorage`; no cookie is ever set). Server messages other
//! than `welcome` and `error` are [`crate::handoff::RepPush`]es.

use serde::{Deserialize, Serialize};

use super::signal::{SignalError, MAX_MESSAGE_BYTES};
use crate::handoff::{Presence, RepStatus};

/// A message from the rep's softphone.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepClientMessage {
    /// First message: the rep's login token (the bearer token of
    /// `GET /rep/me`).
    Login {
        /// The token.
        token: String,
    },
    /// The rep sets their presence.
    Presence {
        /// `available`, `busy`, `away` or `offline`.
        presence: Presence,
    },
    /// Take the ringing call.
    Accept {
        /// The call.
        call_id: String,
    },
    /// Refuse the ringing call.
    Decline {
        /// The call.
        call_id: String,
    },
    /// Skip the AI's brief and talk to the caller now.
    SkipBrief {
        /// The call.
        call_id: String,
    },
    /// Hang up (the call ends, or the survey follows).
    Hangup {
        /// The call.
        call_id: String,
    },
    /// Hand the caller back to the AI.
    HandBack {
        /// The call.
        call_id: String,
        /// What the AI should know.
        #[serde(default)]
        note: Option<String>,
    },
    /// After `accept`: the rep's audio, an SDP offer as in the caller's
    /// half; the answer comes back as `answer`.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate for the rep's audio.
    Candidate {
        /// The candidate line (empty: end of candidates).
        candidate: String,
    },
}

/// A server message that is not a push.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepServerMessage {
    /// The login worked: who the rep is and their presence.
    Welcome {
        /// The rep.
        status: RepStatus,
    },
    /// The SDP answer to the rep's `offer`.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// The rep's audio: `connected` once media flows.
    State {
        /// The state.
        state: &'static str,
    },
    /// Something the softphone sent was refused.
    Error {
        /// What, and what to do.
        message: String,
    },
}

impl RepServerMessage {
    /// The message as a JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"type\":\"error\"}".into())
    }
}

/// Parses one text frame from the rep's softphone.
pub fn parse(text: &str) -> Result<RepClientMessage, SignalError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(SignalError::TooLong(text.len()));
    }
    serde_json::from_str(text).map_err(|e| SignalError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::{RepId, RepPush};

    #[test]
    fn every_rep_message_parses() {
        assert_eq!(
            parse(r#"{"type":"login","token":"t"}"#).expect("login"),
            RepClientMessage::Login { token: "t".into() }
        );
        assert_eq!(
            parse(r#"{"type":"presence","presence":"away"}"#).expect("presence"),
            RepClientMessage::Presence {
                presence: Presence::Away
            }
        );
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0"}"#).expect("offer"),
            RepClientMessage::Offer { sdp: "v=0".into() }
        );
        assert!(parse(r#"{"type":"candidate","candidate":""}"#).is_ok());
        for kind in ["accept", "decline", "skip_brief", "hangup", "hand_back"] {
            let text = format!(r#"{{"type":"{kind}","call_id":"c1"}}"#);
            assert!(parse(&text).is_ok(), "{kind}");
        }
        assert_eq!(
            parse(r#"{"type":"hand_back","call_id":"c","note":"done"}"#).expect("hand back"),
            RepClientMessage::HandBack {
                call_id: "c".into(),
                note: Some("done".into())
            }
        );
    }

    #[test]
    fn a_bad_presence_or_a_missing_call_id_is_refused() {
        assert!(parse(r#"{"type":"presence","presence":"napping"}"#).is_err());
        assert!(parse(r#"{"type":"accept"}"#).is_err());
        assert!(parse(&"x".repeat(MAX_MESSAGE_BYTES + 1)).is_err());
    }

    #[test]
    fn pushes_carry_their_type_tag() {
        let push = RepPush::RingCancelled {
            call_id: "c".into(),
            reason: "cancelled",
        };
        let json = serde_json::to_value(&push).expect("json");
        assert_eq!(json["type"], "ring_cancelled");
        let welcome = RepServerMessage::Welcome {
            status: RepStatus {
                id: RepId("ana".into()),
                name: "Ana".into(),
                skills: vec!["default".into()],
                presence: Presence::Offline,
                sip_registered: false,
                engaged: None,
                wrap_up_ms: 0,
            },
        };
        assert!(welcome
            .to_json()
            .starts_with(r#"{"type":"welcome","status":{"id":"ana""#));
    }
}
