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
    /// The call records' writer cannot start.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The recorder cannot start.
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
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
    /// The call records' sink, when `[store] enabled`: a shutdown lets it
    /// store or spool what is queued (bounded).
    pub store: Option<Arc<crate::store::writer::StoreSink>>,
    /// Reloads agents, routes and tools (SIGHUP; decision 0026).
    pub reloader: crate::reload::Reloader,
    /// The agents and routes, and the versions they ran with.
    pub agents: crate::agents::SharedAgents,
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
        long_silence: std::time::Duration::from_secs(config.call.long_silence_secs),
        survey: survey_config(config),
        announcement: prompt(
            "recording.announcement_wav",
            config.recording.announcement_wav.as_deref(),
        ),
        ..CallConfig::default()
    }
}

/// The post-call survey of `[csat]` (agents may switch it on or off).
fn survey_config(config: &Config) -> Option<crate::call::SurveyConfig> {
    let prompt = prompt("csat.prompt_wav", config.csat.prompt_wav.as_deref())?;
    Some(crate::call::SurveyConfig {
        enabled: config.csat.enabled,
        prompt,
        timeout: std::time::Duration::from_secs(config.csat.timeout_secs),
    })
}

/// A prompt `check` read already; a file that changed since is logged,
/// and the call goes without it.
fn prompt(key: &str, path: Option<&std::path::Path>) -> Option<Arc<Vec<i16>>> {
    let path = path?;
    crate::config::records::load_prompt(key, path)
        .map_err(|e| tracing::error!(error = %e, "prompt unusable: calls go without it"))
        .ok()
        .map(Arc::new)
}

