//! The WebRTC ingress: a browser calls the agent (decision 0023).
//!
//! `GET /webrtc/ws` upgrades to the signalling WebSocket of
//! docs/WEBRTC.md. Its first message is the browser's SDP offer; the
//! answer comes back at once, with one ICE-lite host candidate on a UDP
//! port from `[webrtc] udp_port_min..=udp_port_max`, and the call starts on
//! a media worker with a [`WebRtcLeg`] as its caller leg. The socket then
//! carries trickled candidates and the hang-up in, the call's state,
//! transcript lines and barge-ins out. `GET /try` serves the page that
//! does all this from a browser ([`page`]).

pub mod codec;
mod join;
pub mod leg;
pub mod page;
pub mod ports;
pub mod rep;
pub mod rep_audio;
mod rep_card;
pub mod rep_signal;
pub mod signal;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;
use tracing::Instrument;

use self::leg::{Control, WebRtcLeg, WebRtcParts};
use self::signal::{ClientMessage, ServerMessage};
use crate::call::driver::{CallDriver, CallSetup};
use crate::call::PlaybackTracking;
use crate::workers::MediaWorkers;

pub use self::leg::CONNECT_TIMEOUT;

/// The browser must send its offer within this after connecting.
const OFFER_WAIT: Duration = Duration::from_secs(10);
/// Messages to the page a call may have queued (transcript lines are
/// dropped past it; the call never waits for the page).
const TO_PAGE_QUEUE: usize = 64;
/// Control messages from the page in flight to the leg.
const CONTROL_QUEUE: usize = 16;

/// Why a WebRTC call could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    /// No free UDP port in the configured range.
    #[error("no free UDP port in [webrtc] udp_port_min..=udp_port_max ({0}..={1}): widen the range or end some calls")]
    NoPort(u16, u16),
    /// The media socket could not be set up.
    #[error("the WebRTC media socket failed: {0}")]
    Socket(std::io::Error),
    /// The offer was not SDP str0m accepts (or had no audio).
    #[error("the offer was refused: {0}; send one audio m-line with Opus, as browsers do")]
    Offer(String),
    /// Opus could not be set up.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// No `[[routes]]` entry picks an agent for browser calls.
    #[error(
        "no agent answers browser calls: add a [[routes]] entry with trunk = \"webrtc\", or a default route"
    )]
    NoRoute,
    /// A browser offered a call of its own while `/try` is off.
    #[error("browser calls to the agent are off here ([web] try); joining a live call needs `join` with the admin token")]
    TryOff,
    /// The server is shutting down and takes no new calls.
    #[error("the server is draining and takes no new calls: try again on another instance")]
    Draining,
    /// The media workers are gone or full.
    #[error("no media worker took the call: {0}")]
    Worker(String),
    /// A `join` without the right admin token or a live session token.
    #[error("joining a call needs the admin token or a session token in the join message: {0}")]
    Unauthorized(crate::http::admin::AdminAuthError),
    /// Too many wrong tokens lately (the admin routes' failure bucket).
    #[error("too many refused tokens lately: wait {0} s, then send the right one")]
    TooManyRefused(u64),
    /// A `join` naming no live call.
    #[error("no live call {0:?}: GET /api/v1/calls lists them")]
    NoSuchCall(String),
    /// `take_over` with a role other than `rep`.
    #[error(
        "take_over needs role \"rep\": the supervisor's leg replaces the agent and must be heard"
    )]
    TakeOverRole,
    /// The call refused the leg (a full room, the call ending, busy).
    #[error("the call did not take the leg: {0}")]
    Join(crate::call::registry::CommandError),
}

