//! INVITE handling for the endpoint: admitting a new call (trunk, digest,
//! capacity, session timer, SDP), starting its media and conversation on a
//! media worker, answering it, and re-INVITE/UPDATE/INFO inside it.

use std::net::SocketAddr;

use tokio::sync::mpsc;
use warmline_sip::dialog::{
    negotiate_uas, AnswerRetransmit, Dialog, Refresher, SessionTimer, SessionTimerConfig,
    SessionTimerOutcome,
};
use warmline_sip::message::{reason_phrase, Host, Request, Response, SipHeaders, Uri};
use warmline_sip::sdp::{self, answer_reoffer, Codec, LocalMedia, SessionDescription};
use warmline_sip::transaction::{ServerTxId, Transport};

use super::calls::{Schedule, Scheduled};
use super::endpoint::{tag_for, Endpoint, Phase, SipCall, ALLOW, SUPPORTED};
use super::leg::{LegControl, SipLeg, SipLegParts};
use super::rtp_session::RtpSessionConfig;
use super::trunk::Admission;
use crate::call::driver::{CallDriver, CallSetup};
use crate::call::PlaybackTracking;
use crate::media::g711::Law;

/// The negotiated media of a call.
#[derive(Clone, Debug)]
pub(super) struct CallPlan {
    pub local: LocalMedia,
    pub local_sdp: SessionDescription,
    pub remote_sdp: SessionDescription,
    pub sends: bool,
    pub session: SessionTimerOutcome,
}

fn timer_config(ep: &Endpoint) -> SessionTimerConfig {
    SessionTimerConfig {
        session_expires: ep.service.config.session_expires_secs,
        min_se: ep.service.config.min_se_secs,
    }
}

fn refuse(ep: &mut Endpoint, id: ServerTxId, request: &Request, status: u16, why: &str) {
    tracing::info!(
        status,
        why,
        call_id = request.call_id().unwrap_or(""),
        "INVITE refused"
    );
    let mut response = request.response(status, reason_phrase(status), Some(&tag_for(request)));
    let _ = response.headers.push(
        "Warning",
        format!("399 warmline \"{}\"", why.replace('"', "'")),
    );
    if status == 503 {
        let _ = response.headers.push("Retry-After", "5");
    }
    ep.respond(id, response);
}

