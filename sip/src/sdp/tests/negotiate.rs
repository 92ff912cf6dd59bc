use super::super::*;
use super::*;
use std::net::{IpAddr, SocketAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Our side as in the protocols.md §3.7 example.
fn ai() -> LocalMedia {
    let mut local = LocalMedia::new(ip("198.51.100.7"), 40002, 9876);
    local.username = "ai".into();
    local
}

const HEAD: &str = "v=0\r\no=peer 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

/// An offer with one audio line of `formats` and extra media-level lines.
fn audio_offer(formats: &str, extra: &str) -> SessionDescription {
    sdp(&format!("{HEAD}m=audio 5000 RTP/AVP {formats}\r\n{extra}"))
}

#[test]
fn answer_to_the_carrier_offer_is_exactly_the_protocols_md_answer() {
    let n = answer(&sdp(CARRIER_OFFER), &ai()).unwrap();
    let expected = "v=0\r\n\
        o=ai 9876 1 IN IP4 198.51.100.7\r\n\
        s=-\r\n\
        c=IN IP4 198.51.100.7\r\n\
        t=0 0\r\n\
        m=audio 40002 RTP/AVP 0 101\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-16\r\n\
        a=ptime:20\r\n\
        a=sendrecv\r\n";
    assert_eq!(n.answer.to_string(), expected);
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!((n.payload_type, n.clock_rate), (0, 8000));
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.comfort_noise_pt, None);
    assert_eq!(n.remote_rtp, addr("203.0.113.20:31000"));
    assert_eq!(n.remote_rtcp, Some(addr("203.0.113.20:31001")));
    assert_eq!(n.ptime, 20);
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.media_index, 0);
}

#[test]
fn our_answer_parses_back_to_itself() {
    for text in VALID {
        if let Ok(n) = answer(&sdp(text), &ai()) {
            assert_eq!(sdp(&n.answer.to_string()), n.answer);
        }
    }
}

#[test]
fn pcma_only_offer_gets_pcma() {
    let n = answer(&audio_offer("8", "a=rtpmap:8 PCMA/8000\r\n"), &ai()).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(n.answer.media[0].formats, ["8"]);
}

