//! Tests for digest auth: published vectors, header parsing against real-world shapes,
//! client/server round trips, and malformed input.

use super::*;

const SECRET: &[u8] = b"0123456789abcdef-test-secret";
const T0: u64 = 1_700_000_000;

fn mufasa() -> ClientCredentials {
    ClientCredentials::new("Mufasa", "Circle of Life")
}

/// The RFC 7616 §3.9.1 challenge for one algorithm.
fn rfc7616_challenge(algorithm: &str) -> Challenge {
    Challenge::parse(&format!(
        "Digest\r\n realm=\"http-auth@example.org\",\r\n qop=\"auth, auth-int\",\r\n \
         algorithm={algorithm},\r\n nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    ))
    .unwrap()
}

const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

// ---- published vectors -------------------------------------------------------------------

#[test]
fn rfc7616_md5_example_gives_the_published_response() {
    let c = rfc7616_challenge("MD5");
    let answer = respond(&[c], &mufasa(), "GET", "/dir/index.html", RFC7616_CNONCE, 1).unwrap();
    // RFC 7616 §3.9.1, the MD5 Authorization header.
    assert_eq!(answer.response, "8ca523f5e9506fed4657c9700eebdbec");
    assert_eq!(answer.qop, Some(Qop::Auth));
    assert_eq!(answer.nc, Some(1));
    assert_eq!(
        answer.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
}

#[test]
fn rfc7616_sha256_example_gives_the_published_response() {
    let c = rfc7616_challenge("SHA-256");
    let answer = respond(&[c], &mufasa(), "GET", "/dir/index.html", RFC7616_CNONCE, 1).unwrap();
    // RFC 7616 §3.9.1, the SHA-256 Authorization header.
    assert_eq!(
        answer.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(answer.algorithm, Some(Algorithm::Sha256));
}

#[test]
fn rfc7616_sha512_256_example_gives_the_erratum_4897_response() {
    // RFC 7616 §3.9.2 inputs. The RFC's printed response was computed with a pre-standard
    // SHA-512/256; erratum 4897 gives the value for FIPS 180-4 SHA-512/256.
    let c = Challenge::parse(
        "Digest realm=\"api@example.org\", qop=\"auth\", algorithm=SHA-512-256, \
         nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", \
         opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", charset=UTF-8, userhash=true",
    )
    .unwrap();
    let creds = ClientCredentials::new("J\u{e4}s\u{f8}n Doe", "Secret, or not?");
    let answer = respond(
        &[c],
        &creds,
        "GET",
        "/doe.json",
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
        1,
    )
    .unwrap();
    assert_eq!(
        answer.response,
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );
}

#[test]
fn rfc2617_example_gives_the_published_response() {
    // RFC 2617 §3.5 (also the shape of RFC 3261 §22.4's example).
    let c = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    let creds = ClientCredentials::new("Mufasa", "Circle Of Life");
    let answer = respond(&[c], &creds, "GET", "/dir/index.html", "0a4f113b", 1).unwrap();
    assert_eq!(answer.response, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn challenge_without_qop_gets_the_rfc2069_answer() {
    // RFC 2069 §2.4 example, with the response corrected by its erratum.
    let c = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    let creds = ClientCredentials::new("Mufasa", "CircleOfLife");
    let answer = respond(&[c], &creds, "GET", "/dir/index.html", "ignored", 7).unwrap();
    assert_eq!(answer.response, "1949323746fe6a43ef61f9606e7febea");
    assert_eq!(answer.qop, None);
    assert_eq!(answer.cnonce, None);
    assert_eq!(answer.nc, None);
    let text = answer.to_string();
    assert!(!text.contains("cnonce") && !text.contains("nc=") && !text.contains("qop"));
}

#[test]
fn rfc7616_authorization_header_parses_with_folding() {
    let v = "Digest username=\"Mufasa\",\r\n       realm=\"http-auth@example.org\",\r\n       \
             uri=\"/dir/index.html\",\r\n       algorithm=MD5,\r\n       \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n       nc=00000001,\r\n       \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n       qop=auth,\r\n       \
             response=\"8ca523f5e9506fed4657c9700eebdbec\",\r\n       \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let c = DigestCredentials::parse(v).unwrap();
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.realm, "http-auth@example.org");
    assert_eq!(c.uri, "/dir/index.html");
    assert_eq!(c.algorithm, Some(Algorithm::Md5));
    assert_eq!(c.nc, Some(1));
    assert_eq!(c.qop, Some(Qop::Auth));
    assert_eq!(c.cnonce.as_deref(), Some(RFC7616_CNONCE));
    assert_eq!(c.response, "8ca523f5e9506fed4657c9700eebdbec");
}

// ---- algorithm choice ----------------------------------------------------------------------

fn challenge_with(algorithm: Option<Algorithm>, nonce: &str) -> Challenge {
    Challenge {
        realm: "sip.example.net".into(),
        nonce: nonce.into(),
        opaque: None,
        stale: false,
        algorithm,
        qop: vec![Qop::Auth],
        domain: None,
    }
}

#[test]
fn client_picks_sha256_over_md5_whichever_comes_first() {
    let md5 = challenge_with(Some(Algorithm::Md5), "n-md5");
    let sha = challenge_with(Some(Algorithm::Sha256), "n-sha");
    let creds = ClientCredentials::new("alice", "pw");
    for set in [[md5.clone(), sha.clone()], [sha.clone(), md5.clone()]] {
        let a = respond(&set, &creds, "REGISTER", "sip:example.net", "cn", 1).unwrap();
        assert_eq!(a.algorithm, Some(Algorithm::Sha256));
        assert_eq!(a.nonce, "n-sha");
        assert_eq!(a.response.len(), 64);
    }
}

#[test]
fn client_picks_sha512_256_when_offered_alongside_sha256_and_md5() {
    let set = [
        challenge_with(None, "n-md5"),
        challenge_with(Some(Algorithm::Sha512_256), "n-512"),
        challenge_with(Some(Algorithm::Sha256), "n-256"),
    ];
    let creds = ClientCredentials::new("alice", "pw");
    let a = respond(&set, &creds, "INVITE", "sip:bob@example.net", "cn", 1).unwrap();
    assert_eq!(a.algorithm, Some(Algorithm::Sha512_256));
    assert_eq!(a.nonce, "n-512");
}

#[test]
fn challenge_without_algorithm_means_md5_and_answer_names_it() {
    let c = challenge_with(None, "n");
    assert_eq!(c.algorithm(), Algorithm::Md5);
    let a = respond(
        &[c],
        &ClientCredentials::new("a", "b"),
        "INVITE",
        "sip:x",
        "c",
        1,
    )
    .unwrap();
    assert_eq!(a.algorithm, Some(Algorithm::Md5));
    assert_eq!(a.response.len(), 32);
}

#[test]
fn challenge_offering_only_auth_int_cannot_be_answered() {
    let mut c = challenge_with(Some(Algorithm::Sha256), "n");
    c.qop = vec![Qop::AuthInt];
    let err = respond(&[c], &mufasa(), "INVITE", "sip:x", "c", 1).unwrap_err();
    assert_eq!(err, AuthError::UnsupportedQop);
    assert_eq!(
        respond(&[], &mufasa(), "INVITE", "sip:x", "c", 1).unwrap_err(),
        AuthError::NoChallenge
    );
}

#[test]
fn auth_int_only_challenge_is_skipped_for_a_weaker_auth_one() {
    let mut strong = challenge_with(Some(Algorithm::Sha512_256), "n-512");
    strong.qop = vec![Qop::AuthInt];
    let weak = challenge_with(Some(Algorithm::Md5), "n-md5");
    let a = respond(&[strong, weak], &mufasa(), "INVITE", "sip:x", "c", 1).unwrap();
    assert_eq!(a.algorithm, Some(Algorithm::Md5));
}

#[test]
fn respond_refuses_values_that_would_break_the_header() {
    let c = [challenge_with(None, "n")];
    let bad_user = ClientCredentials::new("al\r\nVia: x", "pw");
    assert!(matches!(
        respond(&c, &bad_user, "INVITE", "sip:x", "c", 1),
        Err(AuthError::InvalidConfig(_))
    ));
    for (uri, cnonce, nc) in [("", "c", 1), ("sip:x", "", 1), ("sip:x", "c", 0)] {
        assert!(matches!(
            respond(&c, &mufasa(), "INVITE", uri, cnonce, nc),
            Err(AuthError::InvalidConfig(_))
        ));
    }
}

// ---- header parsing: real-world shapes -----------------------------------------------------

#[test]
fn asterisk_style_challenge_parses() {
    let c = Challenge::parse(
        "Digest realm=\"asterisk\",nonce=\"1700000000/3d9c0a5e1a1b2c3d4e5f60718293a4b5\",\
         opaque=\"5a7c3d2e1f0a9b8c\",algorithm=MD5,qop=\"auth\"",
    )
    .unwrap();
    assert_eq!(c.realm, "asterisk");
    assert_eq!(c.nonce, "1700000000/3d9c0a5e1a1b2c3d4e5f60718293a4b5");
    assert_eq!(c.opaque.as_deref(), Some("5a7c3d2e1f0a9b8c"));
    assert_eq!(c.algorithm, Some(Algorithm::Md5));
    assert_eq!(c.qop, vec![Qop::Auth]);
    assert!(!c.stale);
}

#[test]
fn freeswitch_style_challenge_with_unquoted_qop_parses() {
    let c = Challenge::parse(
        "Digest realm=\"pbx.example.com\", nonce=\"0f3b62e4-8d6c-4b57-9d3e-7f2c1a0b9e88\", \
         algorithm=MD5, qop=auth",
    )
    .unwrap();
    assert_eq!(c.realm, "pbx.example.com");
    assert_eq!(c.qop, vec![Qop::Auth]);
}

#[test]
fn quoted_algorithm_nc_and_qop_are_accepted_in_credentials() {
    let c = DigestCredentials::parse(
        "digest USERNAME=\"alice\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", \
         response=\"ABCDEF0123\", algorithm=\"sha-256\", qop=\"auth\", nc=\"0000000a\", \
         cnonce=\"c\"",
    )
    .unwrap();
    assert_eq!(c.username, "alice");
    assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    assert_eq!(c.qop, Some(Qop::Auth));
    assert_eq!(c.nc, Some(10));
}

#[test]
fn unquoted_values_tabs_empty_elements_and_unknown_params_are_tolerated() {
    let c = Challenge::parse(
        "DIGEST\trealm=asterisk ,, nonce = abc/def+== ,\r\n\tStale=TRUE, foo=\"bar, baz\", \
         algorithm=\"SHA-256\",charset=UTF-8",
    )
    .unwrap();
    assert_eq!(c.realm, "asterisk");
    assert_eq!(c.nonce, "abc/def+==");
    assert!(c.stale);
    assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    assert!(c.qop.is_empty());
}

#[test]
fn quoted_stale_and_escapes_are_understood() {
    let c = Challenge::parse(r#"Digest realm="a \"q\" \\ b", nonce="n", stale="true""#).unwrap();
    assert_eq!(c.realm, r#"a "q" \ b"#);
    assert!(c.stale);
    let c = Challenge::parse(r#"Digest realm="r", nonce="n", stale=false"#).unwrap();
    assert!(!c.stale);
}

#[test]
fn unknown_qop_options_are_skipped_but_a_list_of_only_unknowns_is_an_error() {
    let c = Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-conf, auth""#).unwrap();
    assert_eq!(c.qop, vec![Qop::Auth]);
    assert_eq!(
        Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-conf""#).unwrap_err(),
        AuthError::MalformedParam {
            param: "qop",
            why: "it offers neither auth nor auth-int"
        }
    );
}

#[test]
fn sess_and_unknown_algorithms_are_reported_as_unsupported() {
    for alg in ["MD5-sess", "SHA-256-sess", "AKAv1-MD5", "SHA-1"] {
        let err = Challenge::parse(&format!(r#"Digest realm="r", nonce="n", algorithm={alg}"#))
            .unwrap_err();
        assert_eq!(err, AuthError::UnsupportedAlgorithm(alg.to_owned()));
    }
}

// ---- formatting ------------------------------------------------------------------------------

#[test]
fn credentials_format_quotes_what_rfc7616_quotes_and_nothing_else() {
    let c = rfc7616_challenge("SHA-256");
    let a = respond(&[c], &mufasa(), "GET", "/dir/index.html", RFC7616_CNONCE, 1).unwrap();
    assert_eq!(
        a.to_string(),
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", \
         response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
         algorithm=SHA-256, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", qop=auth, nc=00000001"
    );
}

#[test]
fn challenge_format_quotes_qop_but_not_algorithm_or_stale() {
    let mut c = challenge_with(Some(Algorithm::Sha512_256), "abc");
    c.stale = true;
    c.opaque = Some("op".into());
    c.qop = vec![Qop::Auth, Qop::AuthInt];
    assert_eq!(
        c.to_string(),
        "Digest realm=\"sip.example.net\", nonce=\"abc\", opaque=\"op\", stale=true, \
         algorithm=SHA-512-256, qop=\"auth,auth-int\""
    );
}

#[test]
fn formatted_values_parse_back_to_the_same_value() {
    let mut c = challenge_with(Some(Algorithm::Sha256), "n\"x\\y");
    c.realm = "ré \"alm\"".into();
    c.domain = Some("sip:a.example sip:b.example".into());
    c.opaque = Some("o".into());
    assert_eq!(Challenge::parse(&c.to_string()).unwrap(), c);

    let a = respond(
        &[c],
        &ClientCredentials::new("bö\\b", "pw"),
        "INVITE",
        "sip:x",
        "c\"n",
        255,
    )
    .unwrap();
    let back = DigestCredentials::parse(&a.to_string()).unwrap();
    assert_eq!(back, a);
    assert!(a.to_string().contains("nc=000000ff"));
}

#[test]
fn formatting_drops_control_characters_so_a_header_cannot_be_split() {
    let mut c = challenge_with(None, "n");
    c.realm = "evil\r\nVia: SIP/2.0/UDP attacker".into();
    let text = c.to_string();
    assert!(!text.contains('\r') && !text.contains('\n'));
    assert!(text.contains("evilVia: SIP/2.0/UDP attacker"));
}

// ---- malformed input -------------------------------------------------------------------------

#[test]
fn malformed_values_give_the_error_that_names_the_problem() {
    let cases: &[(&str, AuthError)] = &[
        ("", AuthError::Empty),
        (" \r\n\t ", AuthError::Empty),
        ("Digest", AuthError::MissingParam("realm")),
        (r#"Digest realm="r""#, AuthError::MissingParam("nonce")),
        (r#"Digest nonce="n""#, AuthError::MissingParam("realm")),
        (r#"Basic realm="r""#, AuthError::NotDigest("Basic".into())),
        (
            r#"Digest realm="r", nonce="""#,
            AuthError::MalformedParam {
                param: "nonce",
                why: "it is empty",
            },
        ),
        (
            r#"Digest realm="r", realm="s", nonce="n""#,
            AuthError::DuplicateParam("realm"),
        ),
        (
            r#"Digest realm="r, nonce="n""#,
            AuthError::Syntax {
                at: 24,
                what: "expected ',' between parameters",
            },
        ),
        (
            r#"Digest realm="r", nonce="n"#,
            AuthError::Syntax {
                at: 24,
                what: "unterminated quoted string",
            },
        ),
        (
            r#"Digest realm="r" nonce="n""#,
            AuthError::Syntax {
                at: 17,
                what: "expected ',' between parameters",
            },
        ),
        (
            r#"Digest realm=, nonce="n""#,
            AuthError::Syntax {
                at: 13,
                what: "expected a parameter value",
            },
        ),
        (
            r#"Digest realm"r""#,
            AuthError::Syntax {
                at: 12,
                what: "expected '=' after a parameter name",
            },
        ),
        (
            "Digest realm=\"a\rb\", nonce=\"n\"",
            AuthError::Syntax {
                at: 15,
                what: "control character in a quoted string",
            },
        ),
        (
            r#"Digest="r""#,
            AuthError::Syntax {
                at: 6,
                what: "expected whitespace after the Digest scheme",
            },
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(&Challenge::parse(value).unwrap_err(), expected, "{value:?}");
    }
}

#[test]
fn malformed_credentials_name_the_bad_parameter() {
    let base = r#"Digest username="u", realm="r", nonce="n", uri="sip:r", response="abcd""#;
    assert!(DigestCredentials::parse(base).is_ok());
    let cases: &[(String, AuthError)] = &[
        (
            r#"Digest username="u", realm="r", nonce="n", response="ab""#.into(),
            AuthError::MissingParam("uri"),
        ),
        (
            format!("{base}, qop=auth, nc=00000001"),
            AuthError::MissingParam("cnonce"),
        ),
        (
            format!("{base}, qop=auth, cnonce=\"c\""),
            AuthError::MissingParam("nc"),
        ),
        (
            format!("{base}, qop=auth, cnonce=\"c\", nc=000000001"),
            AuthError::MalformedParam {
                param: "nc",
                why: "it is not 1 to 8 hex digits",
            },
        ),
        (
            format!("{base}, qop=auth, cnonce=\"c\", nc=0000000g"),
            AuthError::MalformedParam {
                param: "nc",
                why: "it is not 1 to 8 hex digits",
            },
        ),
        (
            format!("{base}, qop=auth-conf, cnonce=\"c\", nc=1"),
            AuthError::MalformedParam {
                param: "qop",
                why: "it is neither auth nor auth-int",
            },
        ),
        (
            base.replace("abcd", "xyz"),
            AuthError::MalformedParam {
                param: "response",
                why: "it is not a hex digest",
            },
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            &DigestCredentials::parse(value).unwrap_err(),
            expected,
            "{value:?}"
        );
    }
}

#[test]
fn oversized_and_overlong_param_lists_are_refused_before_parsing() {
    let long = format!(
        r#"Digest realm="r", nonce="{}""#,
        "a".repeat(MAX_HEADER_VALUE_LEN)
    );
    assert_eq!(
        Challenge::parse(&long).unwrap_err(),
        AuthError::TooLong {
            len: long.len(),
            max: MAX_HEADER_VALUE_LEN
        }
    );
    let just_fits = format!(r#"Digest realm="r", nonce="{}""#, "a".repeat(4000));
    assert!(just_fits.len() <= MAX_HEADER_VALUE_LEN);
    assert!(Challenge::parse(&just_fits).is_ok());

    let many: String = (0..=MAX_PARAMS).map(|i| format!("x{i}=1,")).collect();
    let many = format!(r#"Digest realm="r", nonce="n", {many}"#);
    assert_eq!(
        Challenge::parse(&many).unwrap_err(),
        AuthError::TooManyParams { max: MAX_PARAMS }
    );
}

#[test]
fn every_truncation_of_valid_headers_is_handled_without_panic() {
    let challenge = "Digest realm=\"asterisk\",\r\n nonce=\"a\\\"b/c\",opaque=\"o\", \
                     stale=TRUE, algorithm=SHA-256, qop=\"auth,auth-int\", domain=\"sip:x\"";
    let creds = "Digest username=\"b\u{f6}b\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", \
                 response=\"abcd\", algorithm=MD5, cnonce=\"c\", opaque=\"o\", qop=auth, \
                 nc=00000001";
    assert!(Challenge::parse(challenge).is_ok());
    assert!(DigestCredentials::parse(creds).is_ok());
    let mut errors = 0;
    for text in [challenge, creds] {
        for end in (0..text.len()).filter(|&e| text.is_char_boundary(e)) {
            let cut = &text[..end];
            errors += usize::from(Challenge::parse(cut).is_err());
            errors += usize::from(DigestCredentials::parse(cut).is_err());
        }
    }
    // Most truncations lose a required parameter or end inside a quote.
    assert!(errors > challenge.len());
}

#[test]
fn random_byte_mutations_never_panic() {
    // Deterministic xorshift so a failure reproduces.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seed = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", \
                response=\"abcd\", algorithm=MD5, cnonce=\"c\", qop=auth, nc=00000001";
    let alphabet = b"\"\\,= \t\r\nDigstam5-0x\x7f\x00";
    for _ in 0..5000 {
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % bytes.len() as u64) as usize;
            let with = alphabet[(next() % alphabet.len() as u64) as usize];
            bytes[at] = with;
        }
        let text = String::from_utf8(bytes).unwrap();
        let _ = Challenge::parse(&text);
        let _ = DigestCredentials::parse(&text);
    }
}

// ---- challenger ------------------------------------------------------------------------------

fn challenger(algorithms: &[Algorithm]) -> Challenger {
    Challenger::new(SECRET, "sip.example.net", algorithms).unwrap()
}

fn alice() -> ClientCredentials {
    ClientCredentials::new("alice", "correct horse")
}

fn alice_lookup(user: &str, _: Algorithm) -> Option<UserSecret> {
    (user == "alice").then(|| UserSecret::Password("correct horse".into()))
}

/// Sends the challenge set through text and back, as it would travel.
fn over_the_wire(challenges: Vec<Challenge>) -> Vec<Challenge> {
    challenges
        .iter()
        .map(|c| Challenge::parse(&c.to_string()).unwrap())
        .collect()
}

fn answer_for(
    ch: &Challenger,
    creds: &ClientCredentials,
    method: &str,
    now: u64,
) -> DigestCredentials {
    let challenges = over_the_wire(ch.challenge(now));
    let a = respond(
        &challenges,
        creds,
        method,
        "sip:sip.example.net",
        "0a4f113b",
        1,
    )
    .unwrap();
    DigestCredentials::parse(&a.to_string()).unwrap()
}

#[test]
fn challenger_offers_one_challenge_per_algorithm_strongest_first_with_qop_auth() {
    let ch = challenger(&[
        Algorithm::Md5,
        Algorithm::Sha512_256,
        Algorithm::Sha256,
        Algorithm::Md5,
    ]);
    let cs = ch.challenge(T0);
    let algs: Vec<_> = cs.iter().map(|c| c.algorithm).collect();
    assert_eq!(
        algs,
        [
            Some(Algorithm::Sha512_256),
            Some(Algorithm::Sha256),
            Some(Algorithm::Md5)
        ]
    );
    for c in &cs {
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert_eq!(c.realm, "sip.example.net");
        assert_eq!(c.nonce, cs[0].nonce);
        assert!(!c.stale);
    }
    assert!(ch.stale_challenge(T0).iter().all(|c| c.stale));
    assert_ne!(
        ch.challenge(T0).swap_remove(0).nonce,
        ch.challenge(T0 + 1).swap_remove(0).nonce
    );
}

#[test]
fn register_and_invite_round_trip_for_each_algorithm() {
    for alg in Algorithm::ALL {
        let ch = challenger(&[alg]);
        for method in ["REGISTER", "INVITE"] {
            let a = answer_for(&ch, &alice(), method, T0);
            assert_eq!(a.algorithm, Some(alg));
            assert_eq!(
                ch.verify(&a, method, alice_lookup, T0 + 5),
                Verification::Ok,
                "{alg}"
            );
            // The method is covered by the response.
            let other = if method == "INVITE" { "BYE" } else { "INVITE" };
            assert_eq!(
                ch.verify(&a, other, alice_lookup, T0 + 5),
                Verification::Invalid(InvalidReason::ResponseMismatch)
            );
        }
    }
}

#[test]
fn stored_ha1_verifies_like_the_password() {
    let ch = challenger(&[Algorithm::Sha256]);
    let a = answer_for(&ch, &alice(), "REGISTER", T0);
    let ha1 = Algorithm::Sha256
        .ha1("alice", "sip.example.net", "correct horse")
        .to_uppercase();
    let lookup = |u: &str, alg: Algorithm| {
        assert_eq!((u, alg), ("alice", Algorithm::Sha256));
        Some(UserSecret::Ha1(ha1.clone()))
    };
    assert_eq!(ch.verify(&a, "REGISTER", lookup, T0), Verification::Ok);
}

#[test]
fn wrong_password_is_invalid() {
    let ch = challenger(&[Algorithm::Sha256, Algorithm::Md5]);
    let a = answer_for(
        &ch,
        &ClientCredentials::new("alice", "wrong"),
        "REGISTER",
        T0,
    );
    assert_eq!(
        ch.verify(&a, "REGISTER", alice_lookup, T0),
        Verification::Invalid(InvalidReason::ResponseMismatch)
    );
}

#[test]
fn unknown_user_is_invalid() {
    let ch = challenger(&[Algorithm::Md5]);
    let a = answer_for(&ch, &ClientCredentials::new("mallory", "x"), "REGISTER", T0);
    assert_eq!(
        ch.verify(&a, "REGISTER", alice_lookup, T0),
        Verification::Invalid(InvalidReason::UnknownUser)
    );
}

#[test]
fn expired_nonce_with_right_password_is_stale() {
    let ch = challenger(&[Algorithm::Sha256]).with_nonce_ttl_secs(60);
    let a = answer_for(&ch, &alice(), "INVITE", T0);
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0 + 60),
        Verification::Ok
    );
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0 + 61),
        Verification::Stale
    );
}

#[test]
fn expired_nonce_with_wrong_password_is_invalid_not_stale() {
    let ch = challenger(&[Algorithm::Sha256]);
    let a = answer_for(&ch, &ClientCredentials::new("alice", "nope"), "INVITE", T0);
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0 + 3600),
        Verification::Invalid(InvalidReason::ResponseMismatch)
    );
}

#[test]
fn tampered_or_foreign_nonce_is_invalid() {
    let ch = challenger(&[Algorithm::Sha256]);
    let nonce = ch.challenge(T0)[0].nonce.clone();
    assert_eq!(nonce.len(), 48);
    // Move the timestamp forward to dodge expiry, keep the tag: the tag no longer matches.
    let later = format!("{:016x}{}", T0 + 1000, &nonce[16..]);
    let flipped_tag = {
        let mut b = nonce.clone().into_bytes();
        b[47] = if b[47] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).unwrap()
    };
    let other_secret = Challenger::new(
        b"another-secret-of-16+",
        "sip.example.net",
        &[Algorithm::Sha256],
    )
    .unwrap()
    .challenge(T0)[0]
        .nonce
        .clone();
    let other_realm = Challenger::new(SECRET, "other.example.net", &[Algorithm::Sha256])
        .unwrap()
        .challenge(T0)[0]
        .nonce
        .clone();
    for bad in [
        later,
        flipped_tag,
        other_secret,
        other_realm,
        nonce.to_uppercase(),
        nonce[..47].to_owned(),
        "not-ours".to_owned(),
        String::new(),
    ] {
        // A client that answers the bad nonce correctly for the password still fails.
        let mut c = ch.challenge(T0)[0].clone();
        c.nonce = bad.clone();
        let a = respond(&[c], &alice(), "INVITE", "sip:x", "cn", 1).unwrap();
        assert_eq!(
            ch.verify(&a, "INVITE", alice_lookup, T0),
            Verification::Invalid(InvalidReason::UnknownNonce),
            "{bad:?}"
        );
    }
}

#[test]
fn answer_for_another_realm_or_unoffered_algorithm_is_invalid() {
    let ch = challenger(&[Algorithm::Sha256]);
    let mut a = answer_for(&ch, &alice(), "INVITE", T0);
    a.realm = "elsewhere".into();
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::RealmMismatch)
    );

    // A downgrade: MD5 answer to a SHA-256-only challenger's nonce.
    let mut c = ch.challenge(T0)[0].clone();
    c.algorithm = Some(Algorithm::Md5);
    let a = respond(&[c], &alice(), "INVITE", "sip:x", "cn", 1).unwrap();
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::AlgorithmNotOffered)
    );
}

#[test]
fn answer_without_qop_or_with_auth_int_is_invalid() {
    let ch = challenger(&[Algorithm::Md5]);
    let mut c = ch.challenge(T0)[0].clone();
    c.qop.clear();
    let a = respond(&[c], &alice(), "INVITE", "sip:x", "cn", 1).unwrap();
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::QopMissing)
    );
    let mut a = answer_for(&ch, &alice(), "INVITE", T0);
    a.qop = Some(Qop::AuthInt);
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::QopNotSupported)
    );
    let mut a = answer_for(&ch, &alice(), "INVITE", T0);
    a.uri.clear();
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::MissingUri)
    );
}

