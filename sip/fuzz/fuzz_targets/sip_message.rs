//! Fuzzes the SIP message parser, the 400/505/513 answer and the stream
//! framer with arbitrary bytes.
//!
//! Properties, beyond "never panics":
//! - a message that parses serialises to bytes that parse back to an equal
//!   message (re-parsed with roomy limits: serialising writes `Name: value`
//!   and a Content-Length, which may add a few bytes or one header line);
//! - a parsed request (other than ACK) yields responses that parse;
//! - an error answer is one status line of 400, 505 or 513 with no bare CR,
//!   LF or NUL anywhere (no header injection through the reason phrase);
//! - stream framing never claims more bytes than it was given.
#![no_main]
//! The body is `warmline_sip::fuzzing::sip_message`, which the stable
//! regression test `sip/tests/fuzz_corpus.rs` runs over the seeds.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| warmline_sip::fuzzing::sip_message(data));