/// What the WebRTC routes need.
#[derive(Clone, Debug)]
pub struct WebRtcService {
    /// Where calls run.
    pub workers: MediaWorkers,
    /// Every browser call starts from this (the `[model]` agent), then
    /// takes the routed agent's profile.
    pub setup: CallSetup,
    /// Which agent answers `/try`: the route for the `webrtc` pseudo-trunk,
    /// else the default route. `None` keeps the `[model]` agent.
    pub agents: Option<crate::agents::SharedAgents>,
    /// Media ports.
    pub ports: ports::PortRange,
    /// The address offered to browsers.
    pub public_ip: IpAddr,
    /// The admin token (or a session of it) a `join` must carry
    /// (decisions 0024, 0038).
    pub admin: crate::http::admin::AdminToken,
    /// Where joins are recorded, with who joined (decision 0038).
    pub audit: crate::audit::Audit,
    /// Whether a browser may start a call of its own (`/try`, `[web]
    /// try`). Joining a live call with the admin token does not depend on
    /// it: the supervisor's desk listens, coaches and takes over wherever
    /// the server runs.
    pub try_calls: bool,
}

/// The routes: `/webrtc/ws`, and `/try` with its assets while browsers
/// may call the agent ([`WebRtcService::try_calls`]).
pub fn routes(service: Arc<WebRtcService>) -> Router {
    let try_page = service.try_calls;
    let router = Router::new()
        .route("/webrtc/ws", get(upgrade))
        .with_state(service);
    if try_page {
        router.merge(page::routes())
    } else {
        router
    }
}

async fn upgrade(State(service): State<Arc<WebRtcService>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(signal::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| signalling(service, socket))
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    socket
        .send(Message::Text(message.to_json().into()))
        .await
        .is_ok()
}

