#!/usr/bin/env python3
"""OpenAI oracle: reads a JSON list of client events on stdin and validates
each against `openai.types.realtime.RealtimeClientEvent` (GA), rejecting
unknown extra fields at any level (the models accept them silently).

Prints {"ok": n} or exits 1 with the first problem on stderr.
"""
import json
import sys

from pydantic import BaseModel, TypeAdapter
from openai.types.realtime import RealtimeClientEvent

ADAPTER = TypeAdapter(RealtimeClientEvent)


def extras(model, path):
    found = []
    if isinstance(model, BaseModel):
        if model.model_extra:
            found.append("%s: %s" % (path, sorted(model.model_extra)))
        for name in type(model).model_fields:
            found += extras(getattr(model, name), path + "." + name)
    elif isinstance(model, (list, tuple)):
        for i, v in enumerate(model):
            found += extras(v, "%s[%d]" % (path, i))
    elif isinstance(model, dict):
        for k, v in model.items():
            found += extras(v, "%s[%r]" % (path, k))
    return found


events = json.load(sys.stdin)
for i, event in enumerate(events):
    try:
        parsed = ADAPTER.validate_python(event)
    except Exception as e:  # noqa: BLE001 - report whatever pydantic says
        sys.exit("event %d (%s) is not a GA client event: %s" % (i, event.get("type"), e))
    bad = extras(parsed, event.get("type", "?"))
    if bad:
        sys.exit("event %d has fields the GA schema does not know: %s" % (i, bad))
json.dump({"ok": len(events)}, sys.stdout)