/// A new INVITE (no To tag).
pub(super) fn on_invite(
    ep: &mut Endpoint,
    id: ServerTxId,
    request: Request,
    source: SocketAddr,
    transport: Transport,
) {
    let Some(trunk) = ep.trunk_for(source.ip()) else {
        ep.unknown_source(id, &request, source);
        return;
    };
    if ep.service.drain.is_draining() {
        crate::refusals::refused(
            "sip",
            "draining",
            "INVITE refused with 503: the server is shutting down",
            &source,
        );
        ep.reply(id, &request, 503, &super::endpoint::draining_headers());
        return;
    }
    if let Admission::Challenge(challenges) = ep.service.trunks[trunk].admit(&request) {
        let mut response = request.response(401, reason_phrase(401), Some(&tag_for(&request)));
        for challenge in challenges {
            let _ = response
                .headers
                .push("WWW-Authenticate", challenge.to_string());
        }
        ep.respond(id, response);
        return;
    }
    if request
        .headers
        .get("Max-Forwards")
        .is_some_and(|m| m.trim() == "0")
    {
        refuse(ep, id, &request, 483, "Max-Forwards reached 0");
        return;
    }
    let unsupported: Vec<&str> = request
        .headers
        .get_all("Require")
        .into_iter()
        .filter(|o| !o.eq_ignore_ascii_case("timer"))
        .collect();
    if !unsupported.is_empty() {
        let mut response = request.response(420, reason_phrase(420), Some(&tag_for(&request)));
        let _ = response.headers.push("Unsupported", unsupported.join(", "));
        ep.respond(id, response);
        return;
    }
    // Who answers: a number no route matches, with no default, is 404.
    let agent = match &ep.service.agents {
        Some(agents) => {
            let (caller, called) = (
                super::route::caller(&request),
                super::route::called(&request),
            );
            let trunk_name = ep.service.trunks[trunk].config.name.clone();
            let context = crate::agents::CallContext {
                caller: &caller,
                called: &called,
                trunk: &trunk_name,
            };
            match agents.route(&context) {
                Some(agent) => Some((agent.clone(), caller, called, trunk_name)),
                None => {
                    crate::refusals::refused(
                        "sip",
                        "no_route",
                        "INVITE refused with 404: no route for the called number",
                        &called,
                    );
                    refuse(ep, id, &request, 404, "no route for the called number");
                    return;
                }
            }
        }
        None => None,
    };
    if ep.active_calls(None) >= ep.service.config.max_calls {
        refuse(
            ep,
            id,
            &request,
            503,
            "at the configured maximum of concurrent calls",
        );
        return;
    }
    if let Some(max) = ep.service.trunks[trunk].config.max_calls {
        if ep.active_calls(Some(trunk)) >= max {
            refuse(
                ep,
                id,
                &request,
                486,
                "the trunk is at its maximum of concurrent calls",
            );
            return;
        }
    }
    let session = negotiate_uas(&request, &timer_config(ep));
    if let SessionTimerOutcome::TooSmall { min_se } = session {
        let mut response = request.response(422, reason_phrase(422), Some(&tag_for(&request)));
        let _ = response.headers.push("Min-SE", min_se.to_string());
        ep.respond(id, response);
        return;
    }
    if request.body.is_empty() {
        refuse(
            ep,
            id,
            &request,
            488,
            "an SDP offer in the INVITE is required",
        );
        return;
    }
    let offer = match SessionDescription::parse(&request.body) {
        Ok(offer) => offer,
        Err(e) => {
            refuse(ep, id, &request, 488, &format!("unreadable SDP: {e}"));
            return;
        }
    };
    // Drawn before anything is allocated; a failing random source refuses
    // the call rather than using predictable SSRCs or session ids.
    let drawn = (0..4)
        .map(|_| crate::random::u64(&*ep.service.random))
        .collect::<Result<Vec<u64>, _>>();
    let [session_id, ssrc, sequence, timestamp] = match drawn.as_deref() {
        Ok(&[a, b, c, d]) => [a, b, c, d],
        _ => {
            tracing::error!("the random source failed: INVITE refused with 503");
            refuse(ep, id, &request, 503, "the random source failed");
            return;
        }
    };
    let sockets = match ep.service.ports.allocate() {
        Ok(s) => s,
        Err(e) => {
            refuse(ep, id, &request, 503, &e.to_string());
            return;
        }
    };
    let rtp_port = sockets.0.local_addr().map(|a| a.port()).unwrap_or(0);
    let advertise = ep.service.advertised_ip(source);
    let mut local = LocalMedia::new(advertise, rtp_port, session_id >> 1);
    match super::srtp_offer::local_srtp(ep.service.trunks[trunk].config.srtp, &*ep.service.random) {
        Ok(srtp) => local.srtp = srtp,
        Err(e) => {
            tracing::error!(error = %e, "the random source failed: INVITE refused with 503");
            refuse(ep, id, &request, 503, "the random source failed");
            return;
        }
    }
    let negotiated = match sdp::answer(&offer, &local) {
        Ok(n) => n,
        Err(e) => {
            refuse(ep, id, &request, 488, &e.to_string());
            return;
        }
    };
    let srtp = match super::srtp_offer::keys(&negotiated) {
        Ok(keys) => keys,
        Err(why) => {
            refuse(ep, id, &request, 488, why);
            return;
        }
    };
    let local_tag = tag_for(&request);
    let (sent_by, name) = ep.sent_by(source, transport);
    let mut contact = Uri::sip(Some("warmline"), Host::Ip(advertise), Some(sent_by.port()));
    if transport == Transport::Tcp {
        contact
            .params
            .set("transport", Some(&name.to_ascii_lowercase()));
    }
    let dialog = match Dialog::uas(&request, &local_tag, contact) {
        Ok(d) => d,
        Err(e) => {
            refuse(ep, id, &request, 400, &e.to_string());
            return;
        }
    };
    let key = super::calls::dialog_key(&dialog.call_id, &dialog.remote_tag);
    let (control_tx, control_rx) = mpsc::channel(16);
    let law = if negotiated.codec == Codec::Pcma {
        Law::Alaw
    } else {
        Law::Ulaw
    };
    let parts = SipLegParts {
        key: key.clone(),
        sockets,
        session: RtpSessionConfig {
            payload_type: negotiated.payload_type,
            law,
            telephone_event_pt: negotiated.telephone_event_pt,
            remote: negotiated.remote_rtp,
            signalling_ip: source.ip(),
            ssrc: ssrc as u32,
            initial_sequence: sequence as u16,
            initial_timestamp: timestamp as u32,
            cname: format!("warmline@{advertise}"),
            jitter: ep.service.jitter,
            srtp,
        },
        control: control_rx,
        requests: ep.leg_requests.clone(),
        media_timeout: std::time::Duration::from_secs(ep.service.config.media_timeout_secs),
        hold_media_timeout: std::time::Duration::from_secs(
            ep.service.config.hold_media_timeout_secs,
        ),
        send_clock: ep.service.send_clock.clone(),
    };
    let mut call_config = ep.service.call.clone();
    // Our pacer owns the clock. Released audio less one frame is what
    // left: the send clock holds each packet one frame before its slot,
    // and a barge-in blanks the one waiting (send_clock.rs).
    call_config.tracking = PlaybackTracking::Released { allowance_ms: 20 };
    let mut setup = CallSetup {
        tool_entries: None,
        backend: ep.service.backend.clone(),
        session: ep.service.session.clone(),
        call: call_config,
        ingress: "sip",
        drain: ep.service.drain.clone(),
        identity: crate::call::tools::CallIdentity::mint(
            "sip",
            &key,
            address(&dialog.remote),
            address(&dialog.local),
        ),
        tools: ep.service.tools.clone(),
        events: ep.service.events.clone(),
        registry: ep.service.registry.clone(),
    };
    // The trunk may ask for recording; the agent may add to it.
    setup.call.record = ep.service.trunks[trunk].config.record;
    if let Some((agent, caller, called, trunk)) = &agent {
        let context = crate::agents::CallContext {
            caller,
            called,
            trunk,
        };
        agent.prepare(&mut setup, &context, jiff::Timestamp::now());
    }
    let span = crate::telemetry::call_span(&setup.identity);
    let call_id = setup.identity.id.clone();
    let job: crate::workers::Job = Box::new(move || {
        Box::pin(async move {
            use tracing::Instrument;
            async move {
                // Pre-warm: the model session opens before the 200 OK.
                let driver = CallDriver::prewarm(setup);
                // The leg pops caller audio on the call's own clock, so the
                // task wakes once per frame for both.
                let mut leg = match SipLeg::new(parts, driver.clock_start()) {
                    Ok(leg) => leg,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot register the RTP sockets");
                        return;
                    }
                };
                driver.run(&mut leg).await;
                use crate::call::leg::CallerLeg;
                leg.hang_up().await;
            }
            .instrument(span)
            .await;
        })
    });
    if let Err(e) = ep.service.workers.spawn(job) {
        refuse(ep, id, &request, 503, &e.to_string());
        return;
    }
    tracing::info!(%call_id, call = %key, trunk = %ep.service.trunks[trunk].config.name, %source, codec = ?negotiated.codec, "SIP call accepted");
    let mut ringing = request.response(180, reason_phrase(180), Some(&local_tag));
    let _ = ringing
        .headers
        .push("Contact", format!("<{}>", dialog.local_contact));
    ep.respond(id, ringing);
    let answer_at = ep.now() + std::time::Duration::from_millis(ep.service.config.answer_delay_ms);
    let remote_allows_update = request
        .headers
        .get_all("Allow")
        .iter()
        .any(|m| m.eq_ignore_ascii_case("UPDATE"));
    ep.register(SipCall {
        key: key.clone(),
        trunk,
        dialog,
        phase: Phase::Ringing { answer_at },
        invite_tx: id,
        invite: request,
        peer: (source, transport),
        plan: CallPlan {
            local,
            local_sdp: negotiated.answer,
            remote_sdp: offer,
            sends: negotiated.direction.sends(),
            session,
        },
        answer: None,
        timer: None,
        control: control_tx,
        remote_allows_update,
        refer: None,
        _counted: ep.service.drain.call_started(),
    });
    if ep.service.config.answer_delay_ms == 0 {
        answer(ep, &key);
    }
}

