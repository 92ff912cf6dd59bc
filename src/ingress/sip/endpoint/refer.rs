//! Blind transfer of a SIP caller (decision 0033): the REFER we send in the
//! caller's dialog toward the trunk, the NOTIFYs that report on it, and
//! what the call does with the result. The protocol is the sans-IO
//! `warmline_sip::refer` ([`Refer`], [`ReferWatch`], [`ReferNotify`]); this
//! is its shell on the endpoint task.
//!
//! - `Refer-To` is the target's URI, or for a number
//!   `sip:<number>@<host[:port] of the caller's Contact>;user=phone`: the
//!   trunk that sent the call is asked to place it.
//! - Every NOTIFY of the dialog is answered (200, or the status its fault
//!   calls for) whether or not a transfer is under way.
//! - A 2xx sipfrag ends our leg with BYE; a refusal (403/405/501) or a
//!   failure leaves the call with the agent, and the tool says why.

use std::time::{Duration, Instant as StdInstant};

use warmline_sip::message::{reason_phrase, Host, Request, Response, Scheme, Uri};
use warmline_sip::refer::{
    Refer, ReferEvent, ReferNotify, ReferOutcome, ReferTo, ReferWatch, ReferWatchConfig,
};
use warmline_sip::transaction::ServerTxId;

use super::{in_dialog_destination, Endpoint, Phase, Purpose};
use crate::call::blind_transfer::{
    TransferDestination, TransferDone, TransferOutcome, TransferTarget, TRANSFERRED,
};
use crate::ingress::sip::leg::LegControl;

/// One transfer under way in a call's dialog.
pub(in crate::ingress::sip) struct OutgoingRefer {
    watch: ReferWatch,
    done: Option<TransferDone>,
    /// The target's name, for logs.
    target: String,
    /// When the watch next needs a look, on the endpoint's clock.
    pub deadline: Option<Duration>,
}

impl Endpoint {
    /// The endpoint's clock as the watch reads it.
    fn std_now(&self, now: Duration) -> StdInstant {
        self.epoch.into_std() + now
    }

    /// A leg asked to hand its caller to `target`.
    pub(super) fn start_transfer(&mut self, key: &str, target: TransferTarget, done: TransferDone) {
        let now = self.now();
        let fail = |done: TransferDone, reason: &str| {
            let _ = done.send(TransferOutcome::Failed {
                reason: reason.to_owned(),
            });
        };
        let Some(call) = self.calls.get_mut(key) else {
            return fail(done, "the call has ended");
        };
        if call.phase != Phase::Answered {
            return fail(done, "the call is not answered");
        }
        if call.refer.is_some() {
            return fail(done, "a transfer of this call is already under way");
        }
        let uri = match refer_to_uri(&target.destination, &call.dialog.remote_target) {
            Ok(uri) => uri,
            Err(reason) => return fail(done, &reason),
        };
        let (dest, transport) = in_dialog_destination(call);
        let (local, transport_name) = super::super::invite::sent_by(
            self.service.tls_local,
            &self.sender,
            self.local,
            dest,
            transport,
        );
        let Ok(branch) = super::super::new_branch(&*self.service.random) else {
            return fail(done, "no random branch could be made");
        };
        let mut refer = Refer::new(ReferTo::new(uri));
        refer.referred_by = warmline_sip::message::NameAddr::parse(&call.dialog.local).ok();
        if let Some(by) = &mut refer.referred_by {
            by.params = Default::default();
        }
        let request = match refer.in_dialog(
            &mut call.dialog,
            &branch,
            &local.to_string(),
            transport_name,
        ) {
            Ok(request) => request,
            Err(e) => return fail(done, &format!("the REFER could not be built: {e}")),
        };
        let cseq = call.dialog.local_seq;
        let watch = ReferWatch::new(self.std_now(now), cseq, ReferWatchConfig::default());
        let deadline = watch.poll_timeout().map(|at| self.since_epoch(at));
        tracing::info!(call = %key, target = %target.name, refer_to = %refer.refer_to, "sending REFER");
        match self.tx.send_request(now, request, dest, transport) {
            Ok(id) => {
                self.clients.insert(id, (key.to_owned(), Purpose::Refer));
                if let Some(call) = self.calls.get_mut(key) {
                    call.refer = Some(OutgoingRefer {
                        watch,
                        done: Some(done),
                        target: target.name,
                        deadline,
                    });
                }
            }
            Err(e) => fail(done, &format!("the REFER could not be sent: {e}")),
        }
    }

