//! Fuzzes the SDP parser and offer/answer with arbitrary bytes.
//!
//! Properties, beyond "never panics":
//! - an SDP that parses serialises to text that parses back equal;
//! - the answer we build to it (when there is one) parses back equal;
//! - an SDP compared with itself is a refresh.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use warmline_sip::sdp::{answer, classify_reoffer, LocalMedia, ReofferKind, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let text = sdp.to_string();
    let again = SessionDescription::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("serialised SDP does not parse: {e}\n{text}"));
    assert_eq!(again, sdp);

    let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40_000, 1);
    if let Ok(negotiated) = answer(&sdp, &local) {
        let ours = negotiated.answer.to_string();
        let back = SessionDescription::parse(ours.as_bytes())
            .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{ours}"));
        assert_eq!(back, negotiated.answer);
    }
    assert_eq!(classify_reoffer(&sdp, &sdp), ReofferKind::Refresh);
});