/// The agents and routes of `config` (at start-up and on every reload).
pub fn build_agents(config: &Config, secrets: &Secrets) -> Result<crate::agents::Agents, AppError> {
    let backend = backend(config, secrets)?;
    // Each agent's backend: its own `backend`, else `[model]`'s.
    let backend_for = |kind: Option<ModelBackend>| match kind {
        None => Some(backend.clone()),
        Some(kind) => {
            let mut with = config.clone();
            with.model.backend = kind;
            self::backend(&with, secrets).ok()
        }
    };
    Ok(crate::agents::Agents::build(
        config,
        &session_config(config),
        &backend_for,
    )?)
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
    let mut call = call_config(config, &session);
    // One writer thread records every recorded call, off the audio path.
    let recorder = crate::recording::Recorder::start(crate::recording::RecorderSettings {
        dir: config.recording.dir.clone(),
        retention_days: config.recording.retention_days,
    })?;
    call.recorder = Some(recorder.clone() as crate::call::recording::SharedRecorder);
    if config.effective_agents().iter().any(|a| a.record)
        || config.sip.trunks.iter().any(|t| t.record)
    {
        crate::recording::prepare_dir(&config.recording.dir);
    }
    let agents = Arc::new(build_agents(config, secrets)?);
    crate::metrics::register_agents(agents.ids().iter().map(String::as_str));
    // Tool I/O runs on the runtime that builds the app (the main,
    // multi-threaded one), never on a media worker. Built outside a
    // runtime (unit tests), calls get no tools.
    // Reps and warm transfer (decision 0028): with [[reps]],
    // escalate_to_human rings them and /rep serves their softphone.
    // The live-call registry every call registers in, served by the
    // admin API (docs/API.md); warm transfers find calls' rooms in it.
    let registry: crate::call::registry::SharedRegistry =
        Arc::new(crate::call::registry::InProcessRegistry::new());
    let handoff = (!config.reps.is_empty()).then(|| handoff_service(config, &registry));
    let sidecar = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let sidecar = crate::tools::Sidecar::new(
                &config.tools,
                &|name| std::env::var(name).ok(),
                runtime,
            )?;
            let sidecar = match &handoff {
                Some(h) => sidecar.with_escalator(Arc::new(h.clone())),
                None => sidecar,
            };
            // Blind transfers (decision 0033) reach calls through the registry.
            let transfers =
                crate::tools::transfer::Transfers::new(config, &|name| std::env::var(name).ok());
            if let Some(warning) = transfers.as_ref().and_then(|t| t.twilio_warning()) {
                tracing::warn!("{warning}");
            }
            let sidecar = sidecar
                .with_transfers(transfers)
                .with_registry(Some(registry.clone()));
            Some(Arc::new(crate::tools::reload::ReloadableSidecar::new(
                sidecar,
            )))
        }
        Err(_) => None,
    };
    let approval_registry = sidecar
        .as_ref()
        .map(|s| s.current().approvals().clone())
        .unwrap_or_default();
    let reloader = crate::reload::Reloader::new(config, secrets, agents.clone(), sidecar.clone());
    let tools: Option<crate::call::tools::SharedSidecar> =
        sidecar.map(|s| s as crate::call::tools::SharedSidecar);
    // One credential check for every admin route and the `join`: the
    // admin token or a supervisor's session (decision 0038), sharing one
    // bucket of refused attempts.
    let admin = crate::http::admin::AdminToken::new(secrets.admin_token.as_deref()).with_sessions(
        crate::http::sessions::Sessions::new(
            Arc::new(crate::http::sessions::InMemorySessions::default()),
            random.clone(),
        ),
    );
    let recordings = crate::http::recordings::routes(config.recording.dir.clone(), admin.clone());
    // Event deliveries run on the same runtime as the tools.
    let events = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => crate::tools::events::EventSink::new(
            &config.events,
            &|name| std::env::var(name).ok(),
            &runtime,
        )?,
        Err(_) => None,
    };
    // The call records (issue 16): a writer thread of their own, fed
    // through a bounded queue, never the media worker.
    let (store, history) = match config.store.enabled {
        true => {
            crate::store::writer::register_metrics(agents.ids().iter().map(String::as_str));
            let (sink, history) =
                crate::store::writer::StoreSink::start(&config.store, &|n| std::env::var(n).ok())?;
            (Some(sink), Some(history))
        }
        false => (None, None),
    };
    let call_events = crate::call::events::FanOut::of(
        events
            .clone()
            .map(|sink| sink as crate::call::events::SharedEvents)
            .into_iter()
            .chain(
                store
                    .clone()
                    .map(|sink| sink as crate::call::events::SharedEvents),
            )
            .collect(),
    );
    // Supervisors' actions go through the same writer as call records
    // (decision 0038); with the store off, to the log only.
    let audit = match &store {
        Some(sink) => crate::audit::Audit::new(sink.clone()),
        None => crate::audit::Audit::off(),
    };
    // The approval API serves the sidecar's registry (an empty one without
    // a sidecar), behind the admin credentials.
    let approvals = crate::tools::approval::api::routes_with_audit(
        approval_registry,
        admin.clone(),
        audit.clone(),
    );
    // The desk's inbox (decision 0037): escalations in progress and the
    // records' callbacks and hand-overs.
    let inbox_api = crate::http::inbox::routes(
        registry.clone(),
        history.clone(),
        handoff.clone(),
        admin.clone(),
        audit.clone(),
    );
    let calls_api = crate::http::calls::routes_with_history(
        registry.clone(),
        state.drain().clone(),
        admin.clone(),
        history.clone(),
        audit.clone(),
    );
    // The desk's figures, aggregated by the store (decision 0036).
    let analytics_api = crate::http::analytics::routes(history.clone(), admin.clone());
    let supervisors = crate::http::sessions::api::routes(admin.clone(), audit.clone())
        .merge(crate::http::audit::routes(history, admin.clone()));
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
        // Reps' phones register here; the rep leg reads their contacts
        // through `sip.registrations` (decision 0032).
        let mut sip = sip.with_reps(
            &config.reps,
            &|name| std::env::var(name).ok(),
            handoff.clone(),
        )?;
        // Reps on SIP phones are rung from this endpoint (decision 0034):
        // a registered phone first, then the rep's static `sip_uri`.
        if let Some(handoff) = handoff.as_ref() {
            let phones = config
                .reps
                .iter()
                .any(|r| r.sip_uri.is_some() || r.sip_password_env.is_some());
            if phones {
                let card_base = config
                    .twilio
                    .public_base_url
                    .as_deref()
                    // `https://host/` must not give `https://host//rep/…`.
                    .map(|base| base.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| format!("http://{}", config.server.http_listen));
                let reps = crate::ingress::sip::rep::SipReps::from_config(
                    handoff.clone(),
                    &config.reps,
                    &config.sip.outbound,
                    &|name| std::env::var(name).ok(),
                    (&config.handoff.sip_hand_back_dtmf, &card_base),
                )
                .with_targets_first(sip.registrations.targets());
                sip.reps = Some(reps);
            }
        }
        Some(sip)
    } else {
        None
    };
    // `/webrtc/ws` is always served: a browser joining a live call (the
    // supervisor's desk) needs the admin token, not `/try`; a browser
    // calling the agent on its own needs `[web] try`.
    let webrtc = {
        let shared = (&tools, &call_events, &registry, &agents);
        let mut webrtc =
            webrtc_service(config, &workers, &backend, &session, &call, &state, shared);
        webrtc.try_calls = config.web.try_access.enabled(config.server.http_listen);
        if webrtc.try_calls {
            tracing::info!(public_ip = %webrtc.public_ip, "/try is on: browsers can call the agent");
        }
        Some(webrtc)
    };
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
        .with_agents(agents.clone())
        .with_events(call_events)
        .with_registry(Some(registry)),
    );
    let mut router = crate::http::router(state)
        .merge(routes(service))
        .merge(approvals)
        .merge(calls_api)
        .merge(analytics_api)
        .merge(supervisors)
        .merge(inbox_api)
        .merge(recordings)
        // The supervisor's desk holds no data: it reads the API with the
        // admin token its user types in (decision 0030).
        .merge(crate::http::dashboard::routes());
    if let Some(mut webrtc) = webrtc {
        // A browser joining a live call shows the admin token or a
        // session's (0024, 0038); the join is audited.
        webrtc.admin = admin.clone();
        webrtc.audit = audit.clone();
        router = router.merge(crate::ingress::webrtc::routes(Arc::new(webrtc)));
    }
    if let Some(handoff) = handoff {
        // The rep's audio joins the calls they accept (decision 0029).
        let (public_ip, ports) = webrtc_media(config);
        let audio = crate::ingress::webrtc::rep_audio::RepAudio { ports, public_ip };
        router = router.merge(crate::ingress::webrtc::rep::routes_with_audio(
            handoff, audio,
        ));
    }
    // Security headers on every page and API answer (issue 19).
    let router = crate::http::security::with_security_headers(router);
    Ok(App {
        router,
        backend: backend_name,
        sip,
        events,
        store,
        reloader,
        agents,
    })
}