#[test]
fn challenger_refuses_short_secret_and_empty_algorithm_list() {
    assert!(matches!(
        Challenger::new(b"short", "r", &[Algorithm::Md5]),
        Err(AuthError::InvalidConfig(_))
    ));
    assert!(matches!(
        Challenger::new(SECRET, "r", &[]),
        Err(AuthError::InvalidConfig(_))
    ));
    let debug = format!("{:?}", challenger(&[Algorithm::Md5]));
    assert!(!debug.contains("0123456789abcdef"));
}

// ---- client state ----------------------------------------------------------------------------

fn step_retry(step: AuthStep) -> DigestCredentials {
    match step {
        AuthStep::Retry(c) => c,
        AuthStep::GiveUp(r) => panic!("expected a retry, got GiveUp({r:?})"),
    }
}

#[test]
fn stale_nonce_asks_client_to_retry_without_new_password() {
    let ch = challenger(&[Algorithm::Sha256]).with_nonce_ttl_secs(60);
    let mut state = ClientAuthState::new();
    let uri = "sip:sip.example.net";

    // REGISTER without credentials → 401 → answer → 200.
    assert_eq!(
        state.authorize(&alice(), "REGISTER", uri, "c1").unwrap(),
        None
    );
    let first = step_retry(
        state
            .on_challenge(
                &over_the_wire(ch.challenge(T0)),
                &alice(),
                "REGISTER",
                uri,
                "c1",
            )
            .unwrap(),
    );
    assert_eq!(first.nc, Some(1));
    assert_eq!(
        ch.verify(&first, "REGISTER", alice_lookup, T0),
        Verification::Ok
    );
    state.on_final_response();

    // Refresh 10 minutes later, pre-emptively with the old nonce: right password, stale.
    let later = T0 + 600;
    let reused = state
        .authorize(&alice(), "REGISTER", uri, "c2")
        .unwrap()
        .unwrap();
    assert_eq!(reused.nc, Some(2));
    assert_eq!(reused.nonce, first.nonce);
    assert_eq!(
        ch.verify(&reused, "REGISTER", alice_lookup, later),
        Verification::Stale
    );

    // The 401 with stale=true → retry with the new nonce, nc back to 1, same password.
    let retried = step_retry(
        state
            .on_challenge(
                &over_the_wire(ch.stale_challenge(later)),
                &alice(),
                "REGISTER",
                uri,
                "c3",
            )
            .unwrap(),
    );
    assert_ne!(retried.nonce, first.nonce);
    assert_eq!(retried.nc, Some(1));
    assert_eq!(
        ch.verify(&retried, "REGISTER", alice_lookup, later),
        Verification::Ok
    );
}

