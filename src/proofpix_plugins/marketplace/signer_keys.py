"""The developer signing keys a submission's signature is checked against.

One small query on purpose: ``marketplace/signing_keys.py`` (developer key management) will
offer ``active_signing_keys`` with the same contract, and this function then delegates to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.marketplace import DeveloperSigningKey


async def active_signing_keys(
    session: AsyncSession, developer_id: uuid.UUID
) -> list[tuple[str, Ed25519PublicKey]]:
    """(fingerprint, key) of every unrevoked key of the developer; unusable rows are skipped."""
    rows = (
        await session.execute(
            select(DeveloperSigningKey.public_key).where(
                DeveloperSigningKey.developer_id == developer_id,
                DeveloperSigningKey.revoked_at.is_(None),
            )
        )
    ).scalars()
    keys: list[tuple[str, Ed25519PublicKey]] = []
    for encoded in rows:
        try:
            raw = base64.b64decode(encoded, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            continue
        keys.append((hashlib.sha256(raw).hexdigest(), key))
    return keys