/// A 2xx with our SDP, session-timer headers and Contact.
fn ok_with_sdp(request: &Request, call: &SipCall, with_body: bool) -> Response {
    let mut response = request.response(200, reason_phrase(200), Some(&call.dialog.local_tag));
    let _ = response
        .headers
        .push("Contact", format!("<{}>", call.dialog.local_contact));
    let _ = response.headers.push("Allow", ALLOW);
    let _ = response.headers.push("Supported", SUPPORTED);
    for (name, value) in call.plan.session.response_headers() {
        let _ = response.headers.push(name, value);
    }
    if with_body {
        let _ = response.headers.push("Content-Type", "application/sdp");
        response.body = call.plan.local_sdp.to_string().into_bytes();
    }
    response
}

fn start_retransmit(ep: &mut Endpoint, key: &str, response: &Response, request: &Request) {
    let now = ep.now();
    let timers = ep.tx.config();
    if let Some(call) = ep.calls.get_mut(key) {
        let reliable = call.peer.1 == Transport::Tcp;
        let dest = Endpoint::response_dest(request, call.peer.0, call.peer.1);
        call.answer = Some((
            AnswerRetransmit::new(now, timers.t1, timers.t2, reliable),
            response.to_bytes(),
            dest,
        ));
    }
}

/// Sends the 200 OK to a ringing call.
pub(super) fn answer(ep: &mut Endpoint, key: &str) {
    let now = ep.now();
    let Some(call) = ep.calls.get_mut(key) else {
        return;
    };
    if !matches!(call.phase, Phase::Ringing { .. }) {
        return;
    }
    call.phase = Phase::Answered;
    let response = ok_with_sdp(&call.invite, call, true);
    let invite = call.invite.clone();
    let invite_tx = call.invite_tx;
    if let SessionTimerOutcome::Active {
        interval,
        refresher,
        ..
    } = call.plan.session
    {
        call.timer = Some(SessionTimer::new(now, interval, refresher));
    }
    let _ = call.control.try_send(LegControl::Answered);
    if !call.plan.sends {
        let _ = call.control.try_send(LegControl::Sending(false));
    }
    tracing::info!(call = %key, "answered");
    start_retransmit(ep, key, &response, &invite);
    ep.respond(invite_tx, response);
}

