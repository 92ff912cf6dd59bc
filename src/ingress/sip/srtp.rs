//! SRTP and SRTCP with `AES_CM_128_HMAC_SHA1_80` (RFC 3711), keyed by SDES
//! (RFC 4568): the only suite carriers that offer SRTP on SIP trunks all
//! support (Twilio Elastic SIP Trunking, Telnyx, FreeSWITCH's default).
//!
//! Sans-IO and allocation-free per packet: packets in, packets out into a
//! caller's buffer. AES-CTR and HMAC-SHA1 come from aws-lc-rs, the
//! process's one crypto library (decision 0023); the SRTP framing, key
//! derivation (§4.3, key derivation rate 0), roll-over counter estimate
//! (§3.3.1) and 64-packet replay window (§3.3.2) are here, checked against
//! RFC 3711's appendix B vectors and libsrtp's reference packet.
//!
//! One [`SrtpContext`] per direction, as RFC 4568 keys each direction
//! separately: ours protects what we send, the peer's unprotects what it
//! sends. Invariants: a packet that fails authentication changes no state
//! (no replay-window or ROC update); tags are compared in constant time.

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

/// Master key length for AES_CM_128.
pub const MASTER_KEY_LEN: usize = 16;
/// Master salt length.
pub const MASTER_SALT_LEN: usize = 14;
/// The 80-bit authentication tag.
pub const TAG_LEN: usize = 10;
/// What SRTCP adds: the E flag and index, and the tag.
pub const SRTCP_TRAILER: usize = 4 + TAG_LEN;
/// Streams (SSRCs) one inbound context follows at most; a further one
/// replaces the oldest (a caller that restarts its stream changes SSRC).
const MAX_STREAMS: usize = 4;

/// Why a packet was not protected or unprotected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// Too short for an RTP/RTCP header plus the SRTP trailer.
    #[error("packet too short for SRTP")]
    TooShort,
    /// The tag does not match: wrong key, corruption or forgery.
    #[error("SRTP authentication failed (wrong key, or a forged or corrupted packet)")]
    Authentication,
    /// The packet's index was seen already or is older than the window.
    #[error("SRTP replay: the packet index was already received or is too old")]
    Replay,
    /// The cipher refused (cannot happen with a valid key).
    #[error("the SRTP cipher failed")]
    Cipher,
}

/// A master key and salt, as SDES carries them (30 bytes, base64 in
/// `inline:`).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// The master key.
    pub key: [u8; MASTER_KEY_LEN],
    /// The master salt.
    pub salt: [u8; MASTER_SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches a log.
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// From the 30 concatenated bytes (key then salt).
    pub fn from_bytes(bytes: &[u8]) -> Option<MasterKey> {
        if bytes.len() != MASTER_KEY_LEN + MASTER_SALT_LEN {
            return None;
        }
        let mut key = [0u8; MASTER_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        key.copy_from_slice(&bytes[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&bytes[MASTER_KEY_LEN..]);
        Some(MasterKey { key, salt })
    }

    /// The 30 concatenated bytes.
    pub fn to_bytes(&self) -> [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] {
        let mut out = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
        out[..MASTER_KEY_LEN].copy_from_slice(&self.key);
        out[MASTER_KEY_LEN..].copy_from_slice(&self.salt);
        out
    }
}

/// A call's two SDES master keys: ours (what we send with) and the
/// peer's (what it sends with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesKeys {
    /// Protects what we send.
    pub local: MasterKey,
    /// Unprotects what the peer sends.
    pub remote: MasterKey,
}

impl SdesKeys {
    /// From the negotiated base64 `inline:` keys; `None` if either is not
    /// 30 bytes of base64.
    pub fn from_inline(local: &str, remote: &str) -> Option<SdesKeys> {
        Some(SdesKeys {
            local: MasterKey::from_bytes(&decode_inline(local)?)?,
            remote: MasterKey::from_bytes(&decode_inline(remote)?)?,
        })
    }
}

/// Base64 as SDES writes it (padding optional: 30 bytes need none).
fn decode_inline(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::general_purpose::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text.trim()).ok()
}

