"""Request ids: accept a caller's ``X-Request-ID`` when it is safe to log, else make one."""

from __future__ import annotations

import os
import re

HEADER = "x-request-id"
# Bounded (fits the audit column) and log-safe: no spaces, quotes or control characters.
_SAFE = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


def accept_or_generate(raw: bytes | None) -> str:
    if raw is not None:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if _SAFE.fullmatch(text):
            return text
    return new_id()


def new_id() -> str:
    """A random (version 4) UUID in hex, as ``uuid.uuid4().hex`` but without the UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()
