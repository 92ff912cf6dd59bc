//! warmline: a realtime voice media server that lets AI agents answer phone
//! calls and hand them to people.
//!
//! The crate is split into rooms with one-way dependencies (see
//! `docs/ARCHITECTURE.md`):
//!
//! - [`media`] is pure audio code: codecs, frames, resampling, VAD, the
//!   jitter buffer, DTMF and the playout pacer. It knows nothing else in the
//!   project, never does I/O and never reads a clock.
//! - [`config`] loads and validates the TOML configuration.
//! - [`http`] is the axum server (health, readiness; later the webhooks).
//! - [`telemetry`] sets up logging; [`metrics`] names the per-call figures
//!   and exports them for Prometheus.
//! - [`tls`] owns the process-wide rustls crypto provider; [`random`] the
//!   one source of randomness for secrets and tokens.

#![forbid(unsafe_code)]

pub mod app;
pub mod call;
pub mod config;
pub mod http;
pub mod ingress;
pub mod media;
pub mod metrics;
pub mod model;
pub mod random;
pub mod telemetry;
pub mod tls;
pub mod workers;