#[test]
fn g729_only_offer_is_no_common_codec() {
    let offer = audio_offer(
        "18 101",
        "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    assert_eq!(answer(&offer, &ai()), Err(NegotiationError::NoCommonCodec));
}

#[test]
fn our_codec_preference_wins_over_the_offer_order() {
    let offer = audio_offer("8 0", "");
    assert_eq!(answer(&offer, &ai()).unwrap().codec, Codec::Pcmu);
    let mut alaw_first = ai();
    alaw_first.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let offer = audio_offer("0 8", "");
    assert_eq!(answer(&offer, &alaw_first).unwrap().codec, Codec::Pcma);
}

#[test]
fn static_pt_without_rtpmap_is_understood() {
    let n = answer(&audio_offer("8", ""), &ai()).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    // Our answer still spells the mapping out.
    assert_eq!(
        n.answer.media[0].attribute_value("rtpmap"),
        Some("8 PCMA/8000")
    );
}

#[test]
fn answer_mirrors_the_offered_direction() {
    let cases = [
        ("a=sendonly\r\n", Direction::RecvOnly),
        ("a=recvonly\r\n", Direction::SendOnly),
        ("a=inactive\r\n", Direction::Inactive),
        ("a=sendrecv\r\n", Direction::SendRecv),
        ("", Direction::SendRecv),
    ];
    for (line, ours) in cases {
        let n = answer(&audio_offer("0", line), &ai()).unwrap();
        assert_eq!(n.direction, ours, "offer {line:?}");
        assert_eq!(n.answer.media[0].direction(), Some(ours));
    }
}

#[test]
fn session_level_direction_applies_when_the_media_has_none() {
    let offer = sdp(&format!("{HEAD}a=sendonly\r\nm=audio 5000 RTP/AVP 0\r\n"));
    assert_eq!(
        answer(&offer, &ai()).unwrap().direction,
        Direction::RecvOnly
    );
}

#[test]
fn legacy_hold_address_is_answered_recvonly() {
    let n = answer(&sdp(HOLD_LEGACY_OFFER), &ai()).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(!n.direction.sends() && n.direction.receives());
    assert_eq!(n.answer.media[0].direction(), Some(Direction::RecvOnly));
    assert!(n.remote_rtp.ip().is_unspecified());
}

#[test]
fn local_direction_limits_the_answer() {
    let mut local = ai();
    local.direction = Direction::SendOnly;
    let n = answer(&audio_offer("0", ""), &local).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
}

#[test]
fn answer_reuses_offerers_dynamic_telephone_event_pt_and_fmtp() {
    let n = answer(&sdp(IPV6_OFFER), &ai()).unwrap();
    assert_eq!(n.telephone_event_pt, Some(96));
    let m = &n.answer.media[0];
    assert_eq!(m.formats, ["0", "96"]);
    assert_eq!(m.rtpmap(96).unwrap().encoding_name, "telephone-event");
    assert_eq!(m.fmtp(96), Some("0-15"));
}

#[test]
fn telephone_event_is_left_out_unless_offered_and_wanted() {
    let n = answer(&audio_offer("0", ""), &ai()).unwrap();
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(n.answer.media[0].formats, ["0"]);
    let mut no_dtmf = ai();
    no_dtmf.telephone_event = false;
    let n = answer(&sdp(CARRIER_OFFER), &no_dtmf).unwrap();
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(n.answer.media[0].formats, ["0"]);
}

#[test]
fn telephone_event_must_match_the_codec_clock_rate() {
    // FreeSWITCH offers telephone-event at 48000 (PT 104) and 8000 (PT 101).
    let n = answer(&sdp(FREESWITCH_OFFER), &ai()).unwrap();
    assert_eq!(
        (n.codec.clone(), n.telephone_event_pt),
        (Codec::Pcmu, Some(101))
    );
    let mut opus_first = ai();
    opus_first.codecs = vec![Codec::Opus, Codec::Pcmu];
    let n = answer(&sdp(FREESWITCH_OFFER), &opus_first).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.clock_rate),
        (Codec::Opus, 102, 48000)
    );
    assert_eq!(n.telephone_event_pt, Some(104));
    assert_eq!(
        n.answer.media[0].attribute_value("rtpmap"),
        Some("102 opus/48000/2")
    );
}

#[test]
fn comfort_noise_is_declined_by_default_and_accepted_when_listed() {
    let offer = sdp(FREESWITCH_OFFER);
    assert_eq!(answer(&offer, &ai()).unwrap().comfort_noise_pt, None);
    let mut with_cn = ai();
    with_cn.codecs.push(Codec::ComfortNoise);
    let n = answer(&offer, &with_cn).unwrap();
    assert_eq!(n.comfort_noise_pt, Some(13));
    assert_eq!(n.answer.media[0].formats, ["0", "101", "13"]);
}

#[test]
fn offerers_ptime_30_is_honoured_and_we_ask_for_ours() {
    let n = answer(&sdp(IPV6_OFFER), &ai()).unwrap();
    assert_eq!(n.ptime, 30);
    assert_eq!(n.answer.media[0].ptime(), Some(20));
}

#[test]
fn maxptime_caps_and_silly_ptime_is_ignored() {
    let n = answer(&audio_offer("0", "a=maxptime:10\r\n"), &ai()).unwrap();
    assert_eq!(n.ptime, 10);
    let n = answer(&audio_offer("0", "a=ptime:1000\r\n"), &ai()).unwrap();
    assert_eq!(n.ptime, 20);
}

