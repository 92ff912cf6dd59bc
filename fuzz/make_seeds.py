#!/usr/bin/env python3
"""Writes the committed seeds of warmline's own fuzz targets into
fuzz/corpus/<target>/*.seed (idempotent; run from anywhere)."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name + ".seed"), "wb") as f:
        f.write(data)

# Twilio Media Streams frames (twilio.com/docs/voice/media-streams/websocket-messages).
sid = "MZ18ad3ab5a668481ce02b83e7395059f0"
put("twilio_stream", "connected", json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
put("twilio_stream", "start", json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid,
    "start": {"accountSid": "AC00000000000000000000000000000000", "streamSid": sid,
              "callSid": "CA00000000000000000000000000000000", "tracks": ["inbound"],
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
              "customParameters": {"token": "abc"}}}))
put("twilio_stream", "media", json.dumps({"event": "media", "sequenceNumber": "3", "streamSid": sid,
    "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "/////w=="}}))
put("twilio_stream", "dtmf", json.dumps({"event": "dtmf", "streamSid": sid, "sequenceNumber": "5",
    "dtmf": {"track": "inbound_track", "digit": "1"}}))
put("twilio_stream", "mark", json.dumps({"event": "mark", "sequenceNumber": "4", "streamSid": sid, "mark": {"name": "g1:42"}}))
put("twilio_stream", "stop", json.dumps({"event": "stop", "sequenceNumber": "5", "streamSid": sid,
    "stop": {"accountSid": "AC0", "callSid": "CA0"}}))
put("twilio_stream", "unknown", '{"event":"future","x":[1,2,{"y":null}]}')
put("twilio_stream", "truncated", '{"event":"media","media":{"payload":"//')
put("twilio_stream", "bad_base64", json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "!!!*"}}))

# OpenAI Realtime GA server events.
ev = [
    {"type": "session.created", "event_id": "e1", "session": {"id": "sess_1", "model": "gpt-realtime"}},
    {"type": "session.updated", "event_id": "e2", "session": {}},
    {"type": "response.created", "event_id": "e3", "response": {"id": "resp_1"}},
    {"type": "response.output_audio.delta", "event_id": "e4", "response_id": "resp_1", "item_id": "item_1",
     "output_index": 0, "content_index": 0, "delta": "AAAA"},
    {"type": "response.output_audio.done", "response_id": "resp_1", "item_id": "item_1"},
    {"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "item_id": "item_1", "delta": "Hel"},
    {"type": "response.output_audio_transcript.done", "response_id": "resp_1", "item_id": "item_1", "transcript": "Hello"},
    {"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_2", "transcript": "hi"},
    {"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_2", "error": {"message": "x"}},
    {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1200, "item_id": "item_3"},
    {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2400, "item_id": "item_3"},
    {"type": "response.function_call_arguments.done", "response_id": "resp_2", "item_id": "item_4",
     "call_id": "call_1", "name": "end_call", "arguments": "{\"reason\":\"done\"}"},
    {"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}},
    {"type": "rate_limits.updated", "rate_limits": []},
    {"type": "error", "error": {"type": "invalid_request_error", "code": "x", "message": "bad"}},
    {"type": "some.future.event", "nested": {"a": [1, 2, 3]}},
]
for e in ev:
    put("openai_event", e["type"].replace(".", "_"), json.dumps(e))
put("openai_event", "no_type", '{"event_id":"e9"}')

# WebRTC signalling (docs/WEBRTC.md).
put("webrtc_signal", "offer", json.dumps({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}))
put("webrtc_signal", "candidate", json.dumps({"type": "candidate", "candidate": "candidate:1 1 udp 2122260223 192.0.2.5 50000 typ host"}))
put("webrtc_signal", "end_of_candidates", json.dumps({"type": "candidate", "candidate": ""}))
put("webrtc_signal", "hangup", '{"type":"hangup"}')
put("webrtc_signal", "unknown", '{"type":"renegotiate","sdp":1}')

def rtp(pt, seq, ts, ssrc, payload, marker=False, csrcs=(), ext=None, pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext is not None:
        words = (len(ext) + 3) // 4
        out += struct.pack("!HH", 0xBEDE, words) + ext.ljust(words * 4, b"\0")
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out

pcmu = rtp(0, 1, 160, 0xCAFE, b"\xff" * 160, marker=True)
event = rtp(101, 2, 320, 0xCAFE, bytes([1, 0x8A, 0x03, 0x20]))
fancy = rtp(8, 3, 480, 0xCAFE, b"\xd5" * 160, csrcs=(1, 2), ext=b"\x10\xAB", pad=4)
put("rtp", "pcmu", pcmu)
put("rtp", "telephone_event", event)
put("rtp", "csrc_extension_padding", fancy)
put("rtp", "header_only", pcmu[:12])

def sr(ssrc):
    body = struct.pack("!IIIIII", ssrc, 0xE8000000, 0, 160, 10, 1600)
    block = struct.pack("!IIIIII", 0xCAFE, 0x01000005, 3, 0, 0, 0)
    return struct.pack("!BBH", 0x81, 200, (len(body) + len(block)) // 4) + body + block

def sdes(ssrc, cname=b"warmline@test"):
    item = bytes([1, len(cname)]) + cname + b"\0"
    item = item.ljust((len(item) + 4 + 3) // 4 * 4 - 4, b"\0")
    chunk = struct.pack("!I", ssrc) + item
    return struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk

rr = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)
bye = struct.pack("!BBHI", 0x81, 203, 1, 0x1234)
put("rtcp", "sr_sdes", sr(0x1234) + sdes(0x1234))
put("rtcp", "rr_sdes_bye", rr + sdes(0x1234) + bye)
put("rtcp", "app", struct.pack("!BBHI4s", 0x80, 204, 2, 0x1234, b"NAME"))
put("rtcp", "length_lies", struct.pack("!BBHI", 0x81, 200, 40, 0x1234))

def frames(*datagrams):
    return b"".join(struct.pack("!H", len(d)) + d for d in datagrams)

calls = [rtp(0, 100 + i, 160 * i, 0xCAFE, bytes([0x7F - i]) * 160) for i in range(12)]
put("rtp_session", "audio", frames(*calls))
put("rtp_session", "reordered_and_lost", frames(calls[0], calls[2], calls[1], calls[5], calls[4], calls[9]))
put("rtp_session", "dtmf_and_rtcp", frames(calls[0], event, event, sr(0xCAFE) + sdes(0xCAFE), calls[1]))
put("rtp_session", "wrong_payload_type", frames(rtp(18, 1, 160, 1, b"\0" * 20), calls[0]))

# SRTP: libsrtp's AES_CM_128_HMAC_SHA1_80 reference packet (RFC 3711 B.3
# master key), and a plain packet.
put("srtp", "libsrtp_reference", bytes.fromhex(
    "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"))
put("srtp", "plain_rtp", pcmu)
put("srtp", "plain_rtcp", sr(0x1234))
