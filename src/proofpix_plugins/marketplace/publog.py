"""The tamper-evident publication log: every publish, yank, suspend and key change, hash-chained.

Entry ``n`` stores ``prev_hash`` (entry ``n-1``'s hash, all zeros for the first) and
``entry_hash = sha256(canonical JSON of the entry's fields)``, so changing, dropping or
reordering any entry breaks every hash after it. The server also signs the head (``seq`` and
hash) with the platform key when it serves the log, so a rewrite of the whole chain by someone
without the key is caught too. ``verify_chain`` is the one checker: the API's tests and
``proofpix-plugins marketplace verify-log`` both use it.

Appends happen inside the caller's transaction (the state change and its log entry commit
together or not at all) and are serialized by the head row (``PublicationLogHead``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import LogAction, PublicationLogEntry, PublicationLogHead
from proofpix_plugins.packages.errors import SignatureInvalid
from proofpix_plugins.packages.platform_key import PlatformKey, verify_document
from proofpix_plugins.packages.signing import signed_message

GENESIS = "0" * 64
HEAD_ID = 1
#: The context under which the served head is signed (``PlatformKey.sign_document``).
HEAD_CONTEXT = "publog.head.v1"


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_fields(
    *,
    seq: int,
    prev_hash: str,
    action: str,
    plugin_id: str,
    version: str,
    artifact_sha256: str,
    signature: str,
    detail: Mapping[str, Any],
    created_at: str,
) -> dict[str, Any]:
    """An entry as the API serves it and as its hash covers it (camelCase, like the API)."""
    return {
        "seq": seq,
        "prevHash": prev_hash,
        "action": action,
        "pluginId": plugin_id,
        "version": version,
        "artifactSha256": artifact_sha256,
        "signature": signature,
        "detail": dict(detail),
        "createdAt": created_at,
    }


def hash_entry(fields: Mapping[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "entryHash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def _timestamp(moment: datetime) -> str:
    # Microseconds and an explicit UTC offset: the stored and served forms must be identical.
    return moment.isoformat(timespec="microseconds")


async def append(
    session: AsyncSession,
    action: LogAction,
    *,
    plugin_id: str = "",
    version: str = "",
    artifact_sha256: str = "",
    signature: str = "",
    detail: Mapping[str, Any] | None = None,
) -> PublicationLogEntry:
    """Append one entry in the caller's transaction; returns it (flushed, not committed)."""
    bump = (
        update(PublicationLogHead)
        .where(PublicationLogHead.id == HEAD_ID)
        .values(seq=PublicationLogHead.seq + 1)
        .returning(PublicationLogHead.seq, PublicationLogHead.entry_hash)
    )
    bumped = (await session.execute(bump)).one_or_none()
    if bumped is None:
        # The seed row is gone (tables emptied by hand): put it back at the newest entry, so
        # the chain continues rather than forking at the genesis.
        last = (
            await session.execute(
                select(PublicationLogEntry.seq, PublicationLogEntry.entry_hash)
                .order_by(PublicationLogEntry.seq.desc())
                .limit(1)
            )
        ).one_or_none()
        seed_seq, seed_hash = (int(last[0]), str(last[1])) if last else (0, GENESIS)
        await session.execute(
            insert_for(session, PublicationLogHead)
            .values(id=HEAD_ID, seq=seed_seq, entry_hash=seed_hash)
            .on_conflict_do_nothing()
        )
        bumped = (await session.execute(bump)).one()
    seq, prev_hash = int(bumped[0]), str(bumped[1])
    created = utcnow()
    fields = entry_fields(
        seq=seq,
        prev_hash=prev_hash,
        action=action.value,
        plugin_id=plugin_id,
        version=version,
        artifact_sha256=artifact_sha256,
        signature=signature,
        detail=detail or {},
        created_at=_timestamp(created),
    )
    entry_hash = hash_entry(fields)
    entry = PublicationLogEntry(
        seq=seq,
        action=action,
        plugin_id=plugin_id,
        version=version,
        artifact_sha256=artifact_sha256,
        signature=signature,
        detail=dict(detail or {}),
        prev_hash=prev_hash,
        entry_hash=entry_hash,
        created_at=created,
    )
    session.add(entry)
    await session.execute(
        update(PublicationLogHead)
        .where(PublicationLogHead.id == HEAD_ID)
        .values(entry_hash=entry_hash)
    )
    await session.flush()
    return entry