/// A re-INVITE or UPDATE in an established dialog: hold, resume, media
/// move, or a session refresh.
pub(super) fn on_reoffer(ep: &mut Endpoint, id: ServerTxId, request: Request, key: String) {
    let now = ep.now();
    let config = timer_config(ep);
    let Some(call) = ep.calls.get_mut(&key) else {
        return;
    };
    if call.phase != Phase::Answered || call.answer.as_ref().is_some_and(|a| a.0.waiting()) {
        // Our 200 is still unacknowledged, or the call is not up yet.
        let response = request.response(491, reason_phrase(491), Some(&call.dialog.local_tag));
        ep.respond(id, response);
        return;
    }
    call.dialog.refresh_target(&request);
    if !request.body.is_empty() {
        let reoffer = SessionDescription::parse(&request.body)
            .map_err(|e| e.to_string())
            .and_then(|new| {
                answer_reoffer(
                    &call.plan.remote_sdp,
                    &call.plan.local_sdp,
                    &new,
                    &call.plan.local,
                )
                .map(|(kind, n)| (kind, n, new))
                .map_err(|e| e.to_string())
            });
        match reoffer {
            Ok((kind, negotiated, new)) => {
                tracing::info!(call = %key, ?kind, sends = negotiated.direction.sends(), "re-offer");
                call.plan.remote_sdp = new;
                call.plan.local_sdp = negotiated.answer;
                call.plan.sends = negotiated.direction.sends();
                let _ = call
                    .control
                    .try_send(LegControl::Remote(negotiated.remote_rtp));
                let _ = call.control.try_send(LegControl::Sending(call.plan.sends));
            }
            Err(why) => {
                tracing::info!(call = %key, %why, "re-offer refused");
                let response =
                    request.response(488, reason_phrase(488), Some(&call.dialog.local_tag));
                ep.respond(id, response);
                return;
            }
        }
    }
    match negotiate_uas(&request, &config) {
        SessionTimerOutcome::TooSmall { min_se } => {
            let mut response =
                request.response(422, reason_phrase(422), Some(&call.dialog.local_tag));
            let _ = response.headers.push("Min-SE", min_se.to_string());
            ep.respond(id, response);
            return;
        }
        outcome @ SessionTimerOutcome::Active {
            interval,
            refresher,
            ..
        } => {
            // A refresh without Session-Expires keeps the running interval.
            let asked = request.headers.get("Session-Expires").is_some();
            if asked || call.timer.is_none() {
                call.plan.session = outcome;
                call.timer = Some(SessionTimer::new(now, interval, refresher));
            } else if let Some(timer) = call.timer.as_mut() {
                let (secs, who) = (timer.interval_secs() as u32, timer.refresher());
                timer.refreshed(now, secs, who);
            }
        }
    }
    let is_invite = request.method == warmline_sip::message::Method::Invite;
    let response = ok_with_sdp(&request, call, is_invite || !request.body.is_empty());
    if is_invite {
        start_retransmit(ep, &key, &response, &request);
    }
    ep.respond(id, response);
}

