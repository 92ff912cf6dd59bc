//! The call: one sans-IO state machine per call ([`CallCore`]) between a
//! caller leg and a model session.
//!
//! It owns the conversation state (which assistant item is playing and how
//! much of it the caller heard), barge-in decisions and truncation math,
//! DTMF routing, tool-call routing and the model session's lifecycle. It
//! takes events and the current time ([`Duration`](std::time::Duration) on
//! the call's clock) and queues [`CallOutput`]s; a tokio task per call
//! drives it ([`driver`]). It knows `media` and the model seam, never
//! Twilio, SIP or HTTP: a transport is a [`leg::CallerLeg`], and legs
//! differ only in how they acknowledge playback ([`PlaybackTracking`]).
//! Tools are a seam too ([`tools`]): who the call is, and a sidecar that
//! runs its tool calls elsewhere and answers on a channel.

mod barge_in;
pub mod blind_transfer;
pub mod call_log;
mod core;
pub mod driver;
mod echo_align;
mod echo_gate;
pub mod events;
pub mod leg;
mod live;
pub mod model_audio;
pub mod outbox;
mod playback;
pub mod recording;
pub mod registry;
pub mod room;
pub mod tools;
pub mod turn;

pub use barge_in::{BargeInConfig, BargeInDetector};
pub use core::SurveyConfig;
pub use core::{
    BargeInRecord, CallConfig, CallCore, CallFigure, CallOutput, CallStats,
    FalseInterruptionRecord, ModelState,
};
pub use core::{DtmfSlot, KeyPress};
pub use core::{FillerConfig, GOODBYE_HANGUP, GOODBYE_INSTRUCTIONS, REPROMPT_INSTRUCTIONS};
pub use core::{LongSilence, SilenceChange};
pub use core::{LOOKUP_CALL_ID, TIME_LIMIT_GOODBYE};
pub use echo_align::{CaptureClock, EchoAlign, FarEndPlayout};
pub use echo_gate::{EchoConfig, EchoGate, EchoVerdict};
pub use playback::PlaybackTracking;
pub use turn::{TurnConfig, TurnJudge};