/// A fresh master key and salt from `random`, as `inline:` base64.
pub fn new_inline_key(
    random: &dyn crate::random::RandomSource,
) -> Result<String, crate::random::RandomError> {
    use base64::Engine as _;
    let mut bytes = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
    random.fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Both directions' contexts of one call.
#[derive(Debug)]
pub struct SrtpPair {
    /// Protects what we send.
    pub outbound: SrtpContext,
    /// Unprotects what the peer sends.
    pub inbound: SrtpContext,
}

impl SrtpPair {
    /// Both contexts for `keys`.
    pub fn new(keys: &SdesKeys) -> Result<SrtpPair, SrtpError> {
        Ok(SrtpPair {
            outbound: SrtpContext::new(&keys.local)?,
            inbound: SrtpContext::new(&keys.remote)?,
        })
    }
}

/// The session keys of one of RTP or RTCP.
struct SessionKeys {
    cipher: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; MASTER_SALT_LEN],
}

impl SessionKeys {
    fn derive(master: &MasterKey, labels: [u8; 3]) -> Result<SessionKeys, SrtpError> {
        let mut enc = [0u8; 16];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; MASTER_SALT_LEN];
        kdf(master, labels[0], &mut enc)?;
        kdf(master, labels[1], &mut auth)?;
        kdf(master, labels[2], &mut salt)?;
        let key = UnboundCipherKey::new(&AES_128, &enc).map_err(|_| SrtpError::Cipher)?;
        Ok(SessionKeys {
            cipher: EncryptingKey::ctr(key).map_err(|_| SrtpError::Cipher)?,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth),
            salt,
        })
    }

    /// XORs the AES-CM keystream for (`ssrc`, `index`) into `data` (§4.1.1).
    fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) -> Result<(), SrtpError> {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_LEN].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        self.cipher
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| SrtpError::Cipher)
    }

    /// HMAC-SHA1 over `parts`, truncated to 80 bits.
    fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut ctx = hmac::Context::with_key(&self.auth);
        for part in parts {
            ctx.update(part);
        }
        let full = ctx.sign();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        tag
    }
}

/// The AES-CM PRF of §4.3.3 with key derivation rate 0: `out` gets the
/// keystream under the master key for the label's IV.
fn kdf(master: &MasterKey, label: u8, out: &mut [u8]) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(&master.salt);
    iv[7] ^= label;
    let key = UnboundCipherKey::new(&AES_128, &master.key).map_err(|_| SrtpError::Cipher)?;
    let cipher = EncryptingKey::ctr(key).map_err(|_| SrtpError::Cipher)?;
    out.fill(0);
    cipher
        .less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map(|_| ())
        .map_err(|_| SrtpError::Cipher)
}

/// Per-SSRC receive (or send) state: highest index seen and the window.
#[derive(Clone, Copy, Debug)]
struct Stream {
    ssrc: u32,
    /// Highest packet index (ROC << 16 | SEQ) accepted.
    highest: u64,
    /// Bit i set: index `highest - i` was accepted.
    window: u64,
    /// Packets since this stream was (re)started, for eviction order.
    last_use: u64,
}

/// One direction's SRTP/SRTCP crypto context.
pub struct SrtpContext {
    rtp: SessionKeys,
    rtcp: SessionKeys,
    streams: Vec<Stream>,
    /// Our next SRTCP index (protecting side).
    rtcp_index: u32,
    /// Highest SRTCP index received and its window (unprotecting side).
    rtcp_highest: Option<(u32, u64)>,
    uses: u64,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// The RTP header's length (fixed part, CSRCs, extension), if complete.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0F);
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (len <= packet.len()).then_some(len)
}

impl SrtpContext {
    /// A context for one direction's master key.
    pub fn new(master: &MasterKey) -> Result<SrtpContext, SrtpError> {
        Ok(SrtpContext {
            rtp: SessionKeys::derive(master, [0, 1, 2])?,
            rtcp: SessionKeys::derive(master, [3, 4, 5])?,
            streams: Vec::with_capacity(MAX_STREAMS),
            rtcp_index: 0,
            rtcp_highest: None,
            uses: 0,
        })
    }

    fn stream(&mut self, ssrc: u32) -> Option<Stream> {
        self.streams.iter().find(|s| s.ssrc == ssrc).copied()
    }