/// INFO: `application/dtmf-relay` digits (carriers without RFC 4733).
pub(super) fn on_info(ep: &mut Endpoint, request: &Request, key: &str) {
    let is_relay = request
        .headers
        .get("Content-Type")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/dtmf-relay"));
    if !is_relay {
        return;
    }
    let body = String::from_utf8_lossy(&request.body);
    let digit = body
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("Signal"))
        .and_then(|(_, v)| v.trim().chars().next());
    if let (Some(digit), Some(call)) = (digit, ep.calls.get(key)) {
        let _ = call.control.try_send(LegControl::Dtmf(digit));
    }
}

/// Our session refresh was accepted.
pub(super) fn refreshed(ep: &mut Endpoint, key: &str, response: &Response) {
    let now = ep.now();
    let local = ep.local;
    let Some(call) = ep.calls.get_mut(key) else {
        return;
    };
    let (interval, refresher) = response
        .headers
        .get("Session-Expires")
        .and_then(|v| {
            let mut parts = v.split(';');
            let secs = parts.next()?.trim().parse::<u32>().ok()?;
            // We sent the refresh, so in this answer "uac" means us and
            // "uas" the caller.
            let caller = parts.any(|p| p.trim().eq_ignore_ascii_case("refresher=uas"));
            Some((
                secs,
                if caller {
                    Refresher::Uac
                } else {
                    Refresher::Uas
                },
            ))
        })
        .unwrap_or_else(|| {
            call.timer.as_ref().map_or((1800, Refresher::Uas), |t| {
                (t.interval_secs() as u32, t.refresher())
            })
        });
    if let Some(timer) = call.timer.as_mut() {
        timer.refreshed(now, interval, refresher);
    }
    if let Ok(cseq) = response.cseq() {
        if cseq.method == warmline_sip::message::Method::Invite {
            let (dest, transport) = (call.peer.0, call.peer.1);
            let (local, name) = sent_by(ep.service.tls_local, &ep.sender, local, dest, transport);
            match super::new_branch(&*ep.service.random) {
                Ok(branch) => {
                    if let Ok(ack) = call.dialog.ack(cseq.seq, &branch, &local.to_string(), name) {
                        ep.tx.send_stateless(dest, transport, ack.to_bytes());
                    }
                }
                // The peer re-sends its 2xx and ends the call without ACK.
                Err(e) => tracing::error!(call = %key, error = %e, "no ACK for the refresh"),
            }
        }
    }
    tracing::info!(call = %key, interval, "session refreshed");
}

