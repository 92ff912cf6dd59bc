//! RFC 3264 offer/answer for one audio stream, both as answerer
//! ([`answer`]) and as offerer ([`offer`], [`accept_answer`]).
//!
//! Decisions, and why:
//! - **As answerer, our codec preference wins.** We walk our list in order
//!   and take the first codec the offer contains. The audio ends up in
//!   G.711 μ-law on the model side, so preferring PCMU saves a transcode,
//!   and every carrier that offers both accepts either. RFC 3264 §6.1 lets
//!   the answerer choose; FreeSWITCH's "generous" mode (offerer's order)
//!   exists for PBXes that must obey a phone's choice, which we need not.
//! - **The answer names exactly one audio codec** (plus telephone-event and
//!   comfort noise if both sides have them). With several, the offerer may
//!   switch codec mid-call (RFC 3264 §6.1), and our media engine runs one
//!   codec per call.
//! - **As offerer, the answerer's order wins** (first format in the answer
//!   that we offered): the answer is the final word in RFC 3264.
//! - **Payload type numbers come from the peer's SDP for what we send**: as
//!   answerer we reuse the offer's numbers (RFC 3264 §6.1 SHOULD, which
//!   carriers treat as MUST for dynamic telephone-event); as offerer we send
//!   with the numbers in the answer.
//! - Only the first enabled `audio` stream with a common codec is
//!   accepted (`RTP/AVP`, or `RTP/SAVP` with SDES keys when
//!   [`LocalMedia::srtp`] allows it); every other m-line is answered with
//!   port 0. We have one RTP port per call and no video. A SRTP-required
//!   peer's plain offer is [`NegotiationError::SrtpRequired`] (488).
//! - Comfort noise is answered only if [`LocalMedia::codecs`] lists it; by
//!   default we decline it by leaving it out (protocols.md §3.7).
//! - `c=` must be an IP literal: resolving host names is not a sans-IO job.

use std::net::{IpAddr, SocketAddr};

use super::attr::Direction;
use super::codec::{Codec, PayloadFormat};
use super::crypto::{Crypto, LocalSrtp, SrtpKeys, SrtpPolicy};
use super::model::{
    addr_type, Attribute, Connection, MediaDescription, Origin, SessionDescription, Timing,
};

/// Shortest and longest `ptime` we will honour, in ms. Outside this range
/// the peer is confused and we keep our own.
const PTIME_RANGE: std::ops::RangeInclusive<u32> = 10..=200;

/// The telephone-event payload type we offer (FreeSWITCH's `rfc2833-pt`
/// default, and what carriers expect).
const OFFER_TELEPHONE_EVENT_PT: u8 = 101;

/// Our side of the media: where we receive and what we can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address we receive RTP on, as the peer must see it (our public
    /// address behind 1:1 NAT).
    pub address: IpAddr,
    /// Our RTP port; RTCP is on the next port.
    pub rtp_port: u16,
    /// Our codecs, most preferred first. `TelephoneEvent` here is ignored
    /// (see [`LocalMedia::telephone_event`]); `ComfortNoise` here means we
    /// accept CN.
    pub codecs: Vec<Codec>,
    /// Whether we handle RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// The packet time we want to receive, in ms.
    pub ptime: u32,
    /// The flows we are willing to have (normally `SendRecv`).
    pub direction: Direction,
    /// `o=` username.
    pub username: String,
    /// `o=` session id; the caller picks it (this crate has no randomness).
    pub session_id: u64,
    /// `o=` session version; the caller bumps it for each new SDP it sends.
    pub session_version: u64,
    /// SDES-SRTP (RFC 4568): `None` is plain RTP only, as before.
    pub srtp: Option<LocalSrtp>,
}

impl LocalMedia {
    /// Our defaults: PCMU then PCMA, telephone-event, ptime 20, sendrecv,
    /// username `warmline`, version 1.
    pub fn new(address: IpAddr, rtp_port: u16, session_id: u64) -> Self {
        LocalMedia {
            address,
            rtp_port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: 20,
            direction: Direction::SendRecv,
            username: "warmline".to_owned(),
            session_id,
            session_version: 1,
            srtp: None,
        }
    }

