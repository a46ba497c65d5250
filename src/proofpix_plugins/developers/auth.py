"""The ``X-API-Key`` guard for developer routes.

A key authenticates its developer on developer routes only (``/api/developers/...``): no user
route reads this header, so a leaked publish key can never install, configure or read an
organization's plugins. Unknown, malformed, expired and revoked keys are all 401 with a reason
that does not help an attacker tell a revoked key from a mistyped one beyond what the owner
already knows (the reason names the state of a key only once its digest matched).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy import select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.api_keys import key_digest, well_formed
from proofpix_plugins.errors import Forbidden, Unauthorized
from proofpix_plugins.kit.problem_schema import answers
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import ApiKey, ApiKeyScope, Developer

api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Developer API key from POST /api/developers/register or /api/developers/keys",
)

#: ``last_used_at`` is written at most this often per key (no write per request).
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class DeveloperPrincipal:
    """The developer a request's API key belongs to."""

    developer_id: uuid.UUID
    user_id: uuid.UUID
    namespace: str
    verified: bool
    key_id: uuid.UUID
    scopes: frozenset[str]


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail=detail, headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})


async def _authenticate(request: Request, key: str | None) -> DeveloperPrincipal:
    if not key:
        raise _unauthorized("a developer API key is required: send X-API-Key")
    if not well_formed(key):
        raise _unauthorized("X-API-Key is not a ProofPix developer key (ppxk_…)")
    now = utcnow()
    async with session_scope(request.app.state.session_factory) as session:
        row = (
            await session.execute(
                select(ApiKey, Developer)
                .join(Developer, Developer.id == ApiKey.developer_id)
                .where(ApiKey.key_hash == key_digest(key))
            )
        ).one_or_none()
        if row is None:
            raise _unauthorized("unknown API key")
        api_key, developer = row[0], row[1]
        if api_key.revoked_at is not None:
            raise _unauthorized("this API key was revoked")
        if api_key.expires_at is not None and api_key.expires_at <= now:
            raise _unauthorized("this API key has expired; create a new one")
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            await session.execute(
                update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now)
            )
        principal = DeveloperPrincipal(
            developer_id=developer.id,
            user_id=developer.user_id,
            namespace=developer.namespace,
            verified=developer.verified,
            key_id=api_key.id,
            scopes=frozenset(api_key.scopes),
        )
    request.state.developer = principal
    return principal


def require_api_key(scope: ApiKeyScope | str) -> Callable[..., Awaitable[DeveloperPrincipal]]:
    """A dependency: the calling developer, whose key carries ``scope`` (403 otherwise)."""
    wanted = ApiKeyScope(scope).value

    @answers(401, 403)
    async def dependency(
        request: Request,
        key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> DeveloperPrincipal:
        principal = await _authenticate(request, key)
        if wanted not in principal.scopes:
            raise Forbidden(detail=f"this API key lacks the {wanted!r} scope")
        return principal

    return dependency