def served(entry: PublicationLogEntry) -> dict[str, Any]:
    """An entry as the API serves it: the hashed fields plus ``entryHash``."""
    fields = entry_fields(
        seq=entry.seq,
        prev_hash=entry.prev_hash,
        action=entry.action.value,
        plugin_id=entry.plugin_id,
        version=entry.version,
        artifact_sha256=entry.artifact_sha256,
        signature=entry.signature,
        detail=entry.detail,
        created_at=_timestamp(entry.created_at),
    )
    return {**fields, "entryHash": entry.entry_hash}


async def entries(
    session: AsyncSession, *, after: int = 0, limit: int = 1000
) -> list[PublicationLogEntry]:
    stmt = (
        select(PublicationLogEntry)
        .where(PublicationLogEntry.seq > after)
        .order_by(PublicationLogEntry.seq)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def head(session: AsyncSession) -> tuple[int, str]:
    row = (
        await session.execute(
            select(PublicationLogHead.seq, PublicationLogHead.entry_hash).where(
                PublicationLogHead.id == HEAD_ID
            )
        )
    ).one()
    return int(row[0]), str(row[1])


def head_payload(seq: int, entry_hash: str) -> bytes:
    return f"{seq}:{entry_hash}".encode("ascii")


def sign_head(key: PlatformKey, seq: int, entry_hash: str) -> str:
    return key.sign_document(HEAD_CONTEXT, head_payload(seq, entry_hash))


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where and why a log fails verification."""

    seq: int | None
    reason: str


def verify_chain(
    served_entries: Iterable[Mapping[str, Any]],
    public_key: Ed25519PublicKey,
    *,
    head_seq: int | None = None,
    head_hash: str | None = None,
    head_signature: str | None = None,
) -> list[ChainProblem]:
    """Every problem with a served log (empty: the log verifies).

    Checks that ``seq`` runs 1, 2, 3, ... without gaps, each ``prevHash`` is the previous
    ``entryHash``, each ``entryHash`` is the hash of the entry's fields, each artifact
    signature verifies with the marketplace key, and (when given) the signed head matches the
    last entry.
    """
    problems: list[ChainProblem] = []
    expected_prev, expected_seq = GENESIS, 1
    last_seq, last_hash = 0, GENESIS
    for raw in served_entries:
        seq = raw.get("seq")
        if not isinstance(seq, int) or seq != expected_seq:
            problems.append(
                ChainProblem(
                    seq if isinstance(seq, int) else None,
                    f"expected entry {expected_seq}, found {seq!r}",
                )
            )
            if not isinstance(seq, int):
                break
        if raw.get("prevHash") != expected_prev:
            problems.append(ChainProblem(seq, "prevHash does not name the previous entry"))
        recomputed = hash_entry(raw)
        if raw.get("entryHash") != recomputed:
            problems.append(ChainProblem(seq, "entryHash does not match the entry's contents"))
        sha, sig = raw.get("artifactSha256"), raw.get("signature")
        if sha and sig:
            if not _artifact_signature_ok(public_key, str(sha), str(sig)):
                problems.append(ChainProblem(seq, "artifact signature does not verify"))
        elif raw.get("action") == LogAction.publish.value:
            problems.append(ChainProblem(seq, "a publish entry without artifact and signature"))
        expected_prev = str(raw.get("entryHash"))
        expected_seq = seq + 1
        last_seq, last_hash = seq, expected_prev
    if head_seq is not None:
        if head_seq != last_seq or head_hash != last_hash:
            problems.append(ChainProblem(None, "the signed head does not match the last entry"))
        if (
            head_signature is None
            or head_hash is None
            or not verify_document(
                public_key, HEAD_CONTEXT, head_payload(head_seq, head_hash), head_signature
            )
        ):
            problems.append(ChainProblem(None, "the head signature does not verify"))
    return problems


def _artifact_signature_ok(public_key: Ed25519PublicKey, sha256_hex: str, sig: str) -> bool:
    try:
        public_key.verify(base64.b64decode(sig, validate=True), signed_message(sha256_hex))
    except (InvalidSignature, SignatureInvalid, binascii.Error, ValueError):
        return False
    return True
