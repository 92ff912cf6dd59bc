//! Fuzz target `openai_event`: the body and its properties are
//! `warmline::fuzzing::openai_event`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/openai_event/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::openai_event(data));
