"""Authentication and authorization dependencies every router reuses.

``current_user`` trusts the signed access token (15 minutes) for reads. For every mutating
request (any method but GET, HEAD, OPTIONS) it re-checks the account before the route runs,
whichever dependency a route declares: first by the token's auth epoch (accounts/epochs.py), which
database triggers bump on every change to what the token asserts; when the user's current epoch
is the token's, nothing the token asserts has changed. Otherwise (a mismatch, a token without an
epoch, a user gone) it re-reads the account from the database: a deleted user or organization, a
deactivated user or a removed membership is a 401, and role, tier and platform-admin are the
database's, so a demotion or downgrade takes effect at once for every write (see
docs/decisions.md). Reads stay one signature check.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from proofpix_plugins.accounts.epochs import AuthEpochs
from proofpix_plugins.accounts.repository import AccountRepository
from proofpix_plugins.accounts.tokens import AccessClaims, AccessTokens
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Forbidden, Unauthorized
from proofpix_plugins.kit.ids import uuid_text
from proofpix_plugins.kit.problem_schema import answers
from proofpix_plugins.models.accounts import Role, Tier

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLAIMS_KEY = "access_claims"
_CONFIRMED_KEY = "principal_confirmed"

bearer_scheme = HTTPBearer(auto_error=False, description="JWT access token from /api/auth/login")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, in which organization, with which role and tier."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role
    tier: Tier
    is_platform_admin: bool
    email: str


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def access_claims(conn: HTTPConnection, token: str) -> AccessClaims:
    """The verified claims of ``token`` (``Unauthorized`` if it is not a valid access token).

    Decoded once per request or WebSocket: the guards and the rate limiter share the result.
    """
    cached = getattr(conn.state, _CLAIMS_KEY, None)
    if isinstance(cached, AccessClaims):
        return cached
    tokens: AccessTokens = conn.app.state.access_tokens
    claims = tokens.decode(token)
    setattr(conn.state, _CLAIMS_KEY, claims)
    return claims


def _missing() -> Unauthorized:
    return Unauthorized(
        detail="authentication required: send Authorization: Bearer <access token>",
        headers={"WWW-Authenticate": "Bearer"},
    )


@answers(401)
async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _missing()
    claims = access_claims(request, credentials.credentials)
    try:
        role, tier = Role(claims.role), Tier(claims.tier)
    except ValueError:
        raise Unauthorized(detail="the access token carries an unknown role or tier") from None
    principal = Principal(
        user_id=claims.user_id,
        org_id=claims.org_id,
        role=role,
        tier=tier,
        is_platform_admin=claims.is_platform_admin,
        email=claims.email,
    )
    request.state.principal = principal
    if request.method in SAFE_METHODS:
        return principal
    return await _confirm(request, principal)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def confirmed_principal(principal: CurrentUser) -> Principal:
    """The caller, re-checked against the database for writes (``current_user`` does it)."""
    return principal


async def _confirm(request: Request, principal: Principal) -> Principal:
    """The principal with role, tier and admin flag as the database says now.

    The check reads in its own short transaction rather than the request's: long requests
    (a plugin install) must not hold a pooled connection just for their guard.
    """
    cached = getattr(request.state, _CONFIRMED_KEY, None)
    if isinstance(cached, Principal):
        return cached
    claims = getattr(request.state, _CLAIMS_KEY, None)
    epochs: AuthEpochs | None = getattr(request.app.state, "auth_epochs", None)
    if (
        epochs is not None
        and isinstance(claims, AccessClaims)
        and claims.epoch is not None
        and await epochs.current(principal.user_id) == claims.epoch
    ):
        # Nothing the token asserts has changed since it was issued.
        setattr(request.state, _CONFIRMED_KEY, principal)
        return principal
    async with session_scope(request.app.state.session_factory) as session:
        repo = AccountRepository(session)
        user = await repo.user_by_id(principal.user_id)
        found = await repo.membership(principal.user_id, principal.org_id)
    if user is None or not user.is_active or found is None:
        raise Unauthorized(detail="the account or its membership no longer exists")
    membership, org = found
    fresh = replace(
        principal, role=membership.role, tier=org.tier, is_platform_admin=user.is_platform_admin
    )
    setattr(request.state, _CONFIRMED_KEY, fresh)
    request.state.principal = fresh
    return fresh


ConfirmedUser = Annotated[Principal, Depends(confirmed_principal)]


def require_role(*roles: Role | str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller's role in the current organization is one of ``roles``."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    allowed = frozenset(Role(r) for r in roles)
    names = " or ".join(sorted(r.value for r in allowed))

    @answers(403)
    async def dependency(principal: ConfirmedUser) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                detail=f"this action needs the {names} role in the organization; "
                f"you are {principal.role.value}"
            )
        return principal

    dependency.__name__ = f"require_role_{'_'.join(sorted(r.value for r in allowed))}"
    return dependency


def require_tier(*tiers: Tier | str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the current organization's subscription tier is one of ``tiers``."""
    if not tiers:
        raise ValueError("require_tier needs at least one tier")
    allowed = frozenset(Tier(t) for t in tiers)
    names = " or ".join(sorted(t.value for t in allowed))

    @answers(403)
    async def dependency(principal: ConfirmedUser) -> Principal:
        if principal.tier not in allowed:
            raise Forbidden(
                detail=f"this feature needs an organization on the {names} plan; "
                f"yours is on {principal.tier.value}"
            )
        return principal

    dependency.__name__ = f"require_tier_{'_'.join(sorted(t.value for t in allowed))}"
    return dependency


@answers(403)
async def require_platform_admin(principal: ConfirmedUser) -> Principal:
    if not principal.is_platform_admin:
        raise Forbidden(detail="this action is reserved to platform administrators")
    return principal


PlatformAdmin = Annotated[Principal, Depends(require_platform_admin)]


async def rate_limit_identity(request: Request) -> str | None:
    """The user id behind a valid bearer token, for per-user rate limits; else None (by IP)."""
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        return None
    try:
        return uuid_text(access_claims(request, token).user_id)
    except Unauthorized:
        return None
