//! Fuzz target `rtp`: the body and its properties are
//! `warmline::fuzzing::rtp`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/rtp/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::rtp(data));
