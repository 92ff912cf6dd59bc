//! Warm transfer to people (issue 14, decision 0028): reps, their presence
//! and queues (`presence`, behind [`RepDirectory`]), the sans-IO
//! escalation of one call (`machine`), the screen-pop card (`card`) and
//! the shelf of cards each rep was shown (`cards`, for `/rep/calls/{id}`), the
//! seam to a live call's room ([`RoomControl`]), the rep softphone's hub
//! (`hub`: pushes to logged-in reps, their answers back to escalations)
//! and the service the tool sidecar's `escalate_to_human` calls
//! (`service`), and the seam's implementation on live calls
//! (`live_room`, with the reps' audio from `rep_media`).
//!
//! Never on the audio path: everything here runs on the main runtime and
//! talks to a call only through [`RoomControl`].

pub mod card;
pub mod cards;
pub mod hold;
pub mod hub;
pub mod live_room;
pub mod machine;
pub mod presence;
pub mod rep_media;
pub mod room;
pub mod service;
pub mod waiting;

pub use card::{CallSummary, EscalateRequest, ScreenPop, Urgency};
pub use hold::{HoldAnnouncer, HoldFrames, HoldPrompts, HoldSource};
pub use hub::{RepHub, RepInput, RepPush};
pub use live_room::LiveRooms;
pub use machine::{Action, Escalation, EscalationConfig, Phase};
pub use presence::{Claim, InProcessDirectory, Presence, Release, RepDirectory, RepId, RepStatus};
pub use rep_media::RepMedia;
pub use room::{RoomControl, RoomError, Rooms};
pub use service::{Escalator, Handoff};
pub use waiting::{EscalationView, WaitingBoard};
