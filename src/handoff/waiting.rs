//! The escalations in progress as a supervisor sees them (decision 0037):
//! one [`EscalationView`] per call whose escalation runs, kept by the
//! escalation's task and read by the desk's inbox (`GET /api/v1/inbox`).
//!
//! Read-only for everyone but the task that owns the escalation: the
//! board never drives a call. A view is replaced whole after each turn
//! of the task's loop (a handful per escalation: ring, accept, brief,
//! bridge) and removed when the task ends, under the escalation's number
//! so that a finished task never removes its successor's view.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::card::{CardLine, ScreenPop};
use super::machine::Phase;
use super::presence::RepId;

/// Transcript lines a view keeps (the card's latest).
pub const VIEW_LINES: usize = 20;

/// One escalation in progress.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EscalationView {
    /// warmline's call id.
    pub call_id: String,
    /// The caller's number.
    pub caller: String,
    /// The queue.
    pub skill: String,
    /// When the agent asked for a person (RFC 3339 UTC).
    pub since: String,
    /// `queued`, `ringing`, `briefing` or `bridged`.
    pub phase: &'static str,
    /// The rep ringing, briefed or bridged.
    pub rep: Option<String>,
    /// Why the agent escalated.
    pub reason: String,
    /// `low`, `normal` or `high`.
    pub urgency: super::card::Urgency,
    /// The summary (the tool's, then the model's).
    pub summary: Option<String>,
    /// The model's recommended next action.
    pub next_action: Option<String>,
    /// The latest transcript lines on the card.
    pub transcript: Vec<CardLine>,
    /// Since the Unix epoch, for the waiting time.
    #[serde(skip)]
    since_epoch: Duration,
}

impl EscalationView {
    /// The view of an escalation that started at `since` (since the Unix
    /// epoch), in `phase` with `rep`, showing `card`.
    pub fn new(since: Duration, phase: Phase, rep: Option<&RepId>, card: &ScreenPop) -> Self {
        let skip = card.transcript.len().saturating_sub(VIEW_LINES);
        EscalationView {
            call_id: card.call_id.clone(),
            caller: card.caller.clone(),
            skill: card.skill.clone(),
            since: crate::call::tools::rfc3339(since),
            phase: match phase {
                Phase::Queued => "queued",
                Phase::Ringing => "ringing",
                Phase::Briefing => "briefing",
                Phase::Bridged => "bridged",
                Phase::Done => "done",
            },
            rep: rep.map(|r| r.0.clone()),
            reason: card.reason.clone(),
            urgency: card.urgency,
            summary: card.summary.clone(),
            next_action: card.next_action.clone(),
            transcript: card.transcript.iter().skip(skip).cloned().collect(),
            since_epoch: since,
        }
    }

    /// How long the caller has waited for a person at `now` (since the
    /// Unix epoch).
    pub fn waited(&self, now: Duration) -> Duration {
        now.saturating_sub(self.since_epoch)
    }
}

/// Now, since the Unix epoch.
pub fn epoch_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The escalations in progress of this process.
#[derive(Debug, Default)]
pub struct WaitingBoard {
    views: Mutex<HashMap<String, (u64, EscalationView)>>,
}

impl WaitingBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, EscalationView)>> {
        self.views.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Escalation `number` of its call now looks like `view`.
    pub fn show(&self, number: u64, view: EscalationView) {
        self.lock().insert(view.call_id.clone(), (number, view));
    }

    /// Escalation `number` of `call_id` is over.
    pub fn remove(&self, call_id: &str, number: u64) {
        let mut views = self.lock();
        if views.get(call_id).is_some_and(|(n, _)| *n == number) {
            views.remove(call_id);
        }
    }

    /// Every escalation in progress, in no particular order.
    pub fn list(&self) -> Vec<EscalationView> {
        self.lock().values().map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(call: &str, lines: usize) -> ScreenPop {
        ScreenPop {
            call_id: call.into(),
            caller: "+15550001111".into(),
            reason: "billing".into(),
            transcript: (0..lines)
                .map(|i| CardLine {
                    who: "caller".into(),
                    text: format!("line {i}"),
                })
                .collect(),
            ..ScreenPop::default()
        }
    }

    #[test]
    fn a_finished_escalation_removes_its_own_view_and_not_its_successor_s() {
        let board = WaitingBoard::default();
        let since = Duration::from_secs(1_000);
        board.show(
            1,
            EscalationView::new(since, Phase::Queued, None, &card("c1", 3)),
        );
        board.show(
            2,
            EscalationView::new(since, Phase::Ringing, None, &card("c1", 3)),
        );
        board.remove("c1", 1);
        let left = board.list();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].phase, "ringing");
        board.remove("c1", 2);
        assert!(board.list().is_empty());
    }

    #[test]
    fn a_view_keeps_the_latest_lines_and_counts_the_wait_from_its_start() {
        let rep = RepId("ana".into());
        let view = EscalationView::new(
            Duration::from_secs(1_000),
            Phase::Briefing,
            Some(&rep),
            &card("c1", VIEW_LINES + 5),
        );
        assert_eq!(view.transcript.len(), VIEW_LINES);
        assert_eq!(view.transcript[0].text, "line 5");
        assert_eq!(view.rep.as_deref(), Some("ana"));
        assert_eq!(view.since, "1970-01-01T00:16:40.000Z");
        assert_eq!(
            view.waited(Duration::from_secs(1_030)),
            Duration::from_secs(30)
        );
    }
}