    fn since_epoch(&self, at: StdInstant) -> Duration {
        at.saturating_duration_since(self.epoch.into_std())
    }

    /// The final response to our REFER.
    pub(super) fn on_refer_response(&mut self, key: &str, response: &Response) {
        let now = self.std_now(self.now());
        let event = self
            .calls
            .get_mut(key)
            .and_then(|c| c.refer.as_mut())
            .and_then(|r| r.watch.on_response(response, now));
        self.on_refer_event(key, event);
    }

    /// Our REFER got no answer, or could not be delivered.
    pub(super) fn on_refer_lost(&mut self, key: &str, why: &str) {
        let Some(refer) = self.calls.get_mut(key).and_then(|c| c.refer.take()) else {
            return;
        };
        tracing::warn!(call = %key, target = %refer.target, why, "REFER lost");
        if let Some(done) = refer.done {
            let _ = done.send(TransferOutcome::Failed {
                reason: format!("the phone line did not answer the transfer request ({why})"),
            });
        }
    }

    /// A NOTIFY in `key`'s dialog: answered at once, then given to the
    /// transfer under way, if any.
    pub(super) fn on_notify(&mut self, id: ServerTxId, request: Request, key: &str) {
        let notify = match ReferNotify::parse(&request) {
            Ok(notify) => notify,
            Err(e) => {
                tracing::info!(call = %key, error = %e, "NOTIFY refused");
                self.reply(id, &request, e.status(), &[]);
                return;
            }
        };
        self.reply(id, &request, 200, &[]);
        let now = self.std_now(self.now());
        let event = self
            .calls
            .get_mut(key)
            .and_then(|c| c.refer.as_mut())
            .and_then(|r| r.watch.on_notify(&notify, now));
        self.on_refer_event(key, event);
    }

    /// The call's transfer is due for a look.
    pub(super) fn on_refer_timeout(&mut self, key: &str) {
        let now = self.std_now(self.now());
        let event = self
            .calls
            .get_mut(key)
            .and_then(|c| c.refer.as_mut())
            .and_then(|r| r.watch.handle_timeout(now));
        self.on_refer_event(key, event);
    }

    fn on_refer_event(&mut self, key: &str, event: Option<ReferEvent>) {
        let epoch = self.epoch.into_std();
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let Some(refer) = call.refer.as_mut() else {
            return;
        };
        refer.deadline = refer
            .watch
            .poll_timeout()
            .map(|at| at.saturating_duration_since(epoch));
        let outcome = match event {
            None => return,
            Some(ReferEvent::Accepted) => {
                tracing::info!(call = %key, target = %refer.target, "REFER accepted");
                return;
            }
            Some(ReferEvent::Progress { status }) => {
                tracing::info!(call = %key, target = %refer.target, status, "transfer progress");
                return;
            }
            Some(ReferEvent::Finished(outcome)) => outcome,
        };
        let target = refer.target.clone();
        let done = refer.done.take();
        call.refer = None;
        tracing::info!(call = %key, %target, ?outcome, "transfer finished");
        let (answer, hang_up) = outcome_of(&outcome);
        let detail = match &answer {
            TransferOutcome::Transferred { detail } => format!("{target}: {detail}"),
            _ => format!("{target}: {TRANSFERRED}"),
        };
        if let Some(done) = done {
            let _ = done.send(answer);
        }
        if hang_up {
            self.end_transferred(key, detail);
        }
    }

    /// The caller reached the target: our leg ends with BYE; `detail`
    /// goes into the call's end (`call.ended`).
    fn end_transferred(&mut self, key: &str, detail: String) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.phase != Phase::Answered {
            return;
        }
        call.phase = Phase::Ended;
        let _ = call.control.try_send(LegControl::Transferred(detail));
        match self.send_in_dialog(key, warmline_sip::message::Method::Bye) {
            Some(id) => {
                self.clients.insert(id, (key.to_owned(), Purpose::Bye));
            }
            None => self.end_call(key, TRANSFERRED),
        }
    }
}

