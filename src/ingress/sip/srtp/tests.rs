use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// RFC 3711 appendix B.3's master key and salt (also libsrtp's test key).
fn rfc_master() -> MasterKey {
    let mut bytes = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    bytes.extend(hex("0EC675AD498AFEEBB6960B3AABE6"));
    MasterKey::from_bytes(&bytes).expect("30 bytes")
}

#[test]
fn key_derivation_matches_rfc_3711_appendix_b3() {
    let master = rfc_master();
    let mut enc = [0u8; 16];
    kdf(&master, 0, &mut enc).expect("kdf");
    assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut salt = [0u8; 14];
    kdf(&master, 2, &mut salt).expect("kdf");
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut auth = [0u8; 20];
    kdf(&master, 1, &mut auth).expect("kdf");
    assert_eq!(
        auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
}

#[test]
fn the_aes_cm_keystream_matches_rfc_3711_appendix_b2() {
    let key =
        UnboundCipherKey::new(&AES_128, &hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("key");
    let mut salt = [0u8; 14];
    salt.copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
    let keys = SessionKeys {
        cipher: EncryptingKey::ctr(key).expect("ctr"),
        auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[0u8; 20]),
        salt,
    };
    let mut stream = [0u8; 48];
    keys.crypt(0, 0, &mut stream).expect("crypt");
    assert_eq!(
        stream.to_vec(),
        hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0")
    );
}

const PLAIN: &str = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
const PROTECTED: &str =
    "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402 b78d6acc 99ea179b 8dbb";

#[test]
fn protecting_libsrtps_reference_packet_gives_its_reference_ciphertext() {
    let mut ctx = SrtpContext::new(&rfc_master()).expect("ctx");
    let mut out = Vec::new();
    ctx.protect_rtp(&hex(PLAIN), &mut out).expect("protect");
    assert_eq!(out, hex(PROTECTED));
}

#[test]
fn unprotecting_accepts_the_reference_once_and_refuses_replays_and_forgeries() {
    let mut rx = SrtpContext::new(&rfc_master()).expect("ctx");
    let mut out = Vec::new();
    let mut forged = hex(PROTECTED);
    forged[14] ^= 1;
    assert_eq!(
        rx.unprotect_rtp(&forged, &mut out),
        Err(SrtpError::Authentication)
    );
    rx.unprotect_rtp(&hex(PROTECTED), &mut out)
        .expect("unprotect");
    assert_eq!(out, hex(PLAIN));
    assert_eq!(
        rx.unprotect_rtp(&hex(PROTECTED), &mut out),
        Err(SrtpError::Replay)
    );
    let mut wrong_key = rfc_master();
    wrong_key.key[0] ^= 0xFF;
    let mut other = SrtpContext::new(&wrong_key).expect("ctx");
    assert_eq!(
        other.unprotect_rtp(&hex(PROTECTED), &mut out),
        Err(SrtpError::Authentication)
    );
}

fn rtp(seq: u16, payload: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend(seq.to_be_bytes());
    p.extend(160u32.wrapping_mul(u32::from(seq)).to_be_bytes());
    p.extend(0x1234_5678u32.to_be_bytes());
    p.extend([payload; 160]);
    p
}

#[test]
fn a_stream_round_trips_across_the_sequence_wrap_and_out_of_order_packets() {
    let master = rfc_master();
    let (mut tx, mut rx) = (
        SrtpContext::new(&master).expect("tx"),
        SrtpContext::new(&master).expect("rx"),
    );
    let (mut wire, mut back) = (Vec::new(), Vec::new());
    let mut sent = Vec::new();
    for i in 0..200u16 {
        let seq = 65_500u16.wrapping_add(i);
        let plain = rtp(seq, i as u8);
        tx.protect_rtp(&plain, &mut wire).expect("protect");
        assert_ne!(wire[12..172], plain[12..], "the payload is encrypted");
        sent.push((plain, wire.clone()));
    }
    // Deliver with neighbours swapped: the window and ROC estimate cope.
    for pair in sent.chunks(2) {
        for (plain, protected) in pair.iter().rev() {
            rx.unprotect_rtp(protected, &mut back).expect("unprotect");
            assert_eq!(&back, plain);
        }
    }
    // After the wrap the ROC is 1: a packet from before it replays.
    assert_eq!(
        rx.unprotect_rtp(&sent[0].1, &mut back),
        Err(SrtpError::Replay)
    );
}

#[test]
fn srtcp_round_trips_encrypted_and_refuses_tampering_and_replay() {
    let master = rfc_master();
    let (mut tx, mut rx) = (
        SrtpContext::new(&master).expect("tx"),
        SrtpContext::new(&master).expect("rx"),
    );
    // An RR with one SDES chunk's worth of bytes after the SSRC.
    let mut rr = vec![0x80, 201, 0x00, 0x01, 0xCA, 0xFE, 0xBA, 0xBE];
    rr.extend([
        0x81, 202, 0x00, 0x02, 0xCA, 0xFE, 0xBA, 0xBE, 0x01, 0x02, b'a', b'b',
    ]);
    let (mut wire, mut back) = (Vec::new(), Vec::new());
    tx.protect_rtcp(&rr, &mut wire).expect("protect");
    assert_eq!(wire.len(), rr.len() + SRTCP_TRAILER);
    assert_eq!(wire[..8], rr[..8], "the first header stays clear");
    assert_ne!(wire[8..rr.len()], rr[8..]);
    let mut tampered = wire.clone();
    tampered[9] ^= 1;
    assert_eq!(
        rx.unprotect_rtcp(&tampered, &mut back),
        Err(SrtpError::Authentication)
    );
    rx.unprotect_rtcp(&wire, &mut back).expect("unprotect");
    assert_eq!(back, rr);
    assert_eq!(rx.unprotect_rtcp(&wire, &mut back), Err(SrtpError::Replay));
}

#[test]
fn garbage_of_any_length_is_refused_without_panicking() {
    let mut rx = SrtpContext::new(&rfc_master()).expect("ctx");
    let mut out = Vec::new();
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x80) as u8).collect();
        assert!(rx.unprotect_rtp(&junk, &mut out).is_err());
        assert!(rx.unprotect_rtcp(&junk, &mut out).is_err());
    }
}
