#!/usr/bin/env python3
"""Twilio call-update oracle: what the `twilio` package's REST client sends
to redirect a live call to <Dial> (protocols.md §1.9).

Input (JSON on stdin):
  {"base": "http://127.0.0.1:PORT", "account_sid", "auth_token", "call_sid",
   "number": "+1..."} or {..., "sip": "sip:..."}
It builds the TwiML with VoiceResponse().dial().number()/.sip(), and calls
client.calls(call_sid).update(twiml=...) with an HTTP client that sends
what would go to https://api.twilio.com to `base` instead.
Output: {"twiml": "<the TwiML it sent>"}
"""
import json
import sys

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

TWILIO = "https://api.twilio.com"


class ToFake(TwilioHttpClient):
    """The package's own HTTP client, pointed at the fake server."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO):
            url = self.base + url[len(TWILIO):]
        return super().request(method, url, *args, **kwargs)


case = json.load(sys.stdin)
response = VoiceResponse()
dial = response.dial()
if "number" in case:
    dial.number(case["number"])
else:
    dial.sip(case["sip"])
twiml = str(response)
client = Client(case["account_sid"], case["auth_token"], http_client=ToFake(case["base"]))
client.calls(case["call_sid"]).update(twiml=twiml)
json.dump({"twiml": twiml}, sys.stdout)