#[test]
fn ipv6_offer_gets_an_ipv6_answer() {
    let local = LocalMedia::new(ip("2001:db8::7"), 40002, 5);
    let n = answer(&sdp(IPV6_OFFER), &local).unwrap();
    assert_eq!(n.remote_rtp, addr("[2001:db8::20]:40000"));
    let text = n.answer.to_string();
    assert!(
        text.contains("o=warmline 5 1 IN IP6 2001:db8::7\r\n"),
        "{text}"
    );
    assert!(text.contains("c=IN IP6 2001:db8::7\r\n"), "{text}");
}

#[test]
fn video_m_line_is_kept_with_port_0() {
    let offer = sdp(VIDEO_OFFER);
    let n = answer(&offer, &ai()).unwrap();
    assert_eq!(n.answer.media.len(), 2);
    let video = &n.answer.media[1];
    assert_eq!((video.media.as_str(), video.port), ("video", 0));
    assert_eq!(video.formats, ["31", "99"]);
    assert!(video.attributes.is_empty());
    assert_eq!(n.answer.media[0].port, 40002);
    assert_eq!(n.codec, Codec::Pcmu);
}

#[test]
fn only_the_first_usable_audio_stream_is_accepted() {
    let offer = sdp(&format!(
        "{HEAD}m=audio 0 RTP/AVP 0\r\nm=audio 6000 RTP/SAVP 0\r\nm=audio 7000 RTP/AVP 18\r\n\
         m=audio 8000 RTP/AVP 8\r\nm=audio 9000 RTP/AVP 0\r\n"
    ));
    let n = answer(&offer, &ai()).unwrap();
    assert_eq!(n.media_index, 3);
    assert_eq!(n.remote_rtp, addr("192.0.2.1:8000"));
    let ports: Vec<u16> = n.answer.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 0, 0, 40002, 0]);
}

#[test]
fn srtp_only_offer_is_refused_when_srtp_is_off() {
    let offer = sdp(&format!("{HEAD}m=audio 6000 RTP/SAVP 0\r\n"));
    assert_eq!(answer(&offer, &ai()), Err(NegotiationError::SrtpNotEnabled));
}

#[test]
fn media_level_connection_wins_over_session_level() {
    let n = answer(&audio_offer("0", "c=IN IP4 192.0.2.99\r\n"), &ai()).unwrap();
    assert_eq!(n.remote_rtp, addr("192.0.2.99:5000"));
    assert_eq!(n.remote_rtcp, Some(addr("192.0.2.99:5001")));
}

#[test]
fn rtcp_attribute_overrides_rtp_port_plus_one() {
    let n = answer(&sdp(RTCP_OFFER), &ai()).unwrap();
    assert_eq!(n.remote_rtp, addr("203.0.113.6:30000"));
    assert_eq!(n.remote_rtcp, Some(addr("203.0.113.7:30011")));
    // Session-level recvonly in that offer: we may only send.
    assert_eq!(n.direction, Direction::SendOnly);
    let n = answer(&audio_offer("0", "a=rtcp:5010\r\n"), &ai()).unwrap();
    assert_eq!(n.remote_rtcp, Some(addr("192.0.2.1:5010")));
}

#[test]
fn rtp_on_the_last_port_has_no_implicit_rtcp() {
    let offer = sdp(&format!("{HEAD}m=audio 65535 RTP/AVP 0\r\n"));
    assert_eq!(answer(&offer, &ai()).unwrap().remote_rtcp, None);
}

#[test]
fn offer_without_an_ip_connection_address_is_refused() {
    let no_c = sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n");
    let err = NegotiationError::NoConnectionAddress { index: 0 };
    assert_eq!(answer(&no_c, &ai()), Err(err.clone()));
    let fqdn = audio_offer("0", "c=IN IP4 media.example.com\r\n");
    assert_eq!(answer(&fqdn, &ai()), Err(err));
}

