"""The API key format: recognizable, random, stored only as a digest.

A key is ``ppxk_`` + 43 URL-safe base64 characters (32 random bytes) + ``_`` + a 6-character
CRC32 check, e.g. ``ppxk_Jx3...Q_a1b2c3``. The fixed prefix lets secret scanners (GitHub push
protection, trufflehog, gitleaks) find a leaked key with one regex and the checksum lets them
tell a real key from a look-alike without asking us. Only the sha256 of the whole key is
stored: keys carry 256 bits of entropy, so a plain digest (not a password hash) is enough and
lets the guard find the row with one indexed equality lookup.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import zlib

PREFIX = "ppxk_"
_SECRET_BYTES = 32
#: What a secret scanner matches; also what the guard accepts before it touches the database.
KEY_PATTERN = re.compile(r"ppxk_[A-Za-z0-9_-]{43}_[0-9a-f]{6}")
#: Non-secret part shown in listings (``ppxk_Jx3v…``): enough to tell keys apart.
DISPLAY_CHARS = 12


def _check(body: str) -> str:
    return f"{zlib.crc32(body.encode('ascii')) & 0xFFFFFF:06x}"


def new_key() -> str:
    """A fresh key; shown to its owner once, never stored."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii").rstrip("=")
    return f"{PREFIX}{body}_{_check(PREFIX + body)}"


def well_formed(key: str) -> bool:
    """The key has our shape and its checksum holds (a typo or a look-alike fails here)."""
    if not KEY_PATTERN.fullmatch(key):
        return False
    body, _, check = key.rpartition("_")
    return secrets.compare_digest(_check(body), check)


def key_digest(key: str) -> str:
    """What is stored and looked up: sha256 hex of the whole key."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_CHARS]
