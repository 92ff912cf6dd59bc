//! The Media Streams WebSocket messages (protocols.md §1.5–1.6): parsing
//! what Twilio sends, building what we send. Sans-IO.
//!
//! Numbers that Twilio sends as strings (`sequenceNumber`, `chunk`,
//! `timestamp`) are parsed, never assumed. Unknown events and unknown
//! fields are tolerated (Twilio adds fields over time); malformed JSON and
//! oversized frames are errors the shell logs and skips.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Largest text frame we parse. A 20 ms media frame is ~400 bytes; Twilio
/// never sends more than a few KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Errors from parsing a frame. The call goes on after any of them.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The frame is larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    Oversized(usize),
    /// Not JSON, or not the shape of a known event.
    #[error("malformed Media Streams message: {0}")]
    Malformed(String),
    /// A number sent as a string does not parse.
    #[error("field {field} is not a number: {value:?}")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// The media payload is not base64.
    #[error("media payload is not base64: {0}")]
    BadPayload(String),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Wire {
    Connected {
        #[serde(default)]
        protocol: String,
        #[serde(default)]
        version: String,
    },
    Start {
        start: WireStart,
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
    Media {
        media: WireMedia,
    },
    Dtmf {
        dtmf: WireDtmf,
    },
    Mark {
        mark: WireMark,
    },
    Stop {},
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStart {
    #[serde(default)]
    account_sid: String,
    #[serde(default)]
    call_sid: String,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

/// The stream's audio format as announced in `start`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw` for Media Streams.
    pub encoding: String,
    /// 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u32,
}

#[derive(Debug, Deserialize)]
struct WireMedia {
    #[serde(default)]
    track: Option<String>,
    timestamp: String,
    payload: String,
}

#[derive(Debug, Deserialize)]
struct WireDtmf {
    digit: String,
}

#[derive(Debug, Deserialize)]
struct WireMark {
    name: String,
}

/// A message from Twilio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// First frame of the socket.
    Connected {
        /// `Call`.
        protocol: String,
        /// Protocol version.
        version: String,
    },
    /// The stream started; everything we send needs `stream_sid`.
    Start {
        /// `MZ…`.
        stream_sid: String,
        /// `CA…`.
        call_sid: String,
        /// `AC…`.
        account_sid: String,
        /// Our `<Parameter>`s.
        custom_parameters: BTreeMap<String, String>,
        /// The announced audio format.
        media_format: Option<MediaFormat>,
    },
    /// 20 ms (usually) of caller audio.
    Media {
        /// Milliseconds since the stream started, on the media clock.
        timestamp_ms: u64,
        /// μ-law bytes.
        payload: Vec<u8>,
    },
    /// A key press.
    Dtmf {
        /// The key, as sent.
        digit: String,
    },
    /// A mark we sent, echoed when the audio before it has played (or was
    /// cleared).
    Mark {
        /// The name we gave it.
        name: String,
    },
    /// The stream ended.
    Stop,
    /// An event this version does not know; skipped.
    Unknown,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Inbound, StreamError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(StreamError::Oversized(text.len()));
    }
    let wire: Wire =
        serde_json::from_str(text).map_err(|e| StreamError::Malformed(e.to_string()))?;
    Ok(match wire {
        Wire::Connected { protocol, version } => Inbound::Connected { protocol, version },
        Wire::Start { start, stream_sid } => Inbound::Start {
            stream_sid,
            call_sid: start.call_sid,
            account_sid: start.account_sid,
            custom_parameters: start.custom_parameters,
            media_format: start.media_format,
        },
        Wire::Media { media } => {
            if media
                .track
                .as_deref()
                .is_some_and(|t| t != "inbound" && t != "inbound_track")
            {
                return Ok(Inbound::Unknown);
            }
            let timestamp_ms = media
                .timestamp
                .parse()
                .map_err(|_| StreamError::BadNumber {
                    field: "media.timestamp",
                    value: media.timestamp.clone(),
                })?;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(media.payload.as_bytes())
                .map_err(|e| StreamError::BadPayload(e.to_string()))?;
            Inbound::Media {
                timestamp_ms,
                payload,
            }
        }
        Wire::Dtmf { dtmf } => Inbound::Dtmf { digit: dtmf.digit },
        Wire::Mark { mark } => Inbound::Mark { name: mark.name },
        Wire::Stop {} => Inbound::Stop,
        Wire::Unknown => Inbound::Unknown,
    })
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum OutWire<'a> {
    Media {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        media: OutMedia,
    },
    Mark {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        mark: OutMark<'a>,
    },
    Clear {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
    },
}

