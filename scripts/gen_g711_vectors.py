#!/usr/bin/env python3
"""Generate the G.711 reference vectors from CPython's audioop (Python <= 3.12).

Run once; the output is committed under fixtures/g711/ so tests need no Python:
  ulaw_encode.bin  65,536 bytes: lin2ulaw of every 16-bit sample, -32768..32767
  alaw_encode.bin  65,536 bytes: lin2alaw of the same
  ulaw_decode.bin  256 little-endian i16: ulaw2lin of every code 0..255
  alaw_decode.bin  256 little-endian i16: alaw2lin of every code 0..255
"""
import audioop  # noqa: deprecated in 3.11, removed in 3.13: pin the interpreter
import pathlib
import struct
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/g711")
out.mkdir(parents=True, exist_ok=True)
every_sample = struct.pack("<65536h", *range(-32768, 32768))
codes = bytes(range(256))
(out / "ulaw_encode.bin").write_bytes(audioop.lin2ulaw(every_sample, 2))
(out / "alaw_encode.bin").write_bytes(audioop.lin2alaw(every_sample, 2))
(out / "ulaw_decode.bin").write_bytes(audioop.ulaw2lin(codes, 2))
(out / "alaw_decode.bin").write_bytes(audioop.alaw2lin(codes, 2))
print(f"wrote G.711 vectors to {out}")
