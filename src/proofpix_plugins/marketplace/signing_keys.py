"""Developer signing keys: ``/api/developers/signing-keys`` and the keys a submission must match.

A developer registers ed25519 public keys (the PEM ``proofpix-plugins plugin keygen`` writes, or
base64 of the raw 32 bytes); once one is active, every submission must carry a signature that
one of them verifies (``active_signing_keys``, used by the submission pipeline). Each add and
revoke is appended to the publication log in the same transaction, so anyone following the log
sees which keys could sign a namespace's plugins and since when. A key belongs to one developer
and, once revoked, is never accepted again (a new key must be generated): a revoked key may be
a stolen one.

Managed by the developer's logged-in user (Bearer token), like API keys: a leaked API key must
not be able to swap the keys submissions are checked against. This module lives in
``marketplace/`` because it writes the publication log, which ``developers/`` may not import.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.db import SessionDep
from proofpix_plugins.developers.service import DeveloperService
from proofpix_plugins.errors import Conflict, FieldError, NotFound, ValidationFailed
from proofpix_plugins.kit.ids import as_uuid
from proofpix_plugins.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams
from proofpix_plugins.kit.problem_schema import problem_responses
from proofpix_plugins.kit.rate_limit import rate_limit
from proofpix_plugins.kit.routes import PatternRoute
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.marketplace import publog
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import Developer, DeveloperSigningKey, LogAction

#: Active keys per developer: room for rotation and a few machines, no more.
MAX_ACTIVE_SIGNING_KEYS: Final = 10
_MAX_KEY_TEXT: Final = 4096
_T0: Final = "2026-12-01T09:30:00Z"
_EXAMPLE_ID: Final = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
_EXAMPLE_RAW: Final = "GfTAHwJOjYVRt0Ol6W5lqJhbmELnCUO7rU5r1DNFzAk="
_EXAMPLE_FP: Final = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class Rule:
    """Stable rule ids of the problems a key upload can draw."""

    malformed = "signing_key_malformed"
    not_ed25519 = "signing_key_not_ed25519"
    private = "signing_key_is_private"
    duplicate = "signing_key_duplicate"
    revoked = "signing_key_revoked"
    foreign = "signing_key_other_developer"


class AddSigningKeyIn(CamelModel):
    """A public key to accept signatures from."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "laptop 2026", "publicKey": _EXAMPLE_RAW},
        {"name": "ci", "publicKey": "-----BEGIN PUBLIC KEY-----\n"
         "MCowBQYDK2VwAyEAGfTAHwJOjYVRt0Ol6W5lqJhbmELnCUO7rU5r1DNFzAk=\n"
         "-----END PUBLIC KEY-----\n"},
    ]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    """What the key is (1-100 characters), e.g. where its private half lives."""
    public_key: Annotated[str, Field(min_length=1, max_length=_MAX_KEY_TEXT)]
    """An ed25519 public key: the PEM `proofpix-plugins plugin keygen` writes (`PREFIX.pub`), or
    base64 of the raw 32 bytes. Never the private key."""


class SigningKeyOut(CamelResponse):
    """A registered signing key."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _EXAMPLE_ID, "name": "laptop 2026", "publicKey": _EXAMPLE_RAW,
        "fingerprint": _EXAMPLE_FP, "createdAt": _T0, "revokedAt": None,
    }]})

    id: uuid.UUID
    """The key's id (for revocation)."""
    name: str
    """What the developer called the key."""
    public_key: str
    """The raw 32-byte ed25519 public key, base64."""
    fingerprint: str
    """SHA-256 of the raw key, hex: how signatures and the publication log name the key."""
    created_at: datetime
    """When the key was added."""
    revoked_at: datetime | None = None
    """When the key was revoked; a revoked key verifies nothing."""


SigningKeyId = Annotated[str, Path(
    pattern="^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    description="The signing key's id (a UUID), as the list gives it.",
    examples=[_EXAMPLE_ID],
)]