impl Scheduled for SipCall {
    /// When the endpoint must next look at the call: the delayed answer,
    /// the 2xx retransmission, or the session timer once answered. Ending
    /// calls no longer count toward admission.
    fn schedule(&self) -> Schedule {
        let mut deadline = None;
        let mut consider = |d: Option<std::time::Duration>| {
            if let Some(d) = d {
                deadline = Some(deadline.map_or(d, |n: std::time::Duration| n.min(d)));
            }
        };
        if let Phase::Ringing { answer_at } = self.phase {
            consider(Some(answer_at));
        }
        consider(self.answer.as_ref().and_then(|(r, _, _)| r.next_deadline()));
        if self.phase == Phase::Answered {
            consider(self.timer.as_ref().map(SessionTimer::next_deadline));
            consider(self.refer.as_ref().and_then(|r| r.deadline));
        }
        Schedule {
            deadline,
            live_in: (self.phase != Phase::Ended).then_some(self.trunk),
        }
    }
}

/// Our sent-by address and the Via transport name toward `dest`: the TLS
/// listener's when the stream to `dest` is TLS, else the UDP/TCP one. (A
/// TLS peer of `[[sip.outbound]]` needs `[sip] tls_listen`, which `check`
/// enforces; without one, Via still says TLS, with the TCP port.)
pub(super) fn sent_by(
    tls_local: Option<SocketAddr>,
    sender: &super::transport::Sender,
    local: SocketAddr,
    dest: SocketAddr,
    transport: Transport,
) -> (SocketAddr, &'static str) {
    match (transport, tls_local) {
        (Transport::Udp, _) => (local, "UDP"),
        (Transport::Tcp, Some(tls)) if sender.is_tls(dest) => (tls, "TLS"),
        (Transport::Tcp, None) if sender.is_tls(dest) => (local, "TLS"),
        (Transport::Tcp, _) => (local, "TCP"),
    }
}

/// The URI of a name-addr (`"Bob" <sip:bob@host>;tag=x` → `sip:bob@host`),
/// for tools and logs: the tag belongs to the dialog, not to the caller.
fn address(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(open), Some(close)) if open < close => &name_addr[open + 1..close],
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

#[cfg(test)]
mod address_tests {
    use super::address;

    #[test]
    fn a_call_identity_takes_the_uri_without_display_name_or_tag() {
        assert_eq!(address("\"Bob\" <sip:bob@host>;tag=x"), "sip:bob@host");
        assert_eq!(
            address("sip:+15550001@trunk;tag=abc"),
            "sip:+15550001@trunk"
        );
        assert_eq!(address("<sip:a@b"), "<sip:a@b");
    }
}
