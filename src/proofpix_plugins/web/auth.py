"""Who is at the console: the cookie session turned into the API's ``Principal``, and CSRF.

Every rule is the API's own: the access token is verified and, for writes, the account is
re-checked against the database by ``accounts.auth.current_user`` (the same function the API's
bearer guard runs); an expired access token is renewed by ``AccountService.refresh`` (rotation
and reuse detection included); tier and role checks are ``require_tier`` / ``require_role``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from proofpix_plugins.accounts.auth import Principal, access_claims, current_user
from proofpix_plugins.accounts.service import AccountService, RefreshTokenReused
from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Forbidden, ProofPixError, Unauthorized
from proofpix_plugins.models.accounts import Role, Tier
from proofpix_plugins.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    ConsoleSession,
    csrf_matches,
    csrf_token,
    read_session,
    write_session,
)

_STATE_KEY = "console"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """The page needs a signed-in user; the handler answers with the sign-in page."""


class CsrfRefused(Exception):
    """An unsafe request without the session's CSRF token."""


@dataclass
class Console:
    """This request's console session, the user behind it (if any) and the cookie to send."""

    session: ConsoleSession
    principal: Principal | None
    csrf: str
    dirty: bool = False
    cleared: bool = field(default=False)

    def replace_session(self, session: ConsoleSession, secret: str) -> None:
        self.session = session
        self.csrf = csrf_token(secret, session)
        self.dirty = True

    def apply(self, response: Response, conn: HTTPConnection, settings: Settings) -> None:
        if self.dirty:
            write_session(response, conn, settings, self.session)


def _secret(settings: Settings) -> str:
    secret = settings.jwt_secret
    assert secret is not None  # ensure_secrets filled it at start-up
    return secret.get_secret_value()


def account_service(conn: HTTPConnection, session: Any) -> AccountService:
    state = conn.app.state
    return AccountService(session, state.passwords, state.access_tokens,
                          state.settings.refresh_token_ttl_seconds)


async def _refreshed(request: Request, refresh_token: str) -> tuple[str, str] | None:
    """New tokens for a refresh token, or None when it no longer works (rotation applies)."""
    async with session_scope(request.app.state.session_factory) as db:
        try:
            _, pair = await account_service(request, db).refresh(refresh_token)
        except RefreshTokenReused:
            # Caught inside the transaction so the family's revocation is committed.
            return None
        except ProofPixError:
            return None
    return pair.access_token, pair.refresh_token


async def _principal(request: Request, token: str) -> Principal | None:
    try:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        return await current_user(request, credentials)
    except ProofPixError:
        return None


async def load_console(request: Request) -> Console:
    """The request's console state (cached on the request); never raises for a bad cookie."""
    cached = getattr(request.state, _STATE_KEY, None)
    if isinstance(cached, Console):
        return cached
    settings: Settings = request.app.state.settings
    secret = _secret(settings)
    session = read_session(request, settings)
    dirty = session is None
    if session is None:
        session = ConsoleSession.anonymous()
    principal: Principal | None = None
    if session.signed_in and session.refresh_token:
        if session.access_token and _valid(request, session.access_token):
            principal = await _principal(request, session.access_token)
        else:
            pair = await _refreshed(request, session.refresh_token)
            if pair is not None:
                session = session.with_tokens(*pair)
                dirty = True
                principal = await _principal(request, pair[0])
        if principal is None:
            # Revoked, expired or the account is gone: back to an anonymous session.
            session, dirty = ConsoleSession.anonymous(), True
    console = Console(session, principal, csrf_token(secret, session), dirty=dirty)
    setattr(request.state, _STATE_KEY, console)
    return console


def _valid(conn: HTTPConnection, token: str) -> bool:
    try:
        access_claims(conn, token)
    except Unauthorized:
        return False
    return True


async def check_csrf(request: Request, console: Console, form_value: str | None) -> None:
    """Unsafe methods need the session's token, from the htmx header, the form or the query."""
    if request.method not in UNSAFE_METHODS:
        return
    settings: Settings = request.app.state.settings
    presented = (request.headers.get(CSRF_HEADER) or form_value
                 or request.query_params.get(CSRF_FIELD))
    if not csrf_matches(_secret(settings), console.session, presented):
        raise CsrfRefused


def require_user(console: Console) -> Principal:
    if console.principal is None:
        raise SignInRequired
    return console.principal


async def require_enterprise(principal: Principal) -> Principal:
    if principal.tier is not Tier.enterprise:
        raise Forbidden(detail="the plugin console needs an organization on the enterprise plan; "
                        f"yours is on {principal.tier.value}")
    return principal


def can_manage(principal: Principal) -> bool:
    """Whether the admin controls are shown (the services' guards decide again on submit)."""
    return principal.tier is Tier.enterprise and principal.role in (Role.owner, Role.admin)


async def console_identity(request: Request) -> str | None:
    """The rate-limit identity of a console request: its session's user, else None (by IP)."""
    settings: Settings = request.app.state.settings
    session = read_session(request, settings)
    if session is None or not session.access_token:
        return None
    try:
        return str(access_claims(request, session.access_token).user_id)
    except Unauthorized:
        return None
