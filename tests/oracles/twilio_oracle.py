#!/usr/bin/env python3
"""Twilio oracle: reads JSON cases on stdin, answers with what the `twilio`
package computes, as JSON on stdout.

Input:  {"signatures": [{"token", "url", "params": {name: value}}],
         "twiml": [{"url", "name", "status_callback", "parameters": [[n, v]]}]}
Output: {"signatures": ["<base64>", ...], "twiml": ["<xml>", ...]}
"""
import json
import sys

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

cases = json.load(sys.stdin)
out = {"signatures": [], "twiml": []}
for c in cases.get("signatures", []):
    out["signatures"].append(RequestValidator(c["token"]).compute_signature(c["url"], c["params"]))
for c in cases.get("twiml", []):
    response = VoiceResponse()
    connect = Connect()
    kwargs = {"url": c["url"]}
    if c.get("name"):
        kwargs["name"] = c["name"]
    if c.get("status_callback"):
        kwargs["status_callback"] = c["status_callback"]
    stream = connect.stream(**kwargs)
    for name, value in c.get("parameters", []):
        stream.parameter(name=name, value=value)
    response.append(connect)
    out["twiml"].append(str(response))
json.dump(out, sys.stdout)