#[test]
fn our_offer_lists_codecs_telephone_event_101_and_ptime() {
    let local = LocalMedia::new(ip("198.51.100.7"), 40002, 42);
    let expected = "v=0\r\n\
        o=warmline 42 1 IN IP4 198.51.100.7\r\n\
        s=-\r\n\
        c=IN IP4 198.51.100.7\r\n\
        t=0 0\r\n\
        m=audio 40002 RTP/AVP 0 8 101\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-16\r\n\
        a=ptime:20\r\n\
        a=sendrecv\r\n";
    assert_eq!(offer(&local).to_string(), expected);
}

#[test]
fn our_offer_gives_opus_a_dynamic_pt_and_telephone_event_per_clock_rate() {
    let mut local = ai();
    local.codecs = vec![Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Opus];
    let o = offer(&local);
    let m = &o.media[0];
    assert_eq!(m.formats, ["96", "9", "0", "97", "101"]);
    assert_eq!(m.rtpmap(96).unwrap().to_string(), "96 opus/48000/2");
    assert_eq!(
        m.rtpmap(97).unwrap().to_string(),
        "97 telephone-event/48000"
    );
    assert_eq!(
        m.rtpmap(101).unwrap().to_string(),
        "101 telephone-event/8000"
    );
    assert_eq!(m.fmtp(97), Some("0-16"));
}

#[test]
fn our_offer_without_usable_codecs_is_disabled_not_invented() {
    let mut local = ai();
    local.codecs = vec![Codec::Other("NOPE".into())];
    let o = offer(&local);
    assert_eq!(o.media[0].port, 0);
    assert!(o.media[0].formats.is_empty());
    assert_eq!(sdp(&o.to_string()), o);
}

#[test]
fn offer_answer_between_two_warmlines_agrees() {
    let mut caller = LocalMedia::new(ip("192.0.2.10"), 20000, 1);
    caller.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let callee = LocalMedia::new(ip("192.0.2.20"), 30000, 2);
    let our_offer = offer(&caller);
    let answered = answer(&our_offer, &callee).unwrap();
    let accepted = accept_answer(&our_offer, &answered.answer).unwrap();
    // The callee's preference (PCMU) wins as answerer, and both agree.
    assert_eq!(answered.codec, Codec::Pcmu);
    assert_eq!(accepted.codec, Codec::Pcmu);
    assert_eq!(accepted.telephone_event_pt, Some(101));
    assert_eq!(accepted.remote_rtp, addr("192.0.2.20:30000"));
    assert_eq!(answered.remote_rtp, addr("192.0.2.10:20000"));
    assert_eq!(accepted.direction, Direction::SendRecv);
}

#[test]
fn accept_answer_sends_with_the_answers_numbers_and_order() {
    let our_offer = offer(&ai());
    let reply = audio_offer(
        "8 0 100",
        "a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-15\r\na=ptime:30\r\na=recvonly\r\n",
    );
    let n = accept_answer(&our_offer, &reply).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(n.telephone_event_pt, Some(100));
    assert_eq!(n.ptime, 30);
    assert_eq!(n.direction, Direction::SendOnly);
    assert_eq!(n.answer, reply);
}

#[test]
fn accept_answer_refuses_what_we_did_not_offer() {
    let our_offer = offer(&ai());
    let g729 = audio_offer("18", "");
    assert_eq!(
        accept_answer(&our_offer, &g729),
        Err(NegotiationError::NoCommonCodec)
    );
    let rejected = sdp(&format!("{HEAD}m=audio 0 RTP/AVP 0\r\n"));
    assert_eq!(
        accept_answer(&our_offer, &rejected),
        Err(NegotiationError::NoCommonCodec)
    );
    let two = sdp(&format!(
        "{HEAD}m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n"
    ));
    assert_eq!(
        accept_answer(&our_offer, &two),
        Err(NegotiationError::MediaCountMismatch {
            offered: 1,
            answered: 2
        })
    );
}

#[test]
fn accept_answer_treats_hold_address_as_no_sending() {
    let our_offer = offer(&ai());
    let reply = sdp(
        "v=0\r\no=p 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n",
    );
    let n = accept_answer(&our_offer, &reply).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
}
