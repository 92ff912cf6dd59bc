//! The machine's vocabulary: its configuration, its outputs, and where it
//! is.

use std::time::Duration;

use serde_json::Value;

use crate::config::{AgentAfterBridge, HandoffConfig};
use crate::handoff::card::ScreenPop;
use crate::handoff::presence::{Release, RepId};

/// The timings and switches of [`HandoffConfig`], as durations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationConfig {
    /// `queue_max_wait_secs`.
    pub queue_max_wait: Duration,
    /// `ring_timeout_secs`.
    pub ring_timeout: Duration,
    /// `announce_every_secs`.
    pub announce_every: Duration,
    /// `brief`: the brief for browser reps.
    pub brief: bool,
    /// `sip_brief`: the brief for reps on a phone line.
    pub phone_brief: bool,
    /// `agent_after_bridge`.
    pub agent_after_bridge: AgentAfterBridge,
}

impl From<&HandoffConfig> for EscalationConfig {
    fn from(c: &HandoffConfig) -> Self {
        EscalationConfig {
            queue_max_wait: Duration::from_secs(c.queue_max_wait_secs),
            ring_timeout: Duration::from_secs(c.ring_timeout_secs),
            announce_every: Duration::from_secs(c.announce_every_secs),
            brief: c.brief,
            phone_brief: c.sip_brief,
            agent_after_bridge: c.agent_after_bridge,
        }
    }
}

/// What a rep answers on: it picks the brief default (`brief` or
/// `sip_brief`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepKind {
    /// The softphone page (a screen shows the card).
    Browser,
    /// A phone line (SIP): no screen, so the brief is on by default.
    Phone,
}

/// Why an escalation returned to the AI without a rep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Nobody is logged in to the queue.
    NobodyLoggedIn,
    /// Every rep rung declined or let it ring out.
    NobodyAnswered,
    /// The queue's maximum wait passed.
    QueueTimeout,
}

impl Unavailable {
    /// The `reason` of the tool result.
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::NobodyLoggedIn => "nobody_logged_in",
            Unavailable::NobodyAnswered => "nobody_answered",
            Unavailable::QueueTimeout => "queue_timeout",
        }
    }
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Ask the directory for a rep of `skill` (skipping `exclude`) and
    /// answer with [`Escalation::on_claim`].
    Claim {
        /// The queue.
        skill: String,
        /// Reps this call already rang.
        exclude: Vec<RepId>,
    },
    /// Ask the model for the out-of-band summary and next action; answer
    /// with [`Escalation::on_summary`].
    RequestSummary,
    /// Put the caller on hold audio; the agent stops hearing and
    /// answering the caller.
    HoldCaller,
    /// Play the caller's queue position over the hold audio.
    AnnouncePosition(usize),
    /// The call leaves the skill's queue.
    LeaveQueue {
        /// The queue.
        skill: String,
    },
    /// Ring a rep with the card.
    Ring {
        /// The rep.
        rep: RepId,
        /// The screen pop.
        card: Box<ScreenPop>,
    },
    /// The card changed (the model's summary arrived) while it rings or
    /// is shown.
    UpdateCard {
        /// The rep.
        rep: RepId,
        /// The new card.
        card: Box<ScreenPop>,
    },
    /// Stop a ring that nobody answered (timeout, caller gone).
    CancelRing {
        /// The rep.
        rep: RepId,
    },
    /// Give a reserved rep back to the directory.
    Release {
        /// The rep.
        rep: RepId,
        /// How.
        how: Release,
    },
    /// The tool's result for the model (exactly one per escalation).
    ToolResult(Value),
    /// Attach the rep's leg to the room (the rep accepted); answer with
    /// [`Escalation::on_rep_attached`] or [`Escalation::on_attach_failed`].
    AttachRep {
        /// The rep.
        rep: RepId,
    },
    /// Brief routing: the agent is heard by the rep only and hears the
    /// rep; the caller stays on hold. The agent's answer to the tool
    /// result is the brief; report its end with
    /// [`Escalation::on_brief_done`].
    StartBrief {
        /// The rep.
        rep: RepId,
    },
    /// Caller and rep talk; hold stops; the agent leaves the audio path,
    /// its session closed or listening.
    Bridge {
        /// The rep.
        rep: RepId,
        /// What happens to the agent's session.
        agent: AgentAfterBridge,
    },
    /// The rep left before the bridge: detach its leg.
    DetachRep {
        /// The rep.
        rep: RepId,
    },
    /// No rep: hold stops and the agent hears and answers the caller
    /// again (the tool result that follows tells it why).
    ResumeAgent,
    /// The rep handed the caller back: detach the rep, re-attach the agent
    /// and give it this conversation item, then let it answer.
    HandBack {
        /// The rep.
        rep: RepId,
        /// What happened, for the model.
        note: String,
    },
    /// The rep hung up after the bridge: end the call.
    EndCall,
}

/// Where an escalation is, for the softphone and the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Looking for a rep or waiting in the queue.
    Queued,
    /// A rep rings.
    Ringing,
    /// The agent briefs the rep.
    Briefing,
    /// Caller and rep talk.
    Bridged,
    /// Over.
    Done,
}
