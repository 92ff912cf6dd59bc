//! SDES offer/answer (RFC 4568) under each SRTP policy.

use super::super::*;
use super::*;
use std::net::IpAddr;

const OFFER: &str = include_str!("../../../fuzz/corpus/sdp/srtp_sdes_offer.sdp");
const PLAIN: &str = "v=0\r\no=peer 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const OUR_KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";

fn us(policy: Option<SrtpPolicy>) -> LocalMedia {
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    let mut local = LocalMedia::new(ip, 40002, 9876);
    local.srtp = policy.map(|policy| LocalSrtp {
        policy,
        inline_key: OUR_KEY.into(),
    });
    local
}

#[test]
fn an_sdes_offer_is_answered_with_our_key_on_the_first_usable_crypto_line() {
    for policy in [SrtpPolicy::Optional, SrtpPolicy::Required] {
        let n = answer(&sdp(OFFER), &us(Some(policy))).unwrap();
        let keys = n.srtp.expect("SRTP negotiated");
        // Tag 1 is the 32-bit tag suite and tag 2 has an MKI: tag 3 wins.
        assert_eq!(
            keys.remote_inline_key,
            "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
        );
        assert_eq!(keys.local_inline_key, OUR_KEY);
        let media = &n.answer.media[0];
        assert_eq!(media.proto, "RTP/SAVP");
        let crypto: Vec<_> = media
            .attributes
            .iter()
            .filter(|a| a.name == "crypto")
            .collect();
        assert_eq!(crypto.len(), 1);
        assert_eq!(
            crypto[0].value.as_deref(),
            Some(&*format!("3 AES_CM_128_HMAC_SHA1_80 inline:{OUR_KEY}"))
        );
        // The answer parses back with the same crypto line.
        let again = sdp(&n.answer.to_string());
        assert_eq!(again.media[0].cryptos()[0].inline_key, OUR_KEY);
    }
}

#[test]
fn a_plain_offer_is_refused_when_srtp_is_required_and_answered_plain_when_optional() {
    assert_eq!(
        answer(&sdp(PLAIN), &us(Some(SrtpPolicy::Required))),
        Err(NegotiationError::SrtpRequired)
    );
    let n = answer(&sdp(PLAIN), &us(Some(SrtpPolicy::Optional))).unwrap();
    assert!(n.srtp.is_none());
    assert_eq!(n.answer.media[0].proto, "RTP/AVP");
    assert!(n.answer.media[0].cryptos().is_empty());
}

#[test]
fn an_sdes_offer_is_refused_when_srtp_is_off_or_no_crypto_line_is_usable() {
    assert_eq!(
        answer(&sdp(OFFER), &us(None)),
        Err(NegotiationError::SrtpNotEnabled)
    );
    assert_eq!(
        answer(&sdp(OFFER), &us(Some(SrtpPolicy::Off))),
        Err(NegotiationError::SrtpNotEnabled)
    );
    let unusable = OFFER.replace(
        "a=crypto:3 AES_CM_128_HMAC_SHA1_80",
        "a=crypto:3 AEAD_AES_256_GCM",
    );
    assert_eq!(
        answer(&sdp(&unusable), &us(Some(SrtpPolicy::Required))),
        Err(NegotiationError::SrtpRequired)
    );
}

#[test]
fn crypto_attributes_parse_tolerantly_and_refuse_what_we_cannot_do() {
    let c = Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:abc|2^20 WSH=64").unwrap();
    assert!(c.is_usable());
    assert_eq!(c.inline_key, "abc");
    assert!(
        !Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:abc UNENCRYPTED_SRTP")
            .unwrap()
            .is_usable()
    );
    assert!(!Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:abc|1:4")
        .unwrap()
        .is_usable());
    for bad in [
        "",
        "x AES inline:a",
        "1 AES_CM_128_HMAC_SHA1_80",
        "1 S inline:",
        "1 S key:abc",
    ] {
        assert!(Crypto::parse(bad).is_none(), "{bad:?}");
    }
    // The key never appears in Debug output.
    assert!(!format!("{c:?}").contains("abc"));
}
