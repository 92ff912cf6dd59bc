//! Fuzz target `rtcp`: the body and its properties are
//! `warmline::fuzzing::rtcp`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/rtcp/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::rtcp(data));
