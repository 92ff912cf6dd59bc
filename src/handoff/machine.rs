//! The escalation of one call, sans-IO (protocols.md §4.5, decision 0028).
//!
//! Inputs are method calls with the current `Instant`; outputs are
//! [`Action`]s drained with [`Escalation::poll_action`], and the next
//! deadline is [`Escalation::poll_timeout`]. Nothing here reads a clock,
//! touches the directory or a socket: the shell claims reps, rings them
//! and drives the room, and feeds back what happened.
//!
//! ```text
//! start ─► Claim ─┬─ Nobody (nothing tried yet) ─► ToolResult(unavailable) ─► Done
//!                 ├─ Wait ─► Hold + RequestSummary + AnnouncePosition ─► Waiting ─(retry / reps changed)─► Claim
//!                 │            └─ queue_max_wait passed ─► ResumeAgent + ToolResult ─► Done
//!                 └─ Rep ─► Hold + Ring ─► Ringing ─┬─ decline / ring_timeout ─► Release ─► Claim (next rep)
//!                                                   │     └─ nobody left ─► ResumeAgent + ToolResult ─► Done
//!                                                   └─ accept ─► AttachRep ─┬─ failed / 10 s ─► CancelRing + Release ─► Claim (next rep)
//!                                                                           └─ attached ─┬─ brief ─► StartBrief + ToolResult(connected)
//!                                                                                        │            ─► Briefing ─(done / skip / timeout)─► Bridge
//!                                                                                        └─ no brief ─► ToolResult(connected) + Bridge
//! Bridged ─┬─ rep hangs up ─► Release(ended) + EndCall ─► Done
//!          ├─ rep hands back ─► Release(ended) + HandBack(note) ─► Done
//!          └─ rep's softphone vanishes ─► Release(ended) + HandBack(what happened) ─► Done
//! caller hangs up (any state) ─► withdraw ring / release / leave queue ─► Done
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::card::{CallSummary, EscalateRequest, ScreenPop};
use super::presence::{Claim, Release, RepId};

mod actions;
pub use actions::{Action, EscalationConfig, Phase, RepKind, Unavailable};

/// A waiting call asks the directory again this often (besides every
/// presence change the shell reports).
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for an accepting rep's audio to join the call (a WebRTC
/// connect is bounded by 10 s as well).
pub const ATTACH_MAX: Duration = Duration::from_secs(10);
/// Longest brief before the bridge happens anyway.
pub const BRIEF_MAX: Duration = Duration::from_secs(45);

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// Created, `start` not called.
    New,
    /// A claim is out; `waiting_since` is set once the call had to wait.
    Claiming,
    /// In the queue, retrying.
    Waiting { retry_at: Instant },
    /// A rep rings.
    Ringing { rep: RepId, until: Instant },
    /// The rep accepted; their audio is joining the call.
    Connecting { rep: RepId, until: Instant },
    /// The agent briefs the rep.
    Briefing { rep: RepId, until: Instant },
    /// Caller and rep talk.
    Bridged { rep: RepId },
    /// Over.
    Done,
}

/// One call's escalation. See the module docs.
#[derive(Debug)]
pub struct Escalation {
    config: EscalationConfig,
    skill: String,
    card: ScreenPop,
    state: State,
    actions: VecDeque<Action>,
    tried: Vec<RepId>,
    holding: bool,
    summary_requested: bool,
    tool_answered: bool,
    waiting_since: Option<Instant>,
    next_announce: Option<Instant>,
    last_position: Option<usize>,
}

impl Escalation {
    /// An escalation of the call `card` describes (its transcript and
    /// records filled by the shell), to `card.skill`.
    pub fn new(config: EscalationConfig, request: &EscalateRequest, mut card: ScreenPop) -> Self {
        card.reason = request.reason.clone();
        card.urgency = request.urgency;
        if card.summary.is_none() {
            card.summary = request.summary.clone();
        }
        Escalation {
            config,
            skill: card.skill.clone(),
            card,
            state: State::New,
            actions: VecDeque::new(),
            tried: Vec::new(),
            holding: false,
            summary_requested: false,
            tool_answered: false,
            waiting_since: None,
            next_announce: None,
            last_position: None,
        }
    }

