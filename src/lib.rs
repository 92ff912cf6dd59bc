//! warmline: a realtime voice media server that lets AI agents answer phone
//! calls and hand them to people.
//!
//! The crate is split into rooms with one-way dependencies (see
//! `docs/ARCHITECTURE.md`):
//!
//! - [`media`] is pure audio code: codecs, frames, resampling, VAD, the
//!   jitter buffer, DTMF, RTP/RTCP and the playout pacer. It knows nothing
//!   else in the project, never does I/O and never reads a clock.
//! - [`call`] is one sans-IO state machine per call (playback tracking,
//!   barge-in, truncation, the model session's lifecycle), the caller-leg
//!   seam, and the driver task every call runs in.
//! - [`model`] is the realtime model seam: the OpenAI Realtime GA codec and
//!   session, the offline demo agent, the link tasks, and the conversion
//!   between telephony audio and a session's audio format.
//! - [`ingress`] brings callers in: Twilio Media Streams and SIP trunks
//!   (RTP), each as a caller leg of the same call driver.
//! - [`workers`] runs calls on media worker threads.
//! - [`app`] assembles the server from the configuration; [`config`]
//!   loads and validates the TOML configuration and its env overrides.
//! - [`http`] is the HTTP server: health, readiness, `/metrics`, and the
//!   Twilio routes merged in.
//! - [`telemetry`] sets up logging; [`metrics`] names the per-call figures
//!   and exports them for Prometheus.
//! - [`tools`] is the tool sidecar: `[[tools]]` webhooks (signed) and the
//!   built-ins, run on the main runtime beside the audio path; the call
//!   sees it only through [`call::tools`].
//! - [`drain`] is the graceful shutdown: the drain phase every call follows
//!   and the live-call count; [`refusals`] counts and rate-limits the logs
//!   of refused requests.
//! - [`tls`] owns the process-wide rustls crypto provider; [`random`] the
//!   one source of randomness for secrets and tokens.
//! - [`audit`] says who a request acts as and records supervisors'
//!   actions (through [`store`]'s writer, never blocking a request).

#![forbid(unsafe_code)]

pub mod agents;
pub mod app;
pub mod audit;
pub mod banner;
pub mod call;
pub mod config;
pub mod drain;
#[doc(hidden)]
pub mod fuzzing;
pub mod handoff;
pub mod http;
pub mod ingress;
pub mod media;
pub mod metrics;
pub mod model;
pub mod random;
pub mod recording;
pub mod refusals;
pub mod reload;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tools;
pub mod workers;
