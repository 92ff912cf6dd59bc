//! How a call's end is noted (the first reason stands) and reported as
//! `call.ended` to the events sink.

use super::CallDriver;
use crate::call::events::EndReason;

impl CallDriver {
    /// Notes why the call ends; the first reason stands.
    pub(super) fn end_because(&mut self, reason: EndReason, detail: Option<String>) {
        if self.end.is_none() {
            self.end = Some((reason, detail));
        }
    }

    /// Hands `call.ended` to the events sink (which never blocks).
    pub(super) fn report_end(&mut self) {
        let (Some(events), Some(log)) = (&self.setup.events, self.log.take()) else {
            return;
        };
        let (reason, detail) = self.end.take().unwrap_or((EndReason::CallerHungUp, None));
        let mut ended = log.finish(self.now(), self.setup.identity.clone(), reason, detail);
        let stats = self.core.stats();
        ended.quality.barge_ins = stats.barge_ins.len() as u32;
        ended.quality.false_interruptions = stats.false_interruptions.len() as u32;
        ended.recording_url = self.recording.take().map(|tap| tap.finish());
        ended.csat = self.core.survey_answer();
        ended.versions = self.setup.call.versions.clone();
        events.call_ended(ended);
    }
}