    /// The tool was called: look for a rep (the summary is asked for once
    /// the caller goes on hold).
    pub fn start(&mut self, _now: Instant) {
        if self.state != State::New {
            return;
        }
        self.claim();
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next deadline; call [`Escalation::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting { retry_at } => {
                let give_up = self.waiting_since.map(|t| t + self.config.queue_max_wait);
                [Some(*retry_at), give_up, self.next_announce]
                    .into_iter()
                    .flatten()
                    .min()
            }
            State::Ringing { until, .. }
            | State::Connecting { until, .. }
            | State::Briefing { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Where the escalation is.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::New | State::Claiming | State::Waiting { .. } => Phase::Queued,
            State::Ringing { .. } | State::Connecting { .. } => Phase::Ringing,
            State::Briefing { .. } => Phase::Briefing,
            State::Bridged { .. } => Phase::Bridged,
            State::Done => Phase::Done,
        }
    }

    /// The card as it stands.
    pub fn card(&self) -> &ScreenPop {
        &self.card
    }

    /// The rep ringing, briefed or bridged, if any.
    pub fn rep(&self) -> Option<&RepId> {
        match &self.state {
            State::Ringing { rep, .. }
            | State::Connecting { rep, .. }
            | State::Briefing { rep, .. }
            | State::Bridged { rep } => Some(rep),
            _ => None,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state.clone() {
            State::Waiting { retry_at } => {
                if self
                    .waiting_since
                    .is_some_and(|t| now >= t + self.config.queue_max_wait)
                {
                    self.actions.push_back(Action::LeaveQueue {
                        skill: self.skill.clone(),
                    });
                    self.give_up(Unavailable::QueueTimeout);
                    return;
                }
                if self.next_announce.is_some_and(|t| now >= t) {
                    self.next_announce = Some(now + self.config.announce_every);
                    if let Some(p) = self.last_position {
                        self.actions.push_back(Action::AnnouncePosition(p));
                    }
                }
                if now >= retry_at {
                    self.claim();
                }
            }
            State::Ringing { rep, until } if now >= until => {
                self.actions
                    .push_back(Action::CancelRing { rep: rep.clone() });
                self.actions.push_back(Action::Release {
                    rep,
                    how: Release::Missed,
                });
                self.next_rep(now);
            }
            State::Connecting { rep, until } if now >= until => self.on_attach_failed(&rep, now),
            State::Briefing { rep, until } if now >= until => self.bridge(rep),
            _ => {}
        }
    }

    /// The presence of some rep changed: a waiting call tries at once.
    pub fn on_reps_changed(&mut self, _now: Instant) {
        if matches!(self.state, State::Waiting { .. }) {
            self.claim();
        }
    }

    /// The directory's answer to [`Action::Claim`].
    pub fn on_claim(&mut self, claim: Claim, now: Instant) {
        if self.state != State::Claiming {
            // The caller hung up meanwhile: give a reserved rep back.
            if let Claim::Rep(rep) = claim {
                self.actions.push_back(Action::Release {
                    rep,
                    how: Release::Withdrawn,
                });
            }
            return;
        }
        match claim {
            Claim::Nobody if self.tried.is_empty() && self.waiting_since.is_none() => {
                self.answer_unavailable(Unavailable::NobodyLoggedIn);
                self.state = State::Done;
            }
            Claim::Nobody => {
                let why = if self.tried.is_empty() {
                    Unavailable::NobodyLoggedIn
                } else {
                    Unavailable::NobodyAnswered
                };
                self.give_up(why);
            }
            Claim::Wait { position } => {
                self.hold();
                if self.waiting_since.is_none() {
                    self.waiting_since = Some(now);
                }
                if self.config.queue_max_wait.is_zero() {
                    self.actions.push_back(Action::LeaveQueue {
                        skill: self.skill.clone(),
                    });
                    self.give_up(Unavailable::QueueTimeout);
                    return;
                }
                let moved = self.last_position != Some(position);
                self.last_position = Some(position);
                let due = self.next_announce.is_none_or(|t| now >= t);
                if self.next_announce.is_none() || (moved && due) {
                    self.actions.push_back(Action::AnnouncePosition(position));
                    self.next_announce = Some(now + self.config.announce_every);
                }
                self.state = State::Waiting {
                    retry_at: now + RETRY_EVERY,
                };
            }
            Claim::Rep(rep) => {
                self.hold();
                self.tried.push(rep.clone());
                self.actions.push_back(Action::Ring {
                    rep: rep.clone(),
                    card: Box::new(self.card.clone()),
                });
                self.state = State::Ringing {
                    rep,
                    until: now + self.config.ring_timeout,
                };
            }
        }
    }

    /// The rep accepted the ring: their audio joins the call.
    pub fn on_accept(&mut self, rep: &RepId, now: Instant) {
        let State::Ringing { rep: ringing, .. } = &self.state else {
            return;
        };
        if ringing != rep {
            return;
        }
        self.actions
            .push_back(Action::AttachRep { rep: rep.clone() });
        self.state = State::Connecting {
            rep: rep.clone(),
            until: now + ATTACH_MAX,
        };
    }

    /// The rep's audio joined the call: the brief (`brief` for a browser
    /// rep, `phone_brief` for a phone), or the bridge.
    pub fn on_rep_attached(&mut self, rep: &RepId, kind: RepKind, now: Instant) {
        let State::Connecting {
            rep: connecting, ..
        } = &self.state
        else {
            return;
        };
        if connecting != rep {
            return;
        }
        let rep = rep.clone();
        let brief = match kind {
            RepKind::Browser => self.config.brief,
            RepKind::Phone => self.config.phone_brief,
        };
        if brief {
            self.actions
                .push_back(Action::StartBrief { rep: rep.clone() });
            self.answer_connected(&rep, true);
            self.state = State::Briefing {
                rep,
                until: now + BRIEF_MAX,
            };
        } else {
            self.answer_connected(&rep, false);
            self.bridge(rep);
        }
    }

    /// The rep's audio could not join (or took longer than
    /// [`ATTACH_MAX`]): the next rep is tried.
    pub fn on_attach_failed(&mut self, rep: &RepId, now: Instant) {
        let State::Connecting {
            rep: connecting, ..
        } = &self.state
        else {
            return;
        };
        if connecting != rep {
            return;
        }
        self.actions
            .push_back(Action::CancelRing { rep: rep.clone() });
        self.actions.push_back(Action::Release {
            rep: rep.clone(),
            how: Release::Withdrawn,
        });
        self.next_rep(now);
    }

    /// The rep declined the ring (or left during the brief).
    pub fn on_decline(&mut self, rep: &RepId, now: Instant) {
        match &self.state {
            State::Ringing { rep: r, .. } if r == rep => {
                self.actions.push_back(Action::Release {
                    rep: rep.clone(),
                    how: Release::Declined,
                });
                self.next_rep(now);
            }
            State::Connecting { rep: r, .. } if r == rep => self.on_attach_failed(rep, now),
            State::Briefing { rep: r, .. } if r == rep => {
                // The tool was answered "connected" already: tell the
                // agent in a note what happened, and resume it.
                self.actions
                    .push_back(Action::DetachRep { rep: rep.clone() });
                self.actions.push_back(Action::Release {
                    rep: rep.clone(),
                    how: Release::Declined,
                });
                self.actions.push_back(Action::HandBack {
                    rep: rep.clone(),
                    note: "The rep left before talking to the caller. Nobody else can take \
                           the call now: apologise, and offer a callback or to take a message."
                        .to_owned(),
                });
                self.holding = false;
                self.state = State::Done;
            }
            _ => {}
        }
    }

    /// The agent finished the brief, or the rep skipped it.
    pub fn on_brief_done(&mut self, _now: Instant) {
        if let State::Briefing { rep, .. } = self.state.clone() {
            self.bridge(rep);
        }
    }

    /// The model's out-of-band summary arrived.
    pub fn on_summary(&mut self, summary: CallSummary) {
        self.card.summary = Some(summary.summary);
        self.card.next_action = Some(summary.next_action).filter(|s| !s.is_empty());
        if let Some(rep) = self.rep().cloned() {
            self.actions.push_back(Action::UpdateCard {
                rep,
                card: Box::new(self.card.clone()),
            });
        }
    }

    /// The rep hung up.
    pub fn on_rep_hangup(&mut self, rep: &RepId, now: Instant) {
        match &self.state {
            State::Bridged { rep: r } if r == rep => {
                self.actions.push_back(Action::Release {
                    rep: rep.clone(),
                    how: Release::CallEnded,
                });
                self.actions.push_back(Action::EndCall);
                self.state = State::Done;
            }
            _ => self.on_decline(rep, now),
        }
    }

    /// The rep's softphone vanished without hanging up (decision 0035).
    /// A bridged caller goes back to the AI, told what happened, rather
    /// than being hung up on or left on a dead line; before the bridge it
    /// counts as a decline (the next rep, or the AI).
    pub fn on_rep_lost(&mut self, rep: &RepId, now: Instant) {
        match &self.state {
            State::Bridged { rep: r } if r == rep => {
                self.actions.push_back(Action::Release {
                    rep: rep.clone(),
                    how: Release::CallEnded,
                });
                self.actions.push_back(Action::HandBack {
                    rep: rep.clone(),
                    note: format!(
                        "The connection to the human rep ({rep}) dropped in the middle of the \
                         call: the caller is back with you. Apologise for the interruption, \
                         and offer to connect them to a person again or to take a message."
                    ),
                });
                self.state = State::Done;
            }
            _ => self.on_decline(rep, now),
        }
    }

    /// The rep handed the caller back to the AI, with an optional note.
    pub fn on_hand_back(&mut self, rep: &RepId, note: Option<&str>, _now: Instant) {
        let State::Bridged { rep: r } = &self.state else {
            return;
        };
        if r != rep {
            return;
        }
        let mut text = format!(
            "A human rep ({}) talked with the caller and has handed the call back to you.",
            rep
        );
        match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => text.push_str(&format!(" The rep's note: {n}")),
            None => text.push_str(" The rep left no note."),
        }
        text.push_str(" Greet the caller again briefly and carry on.");
        self.actions.push_back(Action::Release {
            rep: rep.clone(),
            how: Release::CallEnded,
        });
        self.actions.push_back(Action::HandBack {
            rep: rep.clone(),
            note: text,
        });
        self.state = State::Done;
    }

    /// The caller hung up: undo whatever is in flight.
    pub fn on_caller_hangup(&mut self, _now: Instant) {
        match self.state.clone() {
            State::Waiting { .. } | State::Claiming => {
                self.actions.push_back(Action::LeaveQueue {
                    skill: self.skill.clone(),
                });
            }
            State::Ringing { rep, .. } => {
                self.actions
                    .push_back(Action::CancelRing { rep: rep.clone() });
                self.actions.push_back(Action::Release {
                    rep,
                    how: Release::Withdrawn,
                });
            }
            State::Connecting { rep, .. } => {
                self.actions
                    .push_back(Action::DetachRep { rep: rep.clone() });
                self.actions.push_back(Action::Release {
                    rep,
                    how: Release::Withdrawn,
                });
            }
            State::Briefing { rep, .. } | State::Bridged { rep } => {
                self.actions
                    .push_back(Action::DetachRep { rep: rep.clone() });
                self.actions.push_back(Action::Release {
                    rep,
                    how: Release::CallEnded,
                });
            }
            State::New | State::Done => {}
        }
        // Nobody will read it, but the tool call gets its one answer.
        self.answer(json!({"status": "unavailable", "reason": "caller_hung_up"}));
        self.state = State::Done;
    }

    fn claim(&mut self) {
        self.actions.push_back(Action::Claim {
            skill: self.skill.clone(),
            exclude: self.tried.clone(),
        });
        self.state = State::Claiming;
    }

    fn next_rep(&mut self, now: Instant) {
        if self
            .waiting_since
            .is_some_and(|t| now >= t + self.config.queue_max_wait)
        {
            self.actions.push_back(Action::LeaveQueue {
                skill: self.skill.clone(),
            });
            self.give_up(Unavailable::QueueTimeout);
        } else {
            self.claim();
        }
    }

    fn hold(&mut self) {
        if !self.holding {
            self.holding = true;
            self.actions.push_back(Action::HoldCaller);
            if !self.summary_requested {
                // Only a call that is really being transferred costs a
                // model response.
                self.summary_requested = true;
                self.actions.push_back(Action::RequestSummary);
            }
        }
    }

    fn bridge(&mut self, rep: RepId) {
        self.holding = false;
        self.actions.push_back(Action::Bridge {
            rep: rep.clone(),
            agent: self.config.agent_after_bridge,
        });
        self.state = State::Bridged { rep };
    }

    /// Back to the AI with the reason.
    fn give_up(&mut self, why: Unavailable) {
        if self.holding {
            self.holding = false;
            self.actions.push_back(Action::ResumeAgent);
        }
        self.answer_unavailable(why);
        self.state = State::Done;
    }

    fn answer_unavailable(&mut self, why: Unavailable) {
        self.answer(json!({
            "status": "unavailable",
            "reason": why.as_str(),
            "urgency": self.card.urgency,
            "message": "Nobody is available to take the call right now. Tell the caller, \
                        and offer a callback or to take a message.",
        }));
    }

    fn answer_connected(&mut self, rep: &RepId, brief: bool) {
        let mut out = json!({
            "status": "connected",
            "rep": rep.0,
        });
        if brief {
            out["instructions"] = json!(
                "You are now speaking privately to the rep, who will take the call; the caller \
                 cannot hear you. In at most three sentences tell the rep who is calling, what \
                 they need and what you recommend, then stop."
            );
            if let Some(s) = &self.card.summary {
                out["summary"] = json!(s);
            }
            if let Some(n) = &self.card.next_action {
                out["next_action"] = json!(n);
            }
        } else {
            out["instructions"] = json!("The caller is now talking with a rep. Say nothing more.");
        }
        self.answer(out);
    }

    fn answer(&mut self, output: Value) {
        if !self.tool_answered {
            self.tool_answered = true;
            self.actions.push_back(Action::ToolResult(output));
        }
    }
}

#[cfg(test)]
mod tests;