    /// Our `o=` line.
    pub fn origin(&self) -> Origin {
        Origin {
            username: self.username.clone(),
            session_id: self.session_id.to_string(),
            session_version: self.session_version,
            net_type: "IN".to_owned(),
            addr_type: addr_type(self.address).to_owned(),
            address: self.address.to_string(),
        }
    }
}

/// The outcome of one offer/answer exchange, as the media engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The answer: the one we built ([`answer`]) or the peer's
    /// ([`accept_answer`]).
    pub answer: SessionDescription,
    /// Index of the accepted audio m-line.
    pub media_index: usize,
    /// The audio codec both sides use.
    pub codec: Codec,
    /// Its payload type number on the wire.
    pub payload_type: u8,
    /// Its RTP clock rate.
    pub clock_rate: u32,
    /// The telephone-event payload type, if DTMF events were negotiated.
    pub telephone_event_pt: Option<u8>,
    /// The comfort noise payload type, if CN was negotiated.
    pub comfort_noise_pt: Option<u8>,
    /// Where to send RTP (`0.0.0.0` when the peer put us on legacy hold).
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP: `a=rtcp` if given, else RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// The packet time we send with, in ms: the peer's `a=ptime` if it gave
    /// a sane one (capped by its `a=maxptime`), else ours.
    pub ptime: u32,
    /// The flows from our point of view: `sends()` says whether we may send
    /// RTP, `receives()` whether the peer will send to us.
    pub direction: Direction,
    /// SRTP keys when the stream is `RTP/SAVP` (SDES); `None`: plain RTP.
    pub srtp: Option<SrtpKeys>,
}

/// Why an offer or answer cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No enabled audio stream has a codec we support (SIP: 488).
    #[error("no audio codec in common")]
    NoCommonCodec,
    /// The accepted audio stream has no `c=` that is an IP literal.
    #[error("m-line {index}: no IP connection address")]
    NoConnectionAddress {
        /// The 0-based m-line index.
        index: usize,
    },
    /// The trunk requires SRTP and the offer has no `RTP/SAVP` audio with
    /// a usable `a=crypto` (SIP: 488).
    #[error("SRTP is required: offer RTP/SAVP with a=crypto AES_CM_128_HMAC_SHA1_80")]
    SrtpRequired,
    /// The offer is SRTP only and SRTP is off for this peer (SIP: 488).
    #[error(
        "SRTP offered but not enabled for this trunk (set srtp = \"optional\" or \"required\")"
    )]
    SrtpNotEnabled,
    /// An answer whose m-lines do not match our offer's (RFC 3264 §6).
    #[error("answer has {answered} m-lines for {offered} offered")]
    MediaCountMismatch {
        /// m-lines in our offer.
        offered: usize,
        /// m-lines in the answer.
        answered: usize,
    },
}

/// The formats picked for the audio stream.
struct Choice {
    primary: PayloadFormat,
    telephone_event: Option<(PayloadFormat, Option<String>)>,
    comfort_noise: Option<PayloadFormat>,
}

/// The peer's end of the audio stream.
struct Remote {
    rtp: SocketAddr,
    rtcp: Option<SocketAddr>,
    /// The peer's direction, from its point of view, with legacy hold
    /// (`c=0.0.0.0`: "do not send to me") folded in.
    direction: Direction,
}

/// Whether two formats are the same encoding, rate and channels.
fn same_format(a: &PayloadFormat, b: &PayloadFormat) -> bool {
    a.encoding_name.eq_ignore_ascii_case(&b.encoding_name)
        && a.clock_rate == b.clock_rate
        && a.channels == b.channels
}

