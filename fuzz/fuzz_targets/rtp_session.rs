//! Fuzz target `rtp_session`: the body and its properties are
//! `warmline::fuzzing::rtp_session`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/rtp_session/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::rtp_session(data));
