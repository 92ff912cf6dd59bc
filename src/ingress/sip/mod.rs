//! SIP trunk ingress: the tokio shell around the sans-IO `warmline-sip`
//! crate, and RTP media for each call.
//!
//! - [`transport`]: UDP and TCP sockets; [`tcp`]: a task per TCP
//!   connection (framing, reuse, connects off the endpoint task, accept
//!   backoff); [`tls`]: SIP over TLS on the same stream connections,
//!   certificate reloaded on SIGHUP; [`outbound_tls`]: the TLS trunks of
//!   `[[sip.outbound]]` and the verified client handshake toward them.
//! - [`endpoint`]: the task that owns the transaction layer and dialogs;
//!   [`calls`]: its calls indexed by dialog and by next deadline.
//! - [`invite`]: admitting, answering and re-negotiating calls.
//! - [`trunk`]: allow-lists and digest authentication.
//! - [`registrations`]: reps' SIP phones registering (decision 0032), and
//!   the [`Registrations`](registrations::Registrations) handle the rep
//!   leg reads their contacts through; [`inbound_refer`]: REFERs from
//!   trunks, refused.
//! - [`rtp_session`], [`leg`], [`ports`]: each call's RTP/RTCP as a caller
//!   leg of the call driver, on a media worker.
//!
//! A SIP call gets what a Twilio call gets — pre-warmed model session,
//! greeting, barge-in, truncation, tools, the demo agent — because it is
//! the same [`CallDriver`](crate::call::driver::CallDriver) with a
//! different leg. Our pacer owns the RTP clock, so truncation counts the
//! frames actually sent.

pub mod calls;
pub mod endpoint;
pub mod inbound_refer;
pub mod invite;
pub mod leg;
pub mod outbound_tls;
pub mod ports;
pub mod registrations;
pub mod rep;
pub mod route;
pub mod rtp_session;
pub mod send_clock;
pub mod srtp;
pub mod srtp_offer;
pub mod tcp;
pub mod tls;
pub mod transport;
pub mod trunk;
pub mod uac;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::call::driver::CallSetup;
use crate::call::CallConfig;
use crate::config::SipConfig;
use crate::media::jitter::JitterConfig;
use crate::model::link::Backend;
use crate::model::SessionConfig;
use crate::random::{Random, RandomError, RandomSource};
use crate::workers::MediaWorkers;
use ports::RtpPorts;
use trunk::{Trunk, TrunkError};

/// Everything the SIP endpoint needs, shared with its tasks.
#[derive(Debug)]
pub struct SipService {
    /// `[sip]`.
    pub config: SipConfig,
    /// Trunks, in configuration order (the first that covers a source wins).
    pub trunks: Vec<Trunk>,
    /// RTP ports.
    pub ports: RtpPorts,
    /// Where calls run.
    pub workers: MediaWorkers,
    /// Puts every call's RTP on the wire at its slot.
    pub send_clock: send_clock::SendClock,
    /// The model backend.
    pub backend: Backend,
    /// Model session settings.
    pub session: SessionConfig,
    /// Call settings.
    pub call: CallConfig,
    /// Each call's jitter buffer (`[media] jitter_min_ms`/`jitter_max_ms`;
    /// the law is negotiated per call).
    pub jitter: JitterConfig,
    /// The process's drain: new calls and OPTIONS get 503 while it drains.
    pub drain: crate::drain::Drain,
    /// Where tags, branches, SSRCs and the nonce secret come from.
    pub random: Random,
    /// Runs the calls' tools (from the setup given at start).
    pub tools: Option<crate::call::tools::SharedSidecar>,
    /// Who answers which call (decision 0020); `None`: every call gets
    /// the setup's session, as before agents.
    pub agents: Option<crate::agents::SharedAgents>,
    /// Hears each call start and end (from the setup given at start).
    pub events: Option<crate::call::events::SharedEvents>,
    /// Lists each call while it is live (from the setup given at start).
    pub registry: Option<crate::call::registry::SharedRegistry>,
    /// Where SIP over TLS listens, once [`start`] bound it (the port that
    /// goes into Contact for calls that came over TLS).
    pub tls_local: Option<SocketAddr>,
    /// Reps' phones registered with us; no rep can register until
    /// [`SipService::with_reps`] names them.
    pub registrations: registrations::Registrations,
    /// Places calls from this endpoint (reps' phones, decision 0034).
    pub outbound: uac::Outbound,
    /// The endpoint's end of `outbound`, taken when it starts.
    pub(crate) outbound_requests:
        std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<uac::Request>>>,
    /// The SIP reps to ring from this endpoint, started with it.
    pub reps: Option<rep::SipReps>,
}