fn remote_endpoint(
    sdp: &SessionDescription,
    media: &MediaDescription,
    index: usize,
) -> Result<Remote, NegotiationError> {
    let ip = sdp
        .media_connection(media)
        .and_then(Connection::ip)
        .ok_or(NegotiationError::NoConnectionAddress { index })?;
    let mut direction = sdp.media_direction(media);
    if ip.is_unspecified() {
        // RFC 3264 §8.4: the old way to say "stop sending to me".
        direction = direction.intersect(Direction::SendOnly);
    }
    let rtcp = match media.rtcp() {
        Some(rtcp) => {
            let rtcp_ip = rtcp.connection.as_ref().and_then(Connection::ip);
            Some(SocketAddr::new(rtcp_ip.unwrap_or(ip), rtcp.port))
        }
        None => media.port.checked_add(1).map(|p| SocketAddr::new(ip, p)),
    };
    Ok(Remote {
        rtp: SocketAddr::new(ip, media.port),
        rtcp,
        direction,
    })
}

/// The ptime we send with: the peer's if sane, capped by its maxptime.
fn send_ptime(requested: Option<u32>, max: Option<u32>, ours: u32) -> u32 {
    let sane = |ms: &u32| PTIME_RANGE.contains(ms);
    let ptime = requested.filter(sane).unwrap_or(ours);
    match max.filter(sane) {
        Some(max) => ptime.min(max),
        None => ptime,
    }
}

/// Picks our most preferred codec that `offered` contains, plus the
/// companion formats at its clock rate.
fn choose_as_answerer(media: &MediaDescription, local: &LocalMedia) -> Option<Choice> {
    let offered = media.payload_formats();
    let primary = local
        .codecs
        .iter()
        .filter(|c| c.is_primary())
        .find_map(|c| offered.iter().find(|f| f.is(c)))?
        .clone();
    let companion = |codec: Codec| {
        offered
            .iter()
            .find(|f| f.codec == codec && f.clock_rate == primary.clock_rate)
            .cloned()
    };
    let telephone_event = if local.telephone_event {
        companion(Codec::TelephoneEvent).map(|f| {
            let fmtp = media.fmtp(f.payload_type).map(str::to_owned);
            (f, fmtp)
        })
    } else {
        None
    };
    let comfort_noise = if local.codecs.contains(&Codec::ComfortNoise) {
        companion(Codec::ComfortNoise)
    } else {
        None
    };
    Some(Choice {
        primary,
        telephone_event,
        comfort_noise,
    })
}

/// Our audio m-line for `choice`.
fn audio_media(
    local: &LocalMedia,
    formats: &[(PayloadFormat, Option<String>)],
    direction: Direction,
) -> MediaDescription {
    let mut attributes = Vec::new();
    for (format, _) in formats {
        attributes.push(Attribute::new("rtpmap", format.rtpmap().to_string()));
    }
    for (format, fmtp) in formats {
        if let Some(params) = fmtp {
            attributes.push(Attribute::new(
                "fmtp",
                format!("{} {}", format.payload_type, params),
            ));
        }
    }
    attributes.push(Attribute::new("ptime", local.ptime.to_string()));
    attributes.push(Attribute::flag(direction.as_str()));
    MediaDescription {
        media: "audio".to_owned(),
        port: if formats.is_empty() {
            0
        } else {
            local.rtp_port
        },
        port_count: None,
        proto: "RTP/AVP".to_owned(),
        formats: formats
            .iter()
            .map(|(f, _)| f.payload_type.to_string())
            .collect(),
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        key: None,
        attributes,
    }
}

/// A session description from us with the given media.
fn local_session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin: local.origin(),
        session_name: "-".to_owned(),
        information: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: Some(Connection::new(local.address)),
        bandwidths: Vec::new(),
        timings: vec![Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }],
        time_zones: None,
        key: None,
        attributes: Vec::new(),
        media,
    }
}