#[derive(Serialize)]
struct OutMedia {
    payload: String,
}

#[derive(Serialize)]
struct OutMark<'a> {
    name: &'a str,
}

/// `{"event":"media",…}` carrying raw μ-law bytes.
pub fn media(stream_sid: &str, mulaw: &[u8]) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(mulaw);
    to_json(&OutWire::Media {
        stream_sid,
        media: OutMedia { payload },
    })
}

/// `{"event":"mark",…}`.
pub fn mark(stream_sid: &str, name: &str) -> String {
    to_json(&OutWire::Mark {
        stream_sid,
        mark: OutMark { name },
    })
}

/// `{"event":"clear",…}`: Twilio drops its queued playback.
pub fn clear(stream_sid: &str) -> String {
    to_json(&OutWire::Clear { stream_sid })
}

fn to_json(v: &OutWire<'_>) -> String {
    // These types always serialise: strings and a fixed shape.
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_event_from_the_reference() {
        assert_eq!(
            parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).expect("ok"),
            Inbound::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            }
        );
        let start = parse(r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":{"call_token":"t"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#).expect("ok");
        match start {
            Inbound::Start {
                stream_sid,
                call_sid,
                custom_parameters,
                media_format,
                ..
            } => {
                assert_eq!((stream_sid.as_str(), call_sid.as_str()), ("MZ1", "CA1"));
                assert_eq!(
                    custom_parameters.get("call_token").map(String::as_str),
                    Some("t")
                );
                assert_eq!(media_format.map(|m| m.sample_rate), Some(8000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"track":"inbound","chunk":"2","timestamp":"40","payload":"//8A"}}"#).expect("ok"),
            Inbound::Media { timestamp_ms: 40, payload: vec![0xFF, 0xFF, 0x00] }
        );
        assert_eq!(
            parse(
                r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"1"}}"#
            )
            .expect("ok"),
            Inbound::Dtmf { digit: "1".into() }
        );
        assert_eq!(
            parse(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"g1:m2"}}"#).expect("ok"),
            Inbound::Mark {
                name: "g1:m2".into()
            }
        );
        assert_eq!(
            parse(r#"{"event":"stop","streamSid":"MZ1","stop":{"callSid":"CA1"}}"#).expect("ok"),
            Inbound::Stop
        );
        assert_eq!(
            parse(r#"{"event":"brand-new","x":1}"#).expect("ok"),
            Inbound::Unknown
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(matches!(parse("not json"), Err(StreamError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"event":"media","media":{"timestamp":"x","payload":""}}"#),
            Err(StreamError::BadNumber { .. })
        ));
        assert!(matches!(
            parse(r#"{"event":"media","media":{"timestamp":"1","payload":"%%%"}}"#),
            Err(StreamError::BadPayload(_))
        ));
        assert!(matches!(
            parse(&" ".repeat(MAX_FRAME_BYTES + 1)),
            Err(StreamError::Oversized(_))
        ));
    }

    #[test]
    fn outbound_messages_have_the_documented_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&media("MZ1", &[0xFF, 0x7F])).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"event":"media","streamSid":"MZ1","media":{"payload":"/38="}})
        );
        let v: serde_json::Value = serde_json::from_str(&mark("MZ1", "n")).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"event":"mark","streamSid":"MZ1","mark":{"name":"n"}})
        );
        let v: serde_json::Value = serde_json::from_str(&clear("MZ1")).expect("json");
        assert_eq!(v, serde_json::json!({"event":"clear","streamSid":"MZ1"}));
    }
}
