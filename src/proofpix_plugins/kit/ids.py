"""Identifiers from the outside world (paths, tokens, plugin calls) turned into UUIDs."""

from __future__ import annotations

import uuid
from functools import lru_cache


def as_uuid(
    value: uuid.UUID | str,
    error: type[Exception] = ValueError,
    message: str = "malformed identifier",
) -> uuid.UUID:
    """``value`` as a UUID; a malformed one raises ``error(message)``.

    Each caller names the answer a bad id deserves where it is read: a 404 for a resource in a
    URL path (it cannot exist), a capability error for a plugin's call.
    """
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise error(message) from None


@lru_cache(maxsize=4096)
def uuid_text(value: uuid.UUID) -> str:
    """``str(value)``, remembered: the hot path (rate-limit keys, the hook bus's organization
    key) turns the same few ids into text on every request, at ~2 us each."""
    return str(value)