/// Answers `offer` as the answerer (RFC 3264 §6). See the module docs for
/// the choices made. `NoCommonCodec` means the SIP layer answers 488.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, NegotiationError> {
    let (index, media, choice, crypto) = offer
        .media
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, m, srtp_fit(m, local)?)))
        .find_map(|(i, m, crypto)| Some((i, m, choose_as_answerer(m, local)?, crypto)))
        .ok_or_else(|| refusal(offer, local))?;
    let remote = remote_endpoint(offer, media, index)?;
    let direction = remote.direction.reversed().intersect(local.direction);
    let ptime = send_ptime(offer.media_ptime(media), media.maxptime(), local.ptime);

    let mut formats = vec![(choice.primary.clone(), None)];
    if let Some(te) = &choice.telephone_event {
        formats.push(te.clone());
    }
    if let Some(cn) = &choice.comfort_noise {
        formats.push((cn.clone(), None));
    }
    let mut ours = audio_media(local, &formats, direction);
    let srtp = match (crypto, &local.srtp) {
        (Some(theirs), Some(us)) => {
            ours.proto = media.proto.clone();
            ours.attributes.push(Attribute::new(
                "crypto",
                Crypto::answer_value(theirs.tag, &us.inline_key),
            ));
            Some(SrtpKeys {
                suite: theirs.suite,
                remote_inline_key: theirs.inline_key,
                local_inline_key: us.inline_key.clone(),
            })
        }
        _ => None,
    };
    let answer_media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == index {
                ours.clone()
            } else {
                m.declined()
            }
        })
        .collect();

    Ok(Negotiated {
        answer: local_session(local, answer_media),
        media_index: index,
        codec: choice.primary.codec.clone(),
        payload_type: choice.primary.payload_type,
        clock_rate: choice.primary.clock_rate,
        telephone_event_pt: choice.telephone_event.map(|(f, _)| f.payload_type),
        comfort_noise_pt: choice.comfort_noise.map(|f| f.payload_type),
        remote_rtp: remote.rtp,
        remote_rtcp: remote.rtcp,
        ptime,
        direction,
        srtp,
    })
}

/// Whether audio m-line `m` fits our SRTP policy: `Some(None)` as plain
/// RTP, `Some(Some(crypto))` as SRTP with the offer's first usable
/// `a=crypto`, `None` not at all.
fn srtp_fit(m: &MediaDescription, local: &LocalMedia) -> Option<Option<Crypto>> {
    let policy = local.srtp.as_ref().map_or(SrtpPolicy::Off, |s| s.policy);
    if m.is_rtp_audio() {
        return (policy != SrtpPolicy::Required).then_some(None);
    }
    if m.is_srtp_audio() && policy != SrtpPolicy::Off {
        return m.cryptos().into_iter().find(Crypto::is_usable).map(Some);
    }
    None
}

/// Why no m-line of `offer` could be answered.
fn refusal(offer: &SessionDescription, local: &LocalMedia) -> NegotiationError {
    let policy = local.srtp.as_ref().map_or(SrtpPolicy::Off, |s| s.policy);
    let plain = offer.media.iter().any(MediaDescription::is_rtp_audio);
    let secure = offer.media.iter().any(MediaDescription::is_srtp_audio);
    match policy {
        SrtpPolicy::Required if plain || secure => NegotiationError::SrtpRequired,
        SrtpPolicy::Off if secure && !plain => NegotiationError::SrtpNotEnabled,
        _ => NegotiationError::NoCommonCodec,
    }
}