def _bad(rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(detail="this is not a usable ed25519 public key",
                            errors=[FieldError("publicKey", message, rule)])


def parse_public_key(text: str) -> bytes:
    """The raw 32 bytes of an ed25519 public key given as PEM or base64 (422 otherwise)."""
    stripped = text.strip()
    if "PRIVATE KEY" in stripped:
        raise _bad(Rule.private, "is a private key: upload only the public half (the .pub file); "
                   "treat this private key as exposed and generate a new pair")
    if stripped.startswith("-----BEGIN"):
        try:
            key: Any = serialization.load_pem_public_key(stripped.encode("utf-8"))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise _bad(Rule.malformed, "is not a readable public key PEM") from None
        if not isinstance(key, Ed25519PublicKey):
            raise _bad(Rule.not_ed25519, f"is a {type(key).__name__.lstrip('_')} key; "
                       "only ed25519 keys are accepted")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(stripped.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _bad(Rule.malformed, "is neither a PEM public key nor base64") from None
    if len(raw) != 32:
        raise _bad(Rule.malformed, f"decodes to {len(raw)} bytes; an ed25519 public key "
                   "is exactly 32")
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


def fingerprint_of(raw: bytes) -> str:
    """As ``packages.signing.public_key_fingerprint``: sha256 hex of the raw key."""
    return hashlib.sha256(raw).hexdigest()


async def active_signing_keys(
    session: AsyncSession, developer_id: uuid.UUID
) -> list[tuple[str, Ed25519PublicKey]]:
    """(fingerprint, key) of each unrevoked key of the developer, oldest first.

    Empty: the developer has none, and unsigned submissions are accepted.
    """
    rows = (await session.execute(
        select(DeveloperSigningKey.fingerprint, DeveloperSigningKey.public_key)
        .where(DeveloperSigningKey.developer_id == developer_id,
               DeveloperSigningKey.revoked_at.is_(None))
        .order_by(DeveloperSigningKey.created_at, DeveloperSigningKey.id)
    )).all()
    return [(fp, Ed25519PublicKey.from_public_bytes(base64.b64decode(raw))) for fp, raw in rows]


async def add_signing_key(
    session: AsyncSession, developer: Developer, name: str, public_key: str
) -> DeveloperSigningKey:
    raw = parse_public_key(public_key)
    fingerprint = fingerprint_of(raw)
    existing = (await session.execute(
        select(DeveloperSigningKey).where(DeveloperSigningKey.fingerprint == fingerprint)
    )).scalars().all()
    for row in existing:
        if row.developer_id != developer.id:
            raise Conflict(detail="this public key is registered by another developer",
                           errors=[FieldError("publicKey", "belongs to another developer",
                                              Rule.foreign)])
        if row.revoked_at is not None:
            raise Conflict(detail="this key was revoked and cannot be added again",
                           errors=[FieldError("publicKey", "was revoked; generate a new key "
                                              "pair", Rule.revoked)])
        raise Conflict(detail="this key is already registered", errors=[
            FieldError("publicKey", f"is already registered as {row.name!r}", Rule.duplicate)])
    active = (await session.execute(
        select(func.count()).select_from(DeveloperSigningKey).where(
            DeveloperSigningKey.developer_id == developer.id,
            DeveloperSigningKey.revoked_at.is_(None))
    )).scalar_one()
    if active >= MAX_ACTIVE_SIGNING_KEYS:
        raise Conflict(detail=f"you already have {MAX_ACTIVE_SIGNING_KEYS} active signing keys; "
                       "revoke one first")
    row = DeveloperSigningKey(
        developer_id=developer.id, name=name,
        public_key=base64.b64encode(raw).decode("ascii"), fingerprint=fingerprint,
    )
    session.add(row)
    await session.flush()
    await publog.append(session, LogAction.signing_key_added,
                        detail={"namespace": developer.namespace, "fingerprint": fingerprint})
    return row


async def revoke_signing_key(
    session: AsyncSession, developer: Developer, key_id: uuid.UUID
) -> None:
    row = (await session.execute(
        select(DeveloperSigningKey).where(DeveloperSigningKey.id == key_id,
                                          DeveloperSigningKey.developer_id == developer.id)
    )).scalar_one_or_none()
    if row is None:
        raise NotFound(detail="no signing key of yours has this id")
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    await session.flush()
    await publog.append(session, LogAction.signing_key_revoked,
                        detail={"namespace": developer.namespace, "fingerprint": row.fingerprint})


# --- routes -------------------------------------------------------------------------------------

router = APIRouter(
    prefix="/api/developers/signing-keys", tags=["developers"], route_class=PatternRoute
)


async def _developer(principal: CurrentUser, session: SessionDep) -> Developer:
    return await DeveloperService(session).require_profile(principal.user_id)


Owner = Annotated[Developer, Depends(_developer)]


def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = (
        DEFAULT_LIMIT),
) -> PageParams:
    return PageParams(page=page, limit=limit)


@router.post("", status_code=201, response_model=SigningKeyOut,
             dependencies=[Depends(rate_limit("auth"))], responses=problem_responses(404, 409))
async def add_developer_signing_key(
    body: AddSigningKeyIn, developer: Owner, session: SessionDep
) -> SigningKeyOut:
    """Add a signing key

    Registers an ed25519 public key; from now on every submission must be signed by one of
    the developer's active keys. The addition is recorded in the publication log. Refused
    (422, field `publicKey`) when it is not a readable key, not ed25519, or a private key;
    409 when it is already registered, was revoked, or belongs to another developer, or at
    10 active keys.

    Who: the developer's logged-in user (Bearer token); 404 without a developer profile.
    """
    row = await add_signing_key(session, developer, body.name, body.public_key)
    return SigningKeyOut.model_validate(row)


@router.get("", response_model=Page[SigningKeyOut],
            dependencies=[Depends(rate_limit("default"))], responses=problem_responses(404))
async def list_developer_signing_keys(
    developer: Owner, session: SessionDep, params: Annotated[PageParams, Depends(_page)]
) -> Page[SigningKeyOut]:
    """List my signing keys

    The developer's signing keys, newest first, revoked ones included.

    Who: the developer's logged-in user; 404 without a developer profile.
    """
    where = DeveloperSigningKey.developer_id == developer.id
    total = (await session.execute(
        select(func.count()).select_from(DeveloperSigningKey).where(where)
    )).scalar_one()
    rows = (await session.execute(
        select(DeveloperSigningKey).where(where)
        .order_by(DeveloperSigningKey.created_at.desc(), DeveloperSigningKey.id)
        .offset(params.offset).limit(params.limit)
    )).scalars().all()
    return Page.of([SigningKeyOut.model_validate(r) for r in rows], total, params)


@router.delete("/{key_id}", status_code=204, responses=problem_responses(404))
async def revoke_developer_signing_key(
    key_id: SigningKeyId, developer: Owner, session: SessionDep
) -> Response:
    """Revoke a signing key

    The key verifies no further submission; the revocation is recorded in the publication
    log. Revoking it again changes nothing.

    Who: the developer's logged-in user. 404 for a key that is not the caller's.
    """
    await revoke_signing_key(
        session, developer, as_uuid(key_id, NotFound, "no signing key of yours has this id")
    )
    return Response(status_code=204)
