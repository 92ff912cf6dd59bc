//! Assembles the server from the configuration: media workers, the model
//! backend, the Twilio routes and the HTTP router.

use std::sync::Arc;

use axum::Router;

use crate::call::driver::CallSetup;
use crate::call::model_audio::ModelAudioFormats;
use crate::call::CallConfig;
use crate::config::{Config, ModelAudioFormat, ModelBackend, Secrets};
use crate::http::AppState;
use crate::ingress::sip::SipService;
use crate::ingress::twilio::server::{routes, Backend, TwilioService};
use crate::model::link::{DemoRealtime, OpenAiRealtime};
use crate::model::{AudioFormat, SessionConfig, TurnDetection};
use crate::random::Random;
use crate::workers::MediaWorkers;

/// Errors assembling the server.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `model.backend = "openai"` without a key.
    #[error("model.backend is \"openai\" but OPENAI_API_KEY is not set")]
    MissingApiKey,
    /// Worker threads could not start.
    #[error(transparent)]
    Workers(#[from] crate::workers::WorkerError),
    /// The SIP ingress is misconfigured.
    #[error(transparent)]
    Sip(#[from] crate::ingress::sip::SipError),
    /// The operating system's random source failed at start-up.
    #[error("cannot start: {0}")]
    Random(#[from] crate::random::RandomError),
    /// A tool cannot be built.
    #[error(transparent)]
    Tools(#[from] crate::tools::ToolsError),
    /// An agent cannot be built.
    #[error(transparent)]
    Agents(#[from] crate::agents::AgentsError),
}

/// The assembled server, before it listens.
#[derive(Debug)]
pub struct App {
    /// HTTP routes (health, metrics, Twilio).
    pub router: Router,
    /// Which model backend answers: `demo` or `openai`.
    pub backend: &'static str,
    /// The SIP ingress, when `[sip] enabled`.
    pub sip: Option<crate::ingress::sip::SipService>,
    /// The call-events sink, when `[events] url` is set: a shutdown
    /// waits (bounded) for its queue to empty.
    pub events: Option<Arc<crate::tools::events::EventSink>>,
}

/// The session format `[model] audio_format` names.
pub fn model_audio_format(format: ModelAudioFormat) -> AudioFormat {
    match format {
        ModelAudioFormat::Pcmu => AudioFormat::Pcmu,
        ModelAudioFormat::Pcm24k => AudioFormat::Pcm16 { rate: 24_000 },
    }
}

/// The model session settings every call uses.
pub fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        model: config.model.openai_model.clone(),
        instructions: config.model.instructions.clone(),
        voice: config.model.openai_voice.clone(),
        input_format: model_audio_format(config.model.audio_format),
        output_format: model_audio_format(config.model.audio_format),
        turn_detection: TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        },
        tools: crate::tools::specs(&config.tools),
        transcription_model: Some("gpt-4o-mini-transcribe".into()),
        language: None,
        noise_reduction: None,
    }
}

/// The call settings every call uses, Twilio and SIP alike (the SIP leg
/// sets its own playback tracking), for sessions opened with `session`.
pub fn call_config(config: &Config, session: &SessionConfig) -> CallConfig {
    CallConfig {
        vad: config.media.caller_vad(),
        model_audio: ModelAudioFormats {
            input: session.input_format,
            output: session.output_format,
        },
        unavailable_prompt: crate::model::demo::unavailable_prompt().ok().map(Arc::new),
        turn: config.turn.to_call(),
        filler: filler_config(config),
        silence_reprompt_secs: config.call.silence_reprompt_secs,
        silence_hangup_secs: config.call.silence_hangup_secs,
        ..CallConfig::default()
    }
}

/// The filler of every call: `[[tools]] filler_after_ms` per tool (700 ms
/// for the built-ins without a table) and `[call] filler_wav`.
fn filler_config(config: &Config) -> crate::call::FillerConfig {
    let prompt = config.call.filler_wav.as_deref().and_then(|path| {
        // `check` read it already; a file that changed since is logged,
        // and the tone alone plays.
        crate::config::call::load_filler_wav(path)
            .map_err(|e| tracing::error!(error = %e, "filler prompt unusable: the working tone plays alone"))
            .ok()
    });
    crate::call::FillerConfig {
        after_per_tool: config
            .tools
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    std::time::Duration::from_millis(t.filler_after_ms),
                )
            })
            .collect(),
        prompt: prompt.map(Arc::new),
        ..crate::call::FillerConfig::default()
    }
}

