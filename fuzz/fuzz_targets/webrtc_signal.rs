//! Fuzz target `webrtc_signal`: the body and its properties are
//! `warmline::fuzzing::webrtc_signal`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/webrtc_signal/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::webrtc_signal(data));
