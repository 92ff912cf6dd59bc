//! Fuzzes the SDP parser and offer/answer with arbitrary bytes.
//!
//! Properties, beyond "never panics":
//! - an SDP that parses serialises to text that parses back equal;
//! - the answer we build to it (when there is one) parses back equal;
//! - an SDP compared with itself is a refresh.
#![no_main]
//! The body is `warmline_sip::fuzzing::sdp`, which the stable
//! regression test `sip/tests/fuzz_corpus.rs` runs over the seeds.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline_sip::fuzzing::sdp(data));
