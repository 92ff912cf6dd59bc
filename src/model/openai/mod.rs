//! OpenAI Realtime API (GA) backend: the wire codec ([`events`]) and a
//! sans-IO session state machine ([`session::OpenAiSession`]) that turns
//! [`ModelCommand`](super::ModelCommand)s into client events and server
//! events into [`ModelEvent`](super::ModelEvent)s.
//!
//! GA only: no `OpenAI-Beta` header, no beta event names (protocols.md §2).

pub mod events;
pub mod session;