/// The model backend `[model] backend` and the environment select.
pub fn backend(config: &Config, secrets: &Secrets) -> Result<Backend, AppError> {
    Ok(match (config.model.backend, &secrets.openai_api_key) {
        (ModelBackend::Openai, None) => return Err(AppError::MissingApiKey),
        (ModelBackend::Openai | ModelBackend::Auto, Some(key)) => Backend::OpenAi(OpenAiRealtime {
            url: config.model.openai_url.clone(),
            api_key: key.clone(),
        }),
        (ModelBackend::Demo, _) | (ModelBackend::Auto, None) => Backend::Demo(DemoRealtime),
    })
}

/// Builds the routes and the SIP service; says which backend answers.
/// Trunk digest passwords are read from the process environment.
pub fn build(config: &Config, secrets: &Secrets, state: AppState) -> Result<App, AppError> {
    build_with_random(config, secrets, state, crate::random::system())
}

/// [`build`] with the random source given. A source that fails here stops
/// start-up: tokens and the nonce secret are never made without it.
pub fn build_with_random(
    config: &Config,
    secrets: &Secrets,
    state: AppState,
    random: Random,
) -> Result<App, AppError> {
    crate::random::check(&*random)?;
    let backend = backend(config, secrets)?;
    let backend_name = match backend {
        Backend::Demo(_) => "demo",
        Backend::OpenAi(_) => "openai",
        Backend::Custom(_) => "custom",
    };
    if secrets.twilio_auth_token.is_none() && config.twilio.insecure_skip_signature {
        tracing::warn!("!!! twilio.insecure_skip_signature is on: Twilio requests are NOT authenticated. Development only. !!!");
    }
    let workers = MediaWorkers::start(std::thread::available_parallelism().map_or(2, |n| n.get()))?;
    let mut session = session_config(config);
    if let Backend::Demo(_) = backend {
        // The demo agent runs in-process and speaks μ-law: resampling to
        // and from it would cost CPU for nothing.
        if config.model.audio_format != ModelAudioFormat::Pcmu {
            tracing::info!("model.audio_format applies to OpenAI; the demo agent speaks μ-law");
        }
        session.input_format = AudioFormat::Pcmu;
        session.output_format = AudioFormat::Pcmu;
    }
    let call = call_config(config, &session);
    // Each agent's backend: its own `backend`, else `[model]`'s.
    let backend_for = |kind: Option<ModelBackend>| match kind {
        None => Some(backend.clone()),
        Some(kind) => {
            let mut with = config.clone();
            with.model.backend = kind;
            self::backend(&with, secrets).ok()
        }
    };
    let agents = Arc::new(crate::agents::Agents::build(
        config,
        &session_config(config),
        &backend_for,
    )?);
    crate::metrics::register_agents(agents.ids());
    // Tool I/O runs on the runtime that builds the app (the main,
    // multi-threaded one), never on a media worker. Built outside a
    // runtime (unit tests), calls get no tools.
    let sidecar = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => Some(crate::tools::Sidecar::new(
            &config.tools,
            &|name| std::env::var(name).ok(),
            runtime,
        )?),
        Err(_) => None,
    };
    // The approval API serves the sidecar's registry (an empty one without
    // a sidecar), behind WARMLINE_ADMIN_TOKEN.
    let approvals = crate::tools::approval::api::routes(
        sidecar
            .as_ref()
            .map(|s| s.approvals().clone())
            .unwrap_or_default(),
        crate::http::admin::AdminToken::new(secrets.admin_token.as_deref()),
    );
    let tools: Option<crate::call::tools::SharedSidecar> =
        sidecar.map(|s| Arc::new(s) as crate::call::tools::SharedSidecar);
    // Event deliveries run on the same runtime as the tools.
    let events = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => crate::tools::events::EventSink::new(
            &config.events,
            &|name| std::env::var(name).ok(),
            &runtime,
        )?,
        Err(_) => None,
    };
    let call_events = events
        .clone()
        .map(|sink| sink as crate::call::events::SharedEvents);
    // The live-call registry every call registers in, served by the
    // admin API (docs/API.md).
    let registry: crate::call::registry::SharedRegistry =
        Arc::new(crate::call::registry::InProcessRegistry::new());
    let calls_api = crate::http::calls::routes(
        registry.clone(),
        state.drain().clone(),
        crate::http::admin::AdminToken::new(secrets.admin_token.as_deref()),
    );
    let sip = if config.sip.enabled {
        let setup = CallSetup {
            tool_entries: None,
            backend: backend.clone(),
            session: session.clone(),
            call: call.clone(),
            ingress: "sip",
            drain: state.drain().clone(),
            // Each call mints its own (ingress/sip/invite.rs).
            identity: crate::call::tools::CallIdentity::mint("sip", "template", "", ""),
            tools: tools.clone(),
            events: call_events.clone(),
            registry: Some(registry.clone()),
        };
        let mut sip = SipService::with_random(
            config.sip.clone(),
            workers.clone(),
            setup,
            |name| std::env::var(name).ok(),
            random.clone(),
        )?;
        sip.jitter = config.media.jitter();
        sip.agents = Some(agents.clone());
        Some(sip)
    } else {
        None
    };
    let webrtc = config
        .web
        .try_access
        .enabled(config.server.http_listen)
        .then(|| {
            let shared = (&tools, &call_events, &registry);
            webrtc_service(config, &workers, &backend, &session, &call, &state, shared)
        });
    let service = Arc::new(
        TwilioService::new(
            secrets.twilio_auth_token.clone(),
            config.twilio.public_base_url.clone(),
            config.twilio.insecure_skip_signature,
            workers,
            backend,
            session,
            call,
        )
        .with_drain(state.drain().clone())
        .with_random(random)
        .with_tools(tools)
        .with_agents(agents)
        .with_events(call_events)
        .with_registry(Some(registry)),
    );
    let mut router = crate::http::router(state)
        .merge(routes(service))
        .merge(approvals)
        .merge(calls_api);
    if let Some(webrtc) = webrtc {
        router = router.merge(crate::ingress::webrtc::routes(Arc::new(webrtc)));
    }
    // Security headers on every page and API answer (issue 19).
    let router = crate::http::security::with_security_headers(router);
    Ok(App {
        router,
        backend: backend_name,
        sip,
        events,
    })
}

