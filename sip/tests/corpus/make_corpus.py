#!/usr/bin/env python3
"""Generates the malformed SIP corpus in sip/tests/corpus/malformed/ and the
expectations in sip/tests/corpus/expected.txt, and copies both the malformed
and a set of valid messages into sip/fuzz/corpus/sip_message/ as seeds.

Run from anywhere:  python3 sip/tests/corpus/make_corpus.py

Every message is raw bytes with CRLF line endings, as real traffic has.
Expectations are what `error_response` must produce for the bytes:
  400      a 400 whose reason is "Bad Request - <the parse error>"
  505      "505 Version Not Supported"
  513      "513 Message Too Large"
  silence  no answer (not a request, an ACK, or no Via to answer to)
  ok       parse accepts the message (RFC leniency; documented per file)
The output is deterministic (fixed PRNG seed), so regenerating the corpus
gives the same bytes.
"""

import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "malformed")
VALID = os.path.join(HERE, "valid")
FUZZ_SEEDS = os.path.normpath(os.path.join(HERE, "..", "..", "fuzz", "corpus", "sip_message"))

SDP = (
    "v=0\r\n"
    "o=carrier 1234 1 IN IP4 203.0.113.10\r\n"
    "s=-\r\n"
    "c=IN IP4 203.0.113.20\r\n"
    "t=0 0\r\n"
    "m=audio 31000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

VIA = "Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-corpus-1;rport"
FROM = "From: \"Carrier\" <sip:+15559870000@carrier.example>;tag=from-1"
TO = "To: <sip:+15551230000@198.51.100.7>"
CALL_ID = "Call-ID: corpus-call-1@carrier.example"


def message(start, headers, body=""):
    """Joins a start line, header lines and a body with CRLF. `headers`
    is a list of lines; Content-Length is whatever the list says."""
    return ("\r\n".join([start] + headers) + "\r\n\r\n" + body).encode()


def invite_headers(body=SDP, cseq="CSeq: 1 INVITE", extra=()):
    return [
        VIA,
        "Max-Forwards: 70",
        FROM,
        TO,
        CALL_ID,
        cseq,
        "Contact: <sip:+15559870000@203.0.113.10:5060>",
        *extra,
        "Content-Type: application/sdp",
        f"Content-Length: {len(body.encode())}",
    ]


INVITE_START = "INVITE sip:+15551230000@198.51.100.7:5060 SIP/2.0"


def invite(headers=None, body=SDP, start=INVITE_START):
    return message(start, invite_headers(body) if headers is None else headers, body)


def replace(headers, old_prefix, new):
    """Replaces the first header starting with old_prefix (or drops it when
    new is None)."""
    out, done = [], False
    for h in headers:
        if not done and h.startswith(old_prefix):
            done = True
            if new is not None:
                out.append(new)
        else:
            out.append(h)
    assert done, old_prefix
    return out


def simple(method, cseq_no=2, extra=()):
    return [
        VIA,
        "Max-Forwards: 70",
        FROM,
        TO + ";tag=to-1",
        CALL_ID,
        f"CSeq: {cseq_no} {method}",
        *extra,
        "Content-Length: 0",
    ]


OPTIONS_START = "OPTIONS sip:198.51.100.7:5060 SIP/2.0"
BYE_START = "BYE sip:+15551230000@198.51.100.7:5060 SIP/2.0"

cases = []  # (name, bytes, expectation, why)


def add(name, data, expect, why):
    cases.append((name, data, expect, why))


rng = random.Random(0x5EED_F022)
full = invite()

# --- truncated -----------------------------------------------------------
add("truncated_mid_start_line", b"INVITE sip:+155512300", "silence",
    "no version token, nothing to answer")
add("truncated_after_start_line", INVITE_START.encode() + b"\r\n", "silence",
    "no headers at all, so no Via")
cut = full.index(b"From:") + 12
add("truncated_mid_header", full[:cut], "400", "no blank line: Truncated, Via readable")
add("truncated_mid_body", full[: len(full) - 40], "400",
    "Content-Length larger than the body that follows")
add("truncated_no_blank_line", full[: full.index(b"\r\n\r\n") + 2], "400",
    "headers end without the blank line")
add("truncated_body_declared_huge",
    invite(replace(invite_headers(), "Content-Length", "Content-Length: 999999999")),
    "400", "declares 999999999 body bytes")

# --- oversized -----------------------------------------------------------
add("oversized_message_70k",
    invite(replace(invite_headers(), "Content-Length", None), SDP + "a=x-pad:" + "y" * 70_000 + "\r\n"),
    "513", "70 KB datagram exceeds the 65,535-byte limit")
add("oversized_header_line_5k",
    invite(invite_headers(extra=["Subject: " + "x" * 5_000])), "400",
    "one header line above 4 KiB: LineTooLong")
add("oversized_folded_header_5k",
    invite(invite_headers(extra=["Subject: start"] + [" " + "z" * 100] * 50)), "400",
    "folded lines that unfold to above 4 KiB")
add("oversized_101_headers",
    invite(invite_headers(extra=[f"X-Pad-{i}: {i}" for i in range(101)])), "400",
    "more than 100 header lines")
body40k = "v=0\r\n" + ("a=x-pad:" + "q" * 90 + "\r\n") * 408
add("oversized_body_40k", invite(invite_headers(body40k), body40k), "513",
    "40 KB body above the 32 KiB body limit")
add("oversized_start_line_5k",
    invite(start="INVITE sip:" + "9" * 5_000 + "@198.51.100.7 SIP/2.0"), "400",
    "start line longer than 4 KiB")

# --- Content-Length ------------------------------------------------------
for name, value in [
    ("content_length_negative", "-1"),
    ("content_length_non_numeric", "abc"),
    ("content_length_huge", "18446744073709551617"),
    ("content_length_plus_sign", "+317"),
    ("content_length_empty", ""),
    ("content_length_hex", "0x13d"),
]:
    add(name, invite(replace(invite_headers(), "Content-Length", f"Content-Length: {value}")),
        "400", f"Content-Length: {value!r}")
add("content_length_twice_different",
    invite(invite_headers(extra=["Content-Length: 0"])), "400",
    "two Content-Length headers disagree (request smuggling on streams)")
add("content_length_twice_compact_same",
    invite(invite_headers(extra=[f"l: {len(SDP)}"])), "400",
    "Content-Length and l: both present, even with the same value")

# --- missing mandatory headers --------------------------------------------
for hdr, expect in [("Via", "silence"), ("From", "400"), ("To", "400"),
                    ("Call-ID", "400"), ("CSeq", "400")]:
    slug = hdr.lower().replace("-", "_")
    add(f"missing_{slug}_invite", invite(replace(invite_headers(), hdr + ":", None)), expect,
        f"INVITE without {hdr}" + (" (nobody to answer)" if hdr == "Via" else ""))
for hdr, expect in [("Via", "silence"), ("From", "400"), ("To", "400"),
                    ("Call-ID", "400"), ("CSeq", "400")]:
    slug = hdr.lower().replace("-", "_")
    add(f"missing_{slug}_options", message(OPTIONS_START, replace(simple("OPTIONS"), hdr + ":", None)),
        expect, f"OPTIONS without {hdr}")
for hdr in ["From", "Call-ID", "CSeq"]:
    slug = hdr.lower().replace("-", "_")
    add(f"missing_{slug}_bye", message(BYE_START, replace(simple("BYE"), hdr + ":", None)),
        "400", f"BYE without {hdr}")

# --- CSeq ------------------------------------------------------------------
for name, value in [
    ("cseq_non_numeric", "CSeq: one INVITE"),
    ("cseq_above_2_31", "CSeq: 2147483648 INVITE"),
    ("cseq_method_mismatch", "CSeq: 1 BYE"),
    ("cseq_missing_method", "CSeq: 1"),
    ("cseq_three_tokens", "CSeq: 1 INVITE extra"),
    ("cseq_negative", "CSeq: -1 INVITE"),
    ("cseq_plus_sign", "CSeq: +1 INVITE"),
]:
    add(name, invite(replace(invite_headers(), "CSeq:", value)), "400", value)

# --- tags and duplicates -----------------------------------------------------
add("to_tag_twice", invite(replace(invite_headers(), "To:", TO + ";tag=a;tag=b")), "400",
    "To with two tag parameters")
add("from_tag_twice", invite(replace(invite_headers(), "From:", FROM + ";tag=b")), "400",
    "From with two tag parameters")
add("to_tag_without_value", message(OPTIONS_START, replace(simple("OPTIONS"), "To:", TO + ";tag")),
    "400", "To with a bare ;tag (found by fuzzing: our 200 added a second tag and did not parse)")
add("from_tag_empty", invite(replace(invite_headers(), "From:", FROM.split(";")[0] + ";tag=")), "400",
    "From with an empty tag value")
add("from_header_twice",
    invite(invite_headers(extra=["From: <sip:other@evil.example>;tag=x"])), "400",
    "two From headers")
add("call_id_twice_compact", invite(invite_headers(extra=["i: second@evil.example"])), "400",
    "Call-ID and i: both present")
add("call_id_with_space", invite(replace(invite_headers(), "Call-ID:", "Call-ID: a b")), "400",
    "Call-ID holding whitespace")

# --- header injection ------------------------------------------------------
add("injection_bare_cr_in_value",
    invite(invite_headers(extra=["Subject: hello\rVia: SIP/2.0/UDP evil.example;branch=z9hG4bKevil"])),
    "400", "bare CR inside a value: refused as injection")
add("injection_nul_in_value", invite(invite_headers(extra=["Subject: hello\x00world"])), "400",
    "NUL inside a value")
add("injection_bare_lf_in_folded_value",
    invite(invite_headers(extra=["Subject: hello\r\n folded\nVia: SIP/2.0/UDP evil.example;branch=z9hG4bKevil"])),
    "400", "a bare LF in a CRLF message splits a folded value and smuggles a second Via")
add("injection_bare_lf_before_via",
    invite(["User-Agent: x\nVia: SIP/2.0/UDP evil.example:5060;branch=z9hG4bKevil"] + invite_headers()),
    "400", "bare LF hides a top Via in front of the real one")
add("injection_nul_in_via", invite(replace(invite_headers(), "Via:", VIA + "\x00evil")), "silence",
    "NUL in the only Via: the Via cannot be copied, so nobody to answer")
add("injection_header_name_with_space",
    invite(invite_headers(extra=["Bad Name: x"])), "400", "header name that is not a token")
add("injection_continuation_first",
    message(INVITE_START, [" folded-first: x"] + invite_headers(), SDP), "400",
    "continuation line before any header")
add("header_line_without_colon", invite(invite_headers(extra=["NoColonHere"])), "400",
    "header line without ':'")

# --- Request-URI -------------------------------------------------------------
for name, uri in [
    ("uri_no_scheme", "+15551230000@198.51.100.7"),
    ("uri_http_scheme", "http://198.51.100.7/"),
    ("uri_bad_ipv6_bracket", "sip:+15551230000@[2001:db8::1"),
    ("uri_bad_ipv6_address", "sip:+15551230000@[2001:db8:::zz]"),
    ("uri_port_above_65535", "sip:+15551230000@198.51.100.7:70000"),
    ("uri_port_plus_sign", "sip:+15551230000@198.51.100.7:+5060"),
    ("uri_empty_user", "sip:@198.51.100.7"),
    ("uri_empty_host", "sip:"),
]:
    add(name, invite(start=f"INVITE {uri} SIP/2.0"), "400", f"Request-URI {uri!r}")
add("uri_with_space", invite(start="INVITE sip:+1555 1230000@198.51.100.7 SIP/2.0"), "400",
    "space inside the Request-URI: the version is still the last token")
add("start_line_double_space", invite(start="INVITE  sip:+15551230000@198.51.100.7 SIP/2.0"), "400",
    "two spaces after the method")
add("method_not_a_token", invite(start="INV(ITE sip:+15551230000@198.51.100.7 SIP/2.0"),
    "silence", "method is not a token: not recognisable as a request")

# --- version -----------------------------------------------------------------
add("version_sip_3_0", invite(start="INVITE sip:+15551230000@198.51.100.7 SIP/3.0"), "505",
    "SIP/3.0")
add("version_sip_2_00", invite(start="INVITE sip:+15551230000@198.51.100.7 SIP/2.00"), "505",
    "SIP/2.00")
add("version_http_request",
    message("INVITE sip:+15551230000@198.51.100.7 HTTP/1.1", invite_headers(), SDP), "silence",
    "an HTTP version is not SIP: no answer")
add("http_get", b"GET / HTTP/1.1\r\nHost: 198.51.100.7\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
    "silence", "an HTTP GET")

# --- Via -----------------------------------------------------------------------
add("via_without_branch",
    invite(replace(invite_headers(), "Via:", "Via: SIP/2.0/UDP 203.0.113.10:5060")), "ok",
    "no branch is legal for RFC 2543 peers (RFC 3261 §8.2.3 asks for a fallback match)")
add("via_missing_sent_by",
    invite(replace(invite_headers(), "Via:", "Via: SIP/2.0/UDP ;branch=z9hG4bK-1")), "400",
    "Via with no sent-by host")
add("via_missing_transport",
    invite(replace(invite_headers(), "Via:", "Via: SIP/2.0 203.0.113.10;branch=z9hG4bK-1")), "400",
    "Via protocol without a transport")
add("via_bad_port",
    invite(replace(invite_headers(), "Via:", "Via: SIP/2.0/UDP 203.0.113.10:99999;branch=z9hG4bK-1")),
    "400", "Via port above 65535")
add("via_two_branches",
    invite(replace(invite_headers(), "Via:", VIA + ";branch=z9hG4bK-2")), "400",
    "Via with two branch parameters")

# --- Max-Forwards ------------------------------------------------------------
for name, value in [("max_forwards_256", "256"), ("max_forwards_non_numeric", "seventy"),
                    ("max_forwards_negative", "-1"), ("max_forwards_plus_sign", "+70")]:
    add(name, invite(replace(invite_headers(), "Max-Forwards:", f"Max-Forwards: {value}")), "400",
        f"Max-Forwards: {value}")

# --- encoding --------------------------------------------------------------
raw = full.replace(b"From: \"Carrier\"", b"From: \"Carr\xff\xfeier\"")
add("non_utf8_in_from", raw, "400", "bytes that are not UTF-8 in a header")
raw = full.replace(b"INVITE sip:+1555", b"INVITE sip:\xc3\x28+1555", 1)
add("non_utf8_in_request_uri", raw, "400", "invalid UTF-8 in the Request-URI")

# --- not requests ----------------------------------------------------------
add("ack_missing_call_id",
    message("ACK sip:+15551230000@198.51.100.7 SIP/2.0", replace(simple("ACK", 1), "Call-ID:", None)),
    "silence", "an ACK is never answered, even when broken")
add("response_missing_call_id",
    message("SIP/2.0 200 OK", replace(simple("INVITE", 1), "Call-ID:", None)), "silence",
    "a broken response is dropped, not answered")
add("response_bad_status_code", message("SIP/2.0 2000 OK", simple("INVITE", 1)), "silence",
    "four-digit status code")

# --- binary junk -------------------------------------------------------------
add("junk_empty_datagram", b"", "silence", "empty datagram")
add("junk_only_crlf", b"\r\n\r\n\r\n\r\n", "silence", "keep-alive CRLFs only")
add("junk_random_bytes", bytes(rng.getrandbits(8) for _ in range(512)), "silence",
    "512 random bytes")
tls_hello = bytes.fromhex(
    "16030100a5010000a10303" + "00" * 32 + "00" + "0020" + "c02bc02fc02cc030cca9cca8c013c014"
    "009c009d002f0035000a0100" + "0058" + "0000001800160000136578616d706c652e756c666865696d2e6e6574"
    "000500050100000000000a000a0008001d001700180019000b00020100000d0012001004010403050105030601"
    "0603020102030000")
add("junk_tls_client_hello", tls_hello, "silence", "a TLS ClientHello on the SIP port")
rtp = bytes.fromhex("80000001000000a0deadbeef") + bytes([0xFF] * 160)
add("junk_rtp_packet", rtp, "silence", "an RTP packet (PCMU silence)")
stun = bytes.fromhex("000100002112a442") + bytes(range(12))
add("junk_stun_binding_request", stun, "silence", "a STUN binding request")
add("junk_nul_bytes", b"\x00" * 64, "silence", "NUL bytes")

# --- valid messages (fuzz seeds and a round-trip check) -------------------------
valid = {}
valid["invite_carrier_sdp"] = full
valid["ok_200_with_sdp"] = message("SIP/2.0 200 OK", [
    "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-ours-1;received=198.51.100.7",
    "Record-Route: <sip:sbc1.carrier.example;lr>",
    "From: <sip:agent@warmline.example>;tag=ours-1",
    "To: <sip:+15559870000@carrier.example>;tag=theirs-9",
    "Call-ID: out-1@warmline.example",
    "CSeq: 7 INVITE",
    "Contact: <sip:+15559870000@203.0.113.10:5060>",
    "Content-Type: application/sdp",
    f"Content-Length: {len(SDP)}",
], SDP)
valid["ack"] = message("ACK sip:+15559870000@203.0.113.10:5060 SIP/2.0",
                       simple("ACK", 1)[:-1] + ["Route: <sip:sbc1.carrier.example;lr>", "Content-Length: 0"])
valid["bye"] = message(BYE_START, simple("BYE"))
valid["cancel"] = message("CANCEL sip:+15551230000@198.51.100.7:5060 SIP/2.0",
                          [VIA, "Max-Forwards: 70", FROM, TO, CALL_ID, "CSeq: 1 CANCEL", "Content-Length: 0"])
valid["options"] = message(OPTIONS_START, simple("OPTIONS", 3, ["Accept: application/sdp"]))
valid["register_with_authorization"] = message("REGISTER sip:sip.carrier.example SIP/2.0", [
    "Via: SIP/2.0/TLS 192.0.2.50:5061;branch=z9hG4bK-reg-2;rport",
    "Max-Forwards: 70",
    "From: <sip:warmline@sip.carrier.example>;tag=reg-1",
    "To: <sip:warmline@sip.carrier.example>",
    "Call-ID: reg-1@192.0.2.50",
    "CSeq: 2 REGISTER",
    "Contact: <sip:warmline@192.0.2.50:5061;transport=tls>;expires=3600",
    'Authorization: Digest username="warmline", realm="sip.carrier.example", '
    'nonce="6a3f0c", uri="sip:sip.carrier.example", response="0123456789abcdef0123456789abcdef", '
    'algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"',
    "Content-Length: 0",
])
reinvite_sdp = SDP.replace("o=carrier 1234 1", "o=carrier 1234 2").replace("a=sendrecv", "a=sendonly")
valid["reinvite_sendonly"] = message(
    "INVITE sip:agent@192.0.2.50:5060 SIP/2.0",
    replace(replace(invite_headers(reinvite_sdp, cseq="CSeq: 2 INVITE"), "To:", TO + ";tag=ours-1"),
            "Contact:", "Contact: <sip:+15559870000@203.0.113.10:5060>"),
    reinvite_sdp)
v6_sdp = SDP.replace("IN IP4 203.0.113.10", "IN IP6 2001:db8::10").replace("IN IP4 203.0.113.20", "IN IP6 2001:db8::20")
valid["invite_ipv6"] = message("INVITE sip:+15551230000@[2001:db8::7]:5060 SIP/2.0", [
    "Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK-v6-1",
    "Max-Forwards: 70",
    "From: <sip:+15559870000@[2001:db8::10]>;tag=v6",
    "To: <sip:+15551230000@[2001:db8::7]>",
    "Call-ID: v6-1@2001:db8::10",
    "CSeq: 1 INVITE",
    "Contact: <sip:+15559870000@[2001:db8::10]:5060>",
    "Content-Type: application/sdp",
    f"Content-Length: {len(v6_sdp)}",
], v6_sdp)
valid["invite_compact_form"] = message(INVITE_START, [
    "v: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-compact-1",
    "Max-Forwards: 70",
    "f: <sip:+15559870000@carrier.example>;tag=c1",
    "t: <sip:+15551230000@198.51.100.7>",
    "i: compact-1@carrier.example",
    "CSeq: 1 INVITE",
    "m: <sip:+15559870000@203.0.113.10>",
    "k: timer",
    "c: application/sdp",
    f"l: {len(SDP)}",
], SDP)


def write():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    lines = [
        "# Expected answer to each file in malformed/ (generated by make_corpus.py).",
        "# file: 400|505|513|silence|ok  # why",
    ]
    for i, (name, data, expect, why) in enumerate(cases, start=1):
        fname = f"{i:03d}_{name}.sip"
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(data)
        lines.append(f"{fname}: {expect}  # {why}")
    os.makedirs(VALID, exist_ok=True)
    for f in os.listdir(VALID):
        os.remove(os.path.join(VALID, f))
    for name, data in valid.items():
        with open(os.path.join(VALID, f"{name}.sip"), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # Fuzz seeds: every malformed file plus the valid messages.
    if os.path.isdir(os.path.dirname(FUZZ_SEEDS)):
        os.makedirs(FUZZ_SEEDS, exist_ok=True)
        for f in os.listdir(FUZZ_SEEDS):
            os.remove(os.path.join(FUZZ_SEEDS, f))
        for d in (OUT, VALID):
            for f in sorted(os.listdir(d)):
                shutil.copy(os.path.join(d, f), os.path.join(FUZZ_SEEDS, f"{os.path.basename(d)}_{f}"))
    print(f"{len(cases)} malformed files, {len(valid)} valid")


if __name__ == "__main__":
    write()