/// One browser's signalling, on the HTTP runtime, for the whole call.
async fn signalling(service: Arc<WebRtcService>, mut socket: WebSocket) {
    let first = match tokio::time::timeout(OFFER_WAIT, first_offer(&mut socket)).await {
        Ok(Some(first)) => first,
        Ok(None) => return,
        Err(_) => {
            let message = "no offer within 10 s".to_owned();
            let _ = send(&mut socket, &ServerMessage::Error { message }).await;
            return;
        }
    };
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let (page_tx, mut page_rx) = mpsc::channel(TO_PAGE_QUEUE);
    let started = match first {
        First::Offer(offer) => start_call(&service, &offer, control_rx, page_tx),
        First::Join(join) => join::join_call(&service, join, control_rx, page_tx).await,
    };
    let answer = match started {
        Ok(answer) => answer,
        Err(e) => {
            let reason = match e {
                WebRtcError::Draining => "draining",
                WebRtcError::TryOff => "try_off",
                WebRtcError::NoRoute => "no_route",
                WebRtcError::Unauthorized(_) | WebRtcError::TooManyRefused(_) => "unauthorized",
                WebRtcError::NoSuchCall(_) => "unknown_call",
                WebRtcError::TakeOverRole => "bad_request",
                _ => "unavailable",
            };
            crate::refusals::refused("webrtc", reason, "WebRTC call", &e);
            let message = e.to_string();
            let _ = send(&mut socket, &ServerMessage::Error { message }).await;
            return;
        }
    };
    if !send(&mut socket, &ServerMessage::Answer { sdp: answer }).await {
        let _ = control_tx
            .send(Control::Ended("signalling closed".into()))
            .await;
        return;
    }
    let _ = send(
        &mut socket,
        &ServerMessage::State {
            state: "connecting",
        },
    )
    .await;
    loop {
        tokio::select! {
            received = socket.recv() => {
                let text = match received {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        let _ = control_tx.send(Control::Ended("the page closed".into())).await;
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let control = match signal::parse(text.as_str()) {
                    Ok(ClientMessage::Candidate { candidate }) if candidate.is_empty() => continue,
                    Ok(ClientMessage::Candidate { candidate }) => Control::Candidate(candidate),
                    Ok(ClientMessage::Hangup) => Control::Ended("the caller hung up".into()),
                    Ok(ClientMessage::Offer { .. } | ClientMessage::Join { .. }) => {
                        let message = "one offer per call: renegotiation is not supported".to_owned();
                        let _ = send(&mut socket, &ServerMessage::Error { message }).await;
                        continue;
                    }
                    Err(e) => {
                        let _ = send(&mut socket, &ServerMessage::Error { message: e.to_string() }).await;
                        continue;
                    }
                };
                // Never dropped: waits for room (the leg reads promptly).
                if control_tx.send(control).await.is_err() {
                    break;
                }
            }
            message = page_rx.recv() => {
                let Some(message) = message else { break };
                let last = matches!(message, ServerMessage::Hangup { .. });
                if !send(&mut socket, &message).await {
                    let _ = control_tx.send(Control::Ended("signalling closed".into())).await;
                    break;
                }
                if last {
                    let _ = send(&mut socket, &ServerMessage::State { state: "ended" }).await;
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
        }
    }
}

/// What a browser's first message asks for.
enum First {
    /// A new call to the agent (`/try`).
    Offer(String),
    /// A leg in a live call.
    Join(join::Join),
}

/// Waits for the offer (or a join); anything else first is an error to
/// the page.
async fn first_offer(socket: &mut WebSocket) -> Option<First> {
    loop {
        let text = match socket.recv().await? {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        };
        match signal::parse(text.as_str()) {
            Ok(ClientMessage::Offer { sdp }) => return Some(First::Offer(sdp)),
            Ok(ClientMessage::Join {
                call_id,
                role,
                token,
                sdp,
                take_over,
            }) => {
                return Some(First::Join(join::Join {
                    call_id,
                    role,
                    token,
                    sdp,
                    take_over,
                }))
            }
            Ok(ClientMessage::Hangup) => return None,
            Ok(ClientMessage::Candidate { .. }) => {}
            Err(e) => {
                let message = e.to_string();
                send(socket, &ServerMessage::Error { message }).await;
            }
        }
    }
}

/// Accepts the offer, starts the call on a media worker; returns the SDP
/// answer.
fn start_call(
    service: &WebRtcService,
    offer: &str,
    control: mpsc::Receiver<Control>,
    to_page: mpsc::Sender<ServerMessage>,
) -> Result<String, WebRtcError> {
    if !service.try_calls {
        return Err(WebRtcError::TryOff);
    }
    if service.setup.drain.is_draining() {
        return Err(WebRtcError::Draining);
    }
    let (answer, parts) = accept_offer(service, offer, control, to_page)?;
    let parts_advertised = parts.advertised;
    let mut setup = service.setup.clone();
    setup.identity = crate::call::tools::CallIdentity::mint("webrtc", "browser", "browser", "try");
    if let Some(agents) = &service.agents {
        let context = crate::agents::CallContext {
            caller: "browser",
            called: "",
            trunk: crate::config::routing::WEBRTC_TRUNK,
        };
        let Some(agent) = agents.route(&context) else {
            return Err(WebRtcError::NoRoute);
        };
        agent.prepare(&mut setup, &context, jiff::Timestamp::now());
    }
    // Frames leave at their slot and the browser's jitter buffer holds
    // about 40 ms more: what was released less that was heard.
    setup.call.tracking = PlaybackTracking::Released { allowance_ms: 40 };
    let span = crate::telemetry::call_span(&setup.identity);
    let call_id = setup.identity.id.clone();
    // Counted until the call ends: a drain waits for it.
    let counted = setup.drain.call_started();
    let job: crate::workers::Job = Box::new(move || {
        Box::pin(
            async move {
                let _counted = counted;
                let driver = CallDriver::prewarm(setup);
                let mut leg = match WebRtcLeg::new(parts, driver.clock_start()) {
                    Ok(leg) => leg,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the WebRTC leg");
                        return;
                    }
                };
                driver.run(&mut leg).await;
                use crate::call::leg::CallerLeg;
                leg.hang_up().await;
            }
            .instrument(span),
        )
    });
    service
        .workers
        .spawn(job)
        .map_err(|e| WebRtcError::Worker(e.to_string()))?;
    tracing::info!(%call_id, advertised = %parts_advertised, "WebRTC call accepted");
    Ok(answer)
}

/// Accepts a browser's offer on a fresh media port: the SDP answer, and
/// the parts a leg (caller or linked) is built from.
fn accept_offer(
    service: &WebRtcService,
    offer: &str,
    control: mpsc::Receiver<Control>,
    to_page: mpsc::Sender<ServerMessage>,
) -> Result<(String, WebRtcParts), WebRtcError> {
    accept_sdp(&service.ports, service.public_ip, offer, control, to_page)
}

/// [`accept_offer`] on `ports`, advertising `public_ip` (the rep's
/// softphone has no `WebRtcService` of its own).
fn accept_sdp(
    ports: &ports::PortRange,
    public_ip: IpAddr,
    offer: &str,
    control: mpsc::Receiver<Control>,
    to_page: mpsc::Sender<ServerMessage>,
) -> Result<(String, WebRtcParts), WebRtcError> {
    let offer = str0m::change::SdpOffer::from_sdp_string(offer)
        .map_err(|e| WebRtcError::Offer(e.to_string()))?;
    let socket = ports.bind()?;
    let port = socket.local_addr().map_err(WebRtcError::Socket)?.port();
    let advertised = SocketAddr::new(public_ip, port);
    crate::tls::install_crypto_provider();
    let now = std::time::Instant::now();
    let mut rtc = str0m::Rtc::builder()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true, false)
        .build(now);
    let candidate = str0m::Candidate::host(advertised, "udp")
        .map_err(|e| WebRtcError::Offer(format!("bad local candidate {advertised}: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| WebRtcError::Offer(e.to_string()))?;
    Ok((
        answer.to_sdp_string(),
        WebRtcParts {
            rtc,
            socket,
            advertised,
            control,
            to_page,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{Drain, DrainPhase};

    fn service(drain: Drain) -> WebRtcService {
        let config = crate::config::Config::default();
        WebRtcService {
            workers: MediaWorkers::start(1).expect("a media worker"),
            setup: CallSetup {
                tool_entries: None,
                backend: crate::ingress::twilio::server::Backend::Demo(Default::default()),
                session: crate::app::session_config(&config),
                call: crate::call::CallConfig::default(),
                ingress: "webrtc",
                drain,
                identity: crate::call::tools::CallIdentity::mint("webrtc", "template", "", ""),
                tools: None,
                events: None,
                registry: None,
            },
            agents: None,
            ports: ports::PortRange::new(IpAddr::from([127, 0, 0, 1]), 40_000, 40_999),
            public_ip: IpAddr::from([127, 0, 0, 1]),
            admin: crate::http::admin::AdminToken::new(None),
            audit: crate::audit::Audit::off(),
            try_calls: true,
        }
    }

    #[test]
    fn a_draining_server_refuses_new_browser_calls() {
        let drain = Drain::default();
        drain.advance(DrainPhase::Draining);
        let (_control_tx, control_rx) = mpsc::channel(1);
        let (page_tx, _page_rx) = mpsc::channel(1);
        let result = start_call(&service(drain), "v=0", control_rx, page_tx);
        assert!(matches!(result, Err(WebRtcError::Draining)), "{result:?}");
    }

    #[test]
    fn an_offer_that_is_not_sdp_is_refused_saying_what_to_send() {
        let (_control_tx, control_rx) = mpsc::channel(1);
        let (page_tx, _page_rx) = mpsc::channel(1);
        let result = start_call(&service(Drain::default()), "hello", control_rx, page_tx);
        let Err(WebRtcError::Offer(_)) = &result else {
            panic!("{result:?}");
        };
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("Opus"), "{message}");
    }
}