/// The browser leg's service (`/try` and `/webrtc/ws`): calls get the
/// `[model]` agent, media ports from `[webrtc]`.
fn webrtc_service(
    config: &Config,
    workers: &MediaWorkers,
    backend: &Backend,
    session: &crate::model::SessionConfig,
    call: &CallConfig,
    state: &AppState,
    (tools, events, registry): (
        &Option<crate::call::tools::SharedSidecar>,
        &Option<crate::call::events::SharedEvents>,
        &crate::call::registry::SharedRegistry,
    ),
) -> crate::ingress::webrtc::WebRtcService {
    use std::net::{IpAddr, Ipv4Addr};
    let mut public_ip = config
        .webrtc
        .advertised_ip(config.sip.public_ip, config.server.http_listen);
    if public_ip.is_unspecified() {
        tracing::warn!(
            "HTTP listens on a wildcard and neither [webrtc] nor [sip] sets public_ip: \
             browsers are offered 127.0.0.1, which works only on this machine"
        );
        public_ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    // Loopback for a local try-out; otherwise every interface (the public
    // address may be a NAT's, not ours).
    let bind = if public_ip.is_loopback() {
        public_ip
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    tracing::info!(%public_ip, "/try is on: browsers can call the agent");
    crate::ingress::webrtc::WebRtcService {
        workers: workers.clone(),
        setup: CallSetup {
            tool_entries: None,
            backend: backend.clone(),
            session: session.clone(),
            call: call.clone(),
            ingress: "webrtc",
            drain: state.drain().clone(),
            // Each call mints its own (ingress/webrtc/mod.rs).
            identity: crate::call::tools::CallIdentity::mint("webrtc", "template", "", ""),
            tools: tools.clone(),
            events: events.clone(),
            registry: Some(registry.clone()),
        },
        ports: crate::ingress::webrtc::ports::PortRange::new(
            bind,
            config.webrtc.udp_port_min,
            config.webrtc.udp_port_max,
        ),
        public_ip,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::random::FailingRandom;

    #[test]
    fn a_failing_random_source_stops_start_up_saying_what_to_do() {
        let config = Config::default();
        let secrets = Secrets::from_env(std::iter::empty());
        let error = build_with_random(&config, &secrets, AppState::new(), Arc::new(FailingRandom))
            .expect_err("start-up must fail");
        assert!(matches!(error, AppError::Random(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("random source failed"), "{message}");
        assert!(message.contains("getrandom"), "{message}");
    }

    #[test]
    fn the_sip_service_refuses_to_start_without_a_nonce_secret() {
        let mut config = Config::default();
        config.sip.enabled = true;
        let setup = CallSetup {
            tool_entries: None,
            backend: Backend::Demo(Default::default()),
            session: session_config(&config),
            call: CallConfig::default(),
            ingress: "sip",
            drain: crate::drain::Drain::default(),
            identity: crate::call::tools::CallIdentity::mint("sip", "template", "", ""),
            tools: None,
            events: None,
            registry: None,
        };
        let workers = MediaWorkers::start(1).expect("a media worker");
        let error = SipService::with_random(
            config.sip.clone(),
            workers,
            setup,
            |_| None,
            Arc::new(FailingRandom),
        )
        .expect_err("no SIP without a secret");
        assert!(
            matches!(error, crate::ingress::sip::SipError::Random(_)),
            "{error:?}"
        );
        assert!(error.to_string().contains("digest-nonce secret"), "{error}");
    }
}
