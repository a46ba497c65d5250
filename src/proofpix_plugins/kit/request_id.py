"""Request ids: accept a caller's ``X-Request-ID`` when it is safe to log, else make one."""

from __future__ import annotations

import re
import uuid

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
    return uuid.uuid4().hex