#[test]
fn stale_after_a_fresh_answer_is_retried_but_not_forever() {
    let ch = challenger(&[Algorithm::Md5]);
    let mut state = ClientAuthState::new();
    let uri = "sip:x";
    let _ = step_retry(
        state
            .on_challenge(&ch.challenge(T0), &alice(), "INVITE", uri, "c")
            .unwrap(),
    );
    for i in 1..=3 {
        let a = step_retry(
            state
                .on_challenge(&ch.stale_challenge(T0 + i), &alice(), "INVITE", uri, "c")
                .unwrap(),
        );
        assert_eq!(a.nc, Some(1));
    }
    assert_eq!(
        state
            .on_challenge(&ch.stale_challenge(T0 + 9), &alice(), "INVITE", uri, "c")
            .unwrap(),
        AuthStep::GiveUp(GiveUpReason::TooManyStaleNonces)
    );
}

#[test]
fn second_challenge_without_stale_means_wrong_credentials() {
    let ch = challenger(&[Algorithm::Sha256]);
    let mut state = ClientAuthState::new();
    let wrong = ClientCredentials::new("alice", "typo");
    let a = step_retry(
        state
            .on_challenge(&ch.challenge(T0), &wrong, "INVITE", "sip:x", "c")
            .unwrap(),
    );
    assert_eq!(
        ch.verify(&a, "INVITE", alice_lookup, T0),
        Verification::Invalid(InvalidReason::ResponseMismatch)
    );
    // The server answers Invalid with a fresh (non-stale) challenge.
    assert_eq!(
        state
            .on_challenge(&ch.challenge(T0 + 1), &wrong, "INVITE", "sip:x", "c")
            .unwrap(),
        AuthStep::GiveUp(GiveUpReason::CredentialsRejected)
    );
    // The dead nonce is forgotten: nothing is sent pre-emptively next time.
    assert_eq!(state.nonce_count(), None);
    assert_eq!(
        state.authorize(&wrong, "INVITE", "sip:x", "c").unwrap(),
        None
    );
}