/// Why the SIP ingress cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// A trunk is misconfigured.
    #[error(transparent)]
    Trunk(#[from] TrunkError),
    /// The random source failed, so no digest-nonce secret can be made.
    #[error("cannot make the SIP digest-nonce secret: {0}")]
    Random(#[from] RandomError),
    /// The SIP TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A `[[sip.outbound]]` TLS entry's name or roots are unusable.
    #[error(transparent)]
    OutboundTls(#[from] outbound_tls::OutboundTlsError),
    /// The registrar's settings are unusable.
    #[error(transparent)]
    Registrations(#[from] registrations::RegistrationsError),
    /// The SIP port could not be bound.
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SipService {
    /// Builds the service; digest passwords are read through `env`.
    pub fn new(
        config: SipConfig,
        workers: MediaWorkers,
        setup: CallSetup,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SipService, SipError> {
        SipService::with_random(config, workers, setup, env, crate::random::system())
    }

    /// [`SipService::new`] with its random source given. A source that
    /// fails here is fatal: the nonce secret must never be predictable.
    pub fn with_random(
        config: SipConfig,
        workers: MediaWorkers,
        setup: CallSetup,
        env: impl Fn(&str) -> Option<String>,
        random: Random,
    ) -> Result<SipService, SipError> {
        let mut secret = [0u8; 32];
        random.fill(&mut secret)?;
        let trunks = config
            .trunks
            .iter()
            .map(|t| Trunk::new(t.clone(), &secret, &env))
            .collect::<Result<Vec<_>, _>>()?;
        let rtp_ip = match config.listen.ip() {
            ip if ip.is_unspecified() => ip,
            ip => ip,
        };
        let send_clock = send_clock::SendClock::new(config.rtp_send_realtime);
        let registrations = registrations::Registrations::new(&config, &[], &secret, &env)?;
        let (outbound, outbound_requests) = uac::Outbound::new();
        Ok(SipService {
            outbound,
            outbound_requests: std::sync::Mutex::new(Some(outbound_requests)),
            reps: None,
            ports: RtpPorts::new(rtp_ip, config.rtp_port_min, config.rtp_port_max),
            trunks,
            config,
            workers,
            send_clock,
            backend: setup.backend,
            session: setup.session,
            call: setup.call,
            jitter: JitterConfig::default(),
            drain: setup.drain,
            tools: setup.tools,
            agents: None,
            events: setup.events,
            registry: setup.registry,
            random,
            tls_local: None,
            registrations,
        })
    }

    /// Lets `reps` (those with `sip_password_env`, read through `env`)
    /// register their SIP phones, and tells `handoff`'s directory when
    /// they do. The handle to their contacts is
    /// [`SipService::registrations`].
    pub fn with_reps(
        mut self,
        reps: &[crate::config::RepConfig],
        env: &dyn Fn(&str) -> Option<String>,
        handoff: Option<crate::handoff::Handoff>,
    ) -> Result<SipService, SipError> {
        let mut secret = [0u8; 32];
        self.random.fill(&mut secret)?;
        let mut registrations =
            registrations::Registrations::new(&self.config, reps, &secret, env)?;
        if let Some(handoff) = handoff {
            registrations = registrations.with_handoff(handoff);
        }
        self.registrations = registrations;
        Ok(self)
    }

    /// The address to put in SDP and Contact for a peer at `peer`: the
    /// configured public IP, the listen address, or (listening on any
    /// address) the local address the kernel routes to the peer from.
    pub fn advertised_ip(&self, peer: SocketAddr) -> IpAddr {
        if let Some(ip) = self.config.public_ip {
            return ip;
        }
        let listen = self.config.listen.ip();
        if !listen.is_unspecified() {
            return listen;
        }
        let probe = if peer.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        std::net::UdpSocket::bind(probe)
            .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()))
            .map(|a| a.ip())
            .unwrap_or(listen)
    }
}

/// Starts the SIP listener (UDP and TCP, and TLS when `[sip] tls_listen`
/// is set) and its endpoint task; returns the bound UDP/TCP address.
pub async fn start(mut service: SipService) -> Result<SocketAddr, SipError> {
    let listen = service.config.listen;
    let tls_peers = Arc::new(outbound_tls::TlsPeers::from_config(
        &service.config.outbound,
    )?);
    let bound = transport::bind(listen, tls_peers)
        .await
        .map_err(|source| SipError::Bind {
            addr: listen,
            source,
        })?;
    let local = bound.local;
    service.tls_local = start_tls(&service.config, &bound.sender).await?;
    let reps = service.reps.take();
    let service = Arc::new(service);
    // The registrar brings registered phones' lines up through these; the
    // endpoint task keeps them alive (the registrar's handle is weak: the
    // lines hold the service, which holds the registrar).
    let lines = reps.map(|reps| reps.start(service.clone()));
    if let Some(lines) = &lines {
        service.registrations.set_lines(lines.downgrade());
    }
    tokio::spawn(async move {
        let _lines = lines;
        endpoint::run(service, bound).await;
    });
    Ok(local)
}

/// Binds SIP over TLS when configured, with its SIGHUP reload; returns
/// where it listens.
async fn start_tls(
    config: &SipConfig,
    sender: &transport::Sender,
) -> Result<Option<SocketAddr>, SipError> {
    let (Some(addr), Some(cert), Some(key)) = (
        config.tls_listen,
        config.tls_cert_file.as_deref(),
        config.tls_key_file.as_deref(),
    ) else {
        return Ok(None);
    };
    let certs = Arc::new(tls::TlsCerts::load(cert, key)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SipError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SipError::Bind { addr, source })?;
    tokio::spawn(tls::acceptor(listener, certs.clone(), sender.tcp().clone()));
    tokio::spawn(tls::reload_on_sighup(certs));
    tracing::info!(tls = %local, "SIP over TLS listening");
    Ok(Some(local))
}

/// A fresh branch for a request of ours (RFC 3261 §8.1.1.7).
pub(crate) fn new_branch(random: &dyn RandomSource) -> Result<String, RandomError> {
    Ok(format!("z9hG4bK{}", crate::random::hex(random, 12)?))
}