/// Builds our offer: one audio m-line with our codecs in preference order
/// (static payload types where they exist, dynamic from 96 otherwise),
/// telephone-event (PT 101 at 8000 Hz, `0-16`) per clock rate in use, our
/// ptime and direction.
///
/// Codecs with no known clock rate (an `Other` that is not in the RFC 3551
/// table) cannot get an rtpmap and are left out. If nothing is left, the
/// m-line is written with port 0 so the peer rejects it rather than us
/// inventing a codec.
pub fn offer(local: &LocalMedia) -> SessionDescription {
    let mut formats: Vec<(PayloadFormat, Option<String>)> = Vec::new();
    let mut dynamic = (96..=127u8)
        .filter(|pt| !(local.telephone_event && *pt == OFFER_TELEPHONE_EVENT_PT))
        .collect::<Vec<_>>()
        .into_iter();
    for codec in local.codecs.iter().filter(|c| c.is_primary()) {
        let Some(clock_rate) = codec.clock_rate() else {
            continue;
        };
        if formats.iter().any(|(f, _)| f.is(codec)) {
            continue;
        }
        let Some(payload_type) = codec.static_payload_type().or_else(|| dynamic.next()) else {
            continue;
        };
        formats.push((
            PayloadFormat {
                payload_type,
                codec: codec.clone(),
                encoding_name: codec.encoding_name().to_owned(),
                clock_rate,
                channels: codec.channels(),
            },
            None,
        ));
    }
    let mut rates: Vec<u32> = Vec::new();
    for (f, _) in &formats {
        if !rates.contains(&f.clock_rate) {
            rates.push(f.clock_rate);
        }
    }
    let mut companions = Vec::new();
    for rate in rates {
        let mut add = |codec: Codec, payload_type: Option<u8>, fmtp: Option<&str>| {
            if let Some(payload_type) = payload_type {
                companions.push((
                    PayloadFormat {
                        payload_type,
                        encoding_name: codec.encoding_name().to_owned(),
                        codec,
                        clock_rate: rate,
                        channels: 1,
                    },
                    fmtp.map(str::to_owned),
                ));
            }
        };
        if local.codecs.contains(&Codec::ComfortNoise) {
            let pt = if rate == 8000 {
                Some(13)
            } else {
                dynamic.next()
            };
            add(Codec::ComfortNoise, pt, None);
        }
        if local.telephone_event {
            let pt = if rate == 8000 {
                Some(OFFER_TELEPHONE_EVENT_PT)
            } else {
                dynamic.next()
            };
            add(Codec::TelephoneEvent, pt, Some("0-16"));
        }
    }
    if !formats.is_empty() {
        formats.extend(companions);
    }
    let media = audio_media(local, &formats, local.direction);
    local_session(local, vec![media])
}

/// Applies the peer's `answer` to `our_offer` (made by [`offer`] or by
/// hand), as the offerer. The answerer's codec order wins; we send with the
/// answer's payload type numbers.
pub fn accept_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, NegotiationError> {
    if our_offer.media.len() != answer.media.len() {
        return Err(NegotiationError::MediaCountMismatch {
            offered: our_offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let pairs = our_offer.media.iter().zip(&answer.media).enumerate();
    let (index, ours, theirs, choice) = pairs
        .filter(|(_, (o, t))| o.is_rtp_audio() && t.is_rtp_audio())
        .find_map(|(i, (o, t))| Some((i, o, t, choose_from_answer(o, t)?)))
        .ok_or(NegotiationError::NoCommonCodec)?;
    let remote = remote_endpoint(answer, theirs, index)?;
    let direction = remote
        .direction
        .reversed()
        .intersect(our_offer.media_direction(ours));
    let our_ptime = our_offer.media_ptime(ours).unwrap_or(20);
    let ptime = send_ptime(answer.media_ptime(theirs), theirs.maxptime(), our_ptime);
    Ok(Negotiated {
        answer: answer.clone(),
        media_index: index,
        codec: choice.primary.codec.clone(),
        payload_type: choice.primary.payload_type,
        clock_rate: choice.primary.clock_rate,
        telephone_event_pt: choice.telephone_event.map(|(f, _)| f.payload_type),
        comfort_noise_pt: choice.comfort_noise.map(|f| f.payload_type),
        remote_rtp: remote.rtp,
        remote_rtcp: remote.rtcp,
        ptime,
        direction,
        srtp: None,
    })
}

/// Picks the answer's first primary format that we offered, plus the
/// companion formats at its rate that we also offered.
fn choose_from_answer(ours: &MediaDescription, theirs: &MediaDescription) -> Option<Choice> {
    let offered = ours.payload_formats();
    let answered = theirs.payload_formats();
    let we_offered = |f: &PayloadFormat| offered.iter().any(|o| same_format(o, f));
    let primary = answered
        .iter()
        .find(|f| f.codec.is_primary() && we_offered(f))?
        .clone();
    let companion = |codec: Codec| {
        answered
            .iter()
            .find(|f| f.codec == codec && f.clock_rate == primary.clock_rate && we_offered(f))
            .cloned()
    };
    Some(Choice {
        telephone_event: companion(Codec::TelephoneEvent).map(|f| {
            let fmtp = theirs.fmtp(f.payload_type).map(str::to_owned);
            (f, fmtp)
        }),
        comfort_noise: companion(Codec::ComfortNoise),
        primary,
    })
}
