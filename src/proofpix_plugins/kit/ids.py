"""Identifiers from the outside world (paths, tokens, plugin calls) turned into UUIDs."""

from __future__ import annotations

import uuid


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
