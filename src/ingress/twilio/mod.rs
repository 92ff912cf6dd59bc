//! Twilio Programmable Voice with bidirectional Media Streams
//! (`<Connect><Stream>`): webhook signature validation, TwiML, and the
//! Media Streams WebSocket message codec.
//!
//! Reference: `shared/reference/protocols.md` §1.

pub mod call;
pub mod server;
pub mod signature;
pub mod stream;
pub mod twiml;
