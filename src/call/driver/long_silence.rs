//! The driver's side of the long-silence flag (`core/long_silence.rs`,
//! decision 0038): the core's call-clock times become wall-clock times
//! for the live-call API, and each change is logged.

use super::CallDriver;

impl CallDriver {
    /// The long-silence flag changed: logged, and published to the live
    /// calls with the wall-clock time the silence began.
    pub(super) fn long_silence(&mut self, change: crate::call::SilenceChange) {
        let since = match change {
            crate::call::SilenceChange::Began { since }
            | crate::call::SilenceChange::Ended { since, .. } => since,
        };
        let ago = self.now().saturating_sub(since);
        let began = std::time::SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let began = crate::call::tools::rfc3339(began);
        match change {
            crate::call::SilenceChange::Began { .. } => {
                tracing::info!(
                    silent_ms = ago.as_millis() as u64,
                    "long silence: nobody heard while the AI holds the call"
                );
            }
            crate::call::SilenceChange::Ended { lasted, .. } => {
                tracing::info!(silent_ms = lasted.as_millis() as u64, "long silence over");
            }
        }
        if let Some(live) = &mut self.live {
            live.on_long_silence(change, began);
        }
    }
}