/// What the tool hears, and whether our leg ends.
fn outcome_of(outcome: &ReferOutcome) -> (TransferOutcome, bool) {
    let status_text = |s: u16| format!("{s} {}", reason_phrase(s));
    match outcome {
        ReferOutcome::Succeeded { status } => (
            TransferOutcome::Transferred {
                detail: format!("the line reported {}", status_text(*status)),
            },
            true,
        ),
        ReferOutcome::PeerRefusesRefer { status } => (
            TransferOutcome::Refused {
                reason: format!("it answered the REFER {}", status_text(*status)),
            },
            false,
        ),
        ReferOutcome::Rejected { status } => (
            TransferOutcome::Failed {
                reason: format!("the line answered the REFER {}", status_text(*status)),
            },
            false,
        ),
        ReferOutcome::Failed { status } => (
            TransferOutcome::Failed {
                reason: format!("the target answered {}", status_text(*status)),
            },
            false,
        ),
        // We never ask for no reports; a line that sends none ends the
        // call itself when the transfer is done.
        ReferOutcome::AcceptedWithoutReport => (
            TransferOutcome::Transferred {
                detail: "the line accepted the transfer and sends no reports".into(),
            },
            false,
        ),
        ReferOutcome::SubscriptionEnded { last_status } => (
            TransferOutcome::Failed {
                reason: match last_status {
                    Some(s) => format!(
                        "the line stopped reporting after {} and before the target answered",
                        status_text(*s)
                    ),
                    None => "the line stopped reporting before the target answered".into(),
                },
            },
            false,
        ),
        ReferOutcome::TimedOut { accepted } => (
            TransferOutcome::Failed {
                reason: if *accepted {
                    "the target did not answer in time".into()
                } else {
                    "the line did not accept the transfer in time".into()
                },
            },
            false,
        ),
    }
}

/// The `Refer-To` URI: the target's SIP URI, or a number at the caller's
/// side (`sip:+1415…@<remote target host[:port]>;user=phone`).
fn refer_to_uri(destination: &TransferDestination, remote_target: &Uri) -> Result<Uri, String> {
    match destination {
        TransferDestination::Uri(uri) => {
            Uri::parse(uri).map_err(|e| format!("the target URI does not parse: {e}"))
        }
        TransferDestination::Number(number) => {
            let host = match &remote_target.host {
                Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                host => host.to_string(),
            };
            let port = remote_target
                .port
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            let scheme = if remote_target.scheme == Scheme::Sips {
                "sips"
            } else {
                "sip"
            };
            Uri::parse(&format!("{scheme}:{number}@{host}{port};user=phone"))
                .map_err(|e| format!("no SIP URI could be made for {number}: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_referred_to_the_callers_side_and_a_uri_as_configured() {
        let remote = Uri::parse("sip:trunk@10.0.0.7:5070;transport=udp").expect("uri");
        let number = refer_to_uri(&TransferDestination::Number("+14155550100".into()), &remote)
            .expect("a uri");
        assert_eq!(
            number.to_string(),
            "sip:+14155550100@10.0.0.7:5070;user=phone"
        );
        let uri = refer_to_uri(
            &TransferDestination::Uri("sip:desk@pbx.example.com".into()),
            &remote,
        )
        .expect("a uri");
        assert_eq!(uri.to_string(), "sip:desk@pbx.example.com");
    }

    #[test]
    fn only_a_2xx_sipfrag_ends_our_leg_and_a_refusal_says_it_was_refused() {
        assert!(outcome_of(&ReferOutcome::Succeeded { status: 200 }).1);
        let (answer, hang_up) = outcome_of(&ReferOutcome::PeerRefusesRefer { status: 405 });
        assert!(!hang_up);
        assert_eq!(
            answer,
            TransferOutcome::Refused {
                reason: "it answered the REFER 405 Method Not Allowed".into()
            }
        );
        for other in [
            ReferOutcome::Failed { status: 486 },
            ReferOutcome::Rejected { status: 481 },
            ReferOutcome::TimedOut { accepted: true },
            ReferOutcome::SubscriptionEnded { last_status: None },
            ReferOutcome::AcceptedWithoutReport,
        ] {
            assert!(!outcome_of(&other).1, "{other:?}");
        }
    }
}