/// Reps, presence and queues of this process; escalations reach the
/// rooms of the calls in `registry` (decision 0029).
fn handoff_service(
    config: &Config,
    registry: &crate::call::registry::SharedRegistry,
) -> crate::handoff::Handoff {
    let directory = crate::handoff::InProcessDirectory::new(
        &config.reps,
        std::time::Duration::from_secs(config.handoff.wrap_up_secs),
        &|var| std::env::var(var).ok(),
    );
    let skills = config
        .agents
        .iter()
        .filter_map(|a| Some((a.id.clone(), a.skill.clone()?)))
        .collect();
    // `check` validated the files; a file gone since keeps the built-ins.
    let prompts = crate::handoff::HoldPrompts::from_config(&config.handoff).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "hold prompts unreadable; using the built-in ones");
        crate::handoff::HoldPrompts::builtin()
    });
    let media = Arc::new(crate::handoff::RepMedia::default());
    let rooms =
        crate::handoff::LiveRooms::new(registry.clone(), Arc::new(prompts.clone()), media.clone());
    crate::handoff::Handoff::new(
        Arc::new(directory),
        Arc::new(crate::handoff::RepHub::default()),
        Arc::new(rooms),
        crate::handoff::EscalationConfig::from(&config.handoff),
        skills,
    )
    .with_hold_prompts(prompts)
    .with_rep_media(media)
}

/// The address browsers are offered and the UDP ports WebRTC legs bind
/// (`[webrtc]`): browser callers on `/try` and reps' audio.
fn webrtc_media(config: &Config) -> (std::net::IpAddr, crate::ingress::webrtc::ports::PortRange) {
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
    let ports = crate::ingress::webrtc::ports::PortRange::new(
        bind,
        config.webrtc.udp_port_min,
        config.webrtc.udp_port_max,
    );
    (public_ip, ports)
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
    (tools, events, registry, agents): (
        &Option<crate::call::tools::SharedSidecar>,
        &Option<crate::call::events::SharedEvents>,
        &crate::call::registry::SharedRegistry,
        &crate::agents::SharedAgents,
    ),
) -> crate::ingress::webrtc::WebRtcService {
    let (public_ip, ports) = webrtc_media(config);
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
        agents: Some(agents.clone()),
        ports,
        public_ip,
        admin: crate::http::admin::AdminToken::new(None),
        audit: crate::audit::Audit::off(),
        try_calls: false,
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