    fn store(&mut self, stream: Stream) {
        self.uses += 1;
        let stream = Stream {
            last_use: self.uses,
            ..stream
        };
        if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == stream.ssrc) {
            *s = stream;
        } else if self.streams.len() < MAX_STREAMS {
            self.streams.push(stream);
        } else if let Some(oldest) = self.streams.iter_mut().min_by_key(|s| s.last_use) {
            *oldest = stream;
        }
    }

    /// The packet index of `seq` given the stream's highest (§3.3.1).
    fn estimate(stream: Option<Stream>, seq: u16) -> u64 {
        let Some(stream) = stream else {
            return u64::from(seq);
        };
        let s_l = (stream.highest & 0xFFFF) as u16;
        let roc = stream.highest >> 16;
        let v = if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        (v << 16 | u64::from(seq)) & 0xFFFF_FFFF_FFFF
    }

    /// Protects the RTP packet `plain` into `out` (cleared first).
    pub fn protect_rtp(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        let header = rtp_header_len(plain).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([plain[2], plain[3]]);
        let ssrc = u32::from_be_bytes([plain[8], plain[9], plain[10], plain[11]]);
        let stream = self.stream(ssrc);
        let index = Self::estimate(stream, seq);
        out.clear();
        out.extend_from_slice(plain);
        self.rtp.crypt(ssrc, index, &mut out[header..])?;
        let roc = ((index >> 16) as u32).to_be_bytes();
        let tag = self.rtp.tag(&[out, &roc]);
        out.extend_from_slice(&tag);
        let highest = stream.map_or(index, |s| s.highest.max(index));
        self.store(Stream {
            ssrc,
            highest,
            window: 0,
            last_use: 0,
        });
        Ok(())
    }

    /// Checks and decrypts the SRTP packet `packet` into `out` (the RTP
    /// packet without the tag). State changes only once it authenticated.
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 12 + TAG_LEN {
            return Err(SrtpError::TooShort);
        }
        let (authenticated, tag) = packet.split_at(packet.len() - TAG_LEN);
        let header = rtp_header_len(authenticated).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let stream = self.stream(ssrc);
        let index = Self::estimate(stream, seq);
        if let Some(s) = stream {
            if index <= s.highest {
                let age = s.highest - index;
                if age >= 64 || s.window >> age & 1 == 1 {
                    return Err(SrtpError::Replay);
                }
            }
        }
        let roc = ((index >> 16) as u32).to_be_bytes();
        let expected = self.rtp.tag(&[authenticated, &roc]);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, tag)
            .map_err(|_| SrtpError::Authentication)?;
        out.clear();
        out.extend_from_slice(authenticated);
        self.rtp.crypt(ssrc, index, &mut out[header..])?;
        let updated = match stream {
            None => Stream {
                ssrc,
                highest: index,
                window: 1,
                last_use: 0,
            },
            Some(s) if index > s.highest => {
                let shift = index - s.highest;
                Stream {
                    highest: index,
                    window: if shift >= 64 {
                        1
                    } else {
                        s.window << shift | 1
                    },
                    ..s
                }
            }
            Some(s) => Stream {
                window: s.window | 1 << (s.highest - index),
                ..s
            },
        };
        self.store(updated);
        Ok(())
    }

    /// Protects the RTCP compound `plain` into `out`: first 8 bytes clear,
    /// the rest encrypted, then E flag + index and the tag (§3.4).
    pub fn protect_rtcp(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        if plain.len() < 8 {
            return Err(SrtpError::TooShort);
        }
        let index = self.rtcp_index;
        self.rtcp_index = (self.rtcp_index + 1) & 0x7FFF_FFFF;
        let ssrc = u32::from_be_bytes([plain[4], plain[5], plain[6], plain[7]]);
        out.clear();
        out.extend_from_slice(plain);
        self.rtcp.crypt(ssrc, u64::from(index), &mut out[8..])?;
        out.extend_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = self.rtcp.tag(&[out]);
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Checks and decrypts an SRTCP packet into `out` (plain RTCP).
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 8 + SRTCP_TRAILER {
            return Err(SrtpError::TooShort);
        }
        let (authenticated, tag) = packet.split_at(packet.len() - TAG_LEN);
        let expected = self.rtcp.tag(&[authenticated]);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, tag)
            .map_err(|_| SrtpError::Authentication)?;
        let (body, e_index) = authenticated.split_at(authenticated.len() - 4);
        let word = u32::from_be_bytes([e_index[0], e_index[1], e_index[2], e_index[3]]);
        let (encrypted, index) = (word & 0x8000_0000 != 0, word & 0x7FFF_FFFF);
        let window = match self.rtcp_highest {
            None => (index, 1),
            Some((highest, window)) if index > highest => {
                let shift = u64::from(index - highest);
                (index, if shift >= 64 { 1 } else { window << shift | 1 })
            }
            Some((highest, window)) => {
                let age = u64::from(highest - index);
                if age >= 64 || window >> age & 1 == 1 {
                    return Err(SrtpError::Replay);
                }
                (highest, window | 1 << age)
            }
        };
        out.clear();
        out.extend_from_slice(body);
        if encrypted {
            let ssrc = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            self.rtcp.crypt(ssrc, u64::from(index), &mut out[8..])?;
        }
        self.rtcp_highest = Some(window);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
