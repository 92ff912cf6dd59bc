//! Fuzz target `twilio_stream`: the body and its properties are
//! `warmline::fuzzing::twilio_stream`; `tests/fuzz_corpus.rs` runs the same
//! function over `fuzz/corpus/twilio_stream/` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline::fuzzing::twilio_stream(data));
