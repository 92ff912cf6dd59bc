#!/usr/bin/env python3
"""Tool-signature oracle: checks warmline webhook signatures with Python's
own `hmac`, exactly as docs/TOOLS.md tells a tool author to.

Input:  {"secret": "...", "requests": [{"timestamp", "signature", "body", "now"}]}
Output: ["ok" | "stale" | "mismatch", ...]
"""
import hashlib
import hmac
import json
import sys

TOLERANCE_SECONDS = 300


# The snippet in docs/TOOLS.md, verbatim apart from `now` being given.
def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now: int) -> str:
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return "stale"
    expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "mismatch"
    return "ok"


cases = json.load(sys.stdin)
secret = cases["secret"].encode()
out = [
    verify(secret, r["timestamp"], r["signature"], r["body"].encode(), r["now"])
    for r in cases["requests"]
]
json.dump(out, sys.stdout)
