//! Fuzz target `srtp`: the body and its properties are
//! `warmline::fuzzing::srtp`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/srtp/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::srtp(data));
