//! Pure audio primitives shared by every call.
//!
//! This module owns the audio path's building blocks: G.711 codecs, the
//! 20 ms [`Frame`](frame::Frame), resampling, voice activity detection, line
//! echo control ([`echo`]), the jitter buffer, DTMF, the playout pacer, the room [`mixer`] (one mix per leg of a call), and RTP/RTCP packets with their
//! reception statistics ([`rtp`]).
//!
//! It must never do I/O, never read a clock (time is always an argument),
//! and never allocate per frame on the hot path. It depends on nothing else
//! in warmline.

pub mod analysis;
pub mod dtmf;
pub mod echo;
pub mod frame;
pub mod g711;
pub mod halfband;
pub mod highpass;
pub mod jitter;
pub mod mixer;
pub mod pacer;
pub mod resample;
pub mod rtp;
pub mod vad;