#[test]
fn challenge_after_a_reused_nonce_is_retried_even_without_stale() {
    // Some servers drop old nonces and send a plain 401 instead of stale=true.
    let ch = challenger(&[Algorithm::Md5]);
    let mut state = ClientAuthState::new();
    let _ = step_retry(
        state
            .on_challenge(&ch.challenge(T0), &alice(), "INVITE", "sip:x", "c")
            .unwrap(),
    );
    state.on_final_response();
    assert!(state
        .authorize(&alice(), "BYE", "sip:x", "c")
        .unwrap()
        .is_some());
    let a = step_retry(
        state
            .on_challenge(&ch.challenge(T0 + 100), &alice(), "BYE", "sip:x", "c")
            .unwrap(),
    );
    assert_eq!(a.nc, Some(1));
    assert_eq!(
        ch.verify(&a, "BYE", alice_lookup, T0 + 100),
        Verification::Ok
    );
}

#[test]
fn nonce_count_increments_with_each_reuse_of_the_same_nonce() {
    let ch = challenger(&[Algorithm::Sha512_256]);
    let mut state = ClientAuthState::new();
    let first = step_retry(
        state
            .on_challenge(&ch.challenge(T0), &alice(), "REGISTER", "sip:x", "c")
            .unwrap(),
    );
    assert_eq!(first.nc, Some(1));
    state.on_final_response();
    for expected in 2..=5u32 {
        let a = state
            .authorize(&alice(), "REGISTER", "sip:x", "c")
            .unwrap()
            .unwrap();
        assert_eq!(a.nc, Some(expected));
        assert_eq!(a.nonce, first.nonce);
        assert!(a.to_string().contains(&format!("nc={expected:08x}")));
        assert_eq!(
            ch.verify(&a, "REGISTER", alice_lookup, T0 + 1),
            Verification::Ok
        );
        state.on_final_response();
    }
    assert_eq!(state.nonce_count(), Some(5));

    // The server re-challenging with the same nonce continues the count rather than
    // restarting it (a restart would look like a replay).
    let again = step_retry(
        state
            .on_challenge(
                &[first_challenge_of(&ch)],
                &alice(),
                "REGISTER",
                "sip:x",
                "c",
            )
            .unwrap(),
    );
    assert_eq!(again.nc, Some(6));
}

fn first_challenge_of(ch: &Challenger) -> Challenge {
    ch.challenge(T0).swap_remove(0)
}

#[test]
fn client_credentials_debug_hides_the_password() {
    let text = format!("{:?}", ClientCredentials::new("alice", "hunter2"));
    assert!(text.contains("alice") && !text.contains("hunter2"));
    let text = format!("{:?}", UserSecret::Password("hunter2".into()));
    assert!(!text.contains("hunter2"));
}
