"""The console's cookie session: what the cookie holds, its flags, and the CSRF token bound to it.

The cookie carries the same credentials the API hands out at ``/api/auth/login``: an access
token (a signed JWT, verified on every request) and a refresh token (stored hashed, rotating,
revoked by logout and by reuse detection). Nothing in it is trusted without that verification,
so it needs no signature of its own. Beside them, ``sid`` is a random nonce that exists before
login too (the login form needs a CSRF token), and is replaced on every login: a session id an
attacker planted before the victim signed in is worthless afterwards (fixation).

The CSRF token is ``HMAC(jwt secret, sid)`` (a synchronizer token that needs no server state):
a cross-site page cannot read the HttpOnly cookie, so it can neither know ``sid`` nor forge the
HMAC. A planted cookie would carry the attacker's own credentials, never the victim's.

Flags: HttpOnly; SameSite=Lax (a link into the console from mail keeps the session, and every
state change is a POST with a CSRF token anyway); Secure unless the request is plain HTTP to a
loopback host (a developer's ``make run``), and always in production. A Secure cookie is named
with the ``__Host-`` prefix, so a sibling subdomain cannot overwrite it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, replace

from starlette.requests import HTTPConnection
from starlette.responses import Response

from proofpix_plugins.config import Environment, Settings

COOKIE = "ppx_console"
SECURE_COOKIE = "__Host-ppx_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
# A cookie over 4 KB is dropped by browsers; ours is ~700 bytes. Anything longer is not ours.
_MAX_COOKIE_CHARS = 3500
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    sid: str
    access_token: str | None = None
    refresh_token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.refresh_token is not None

    @classmethod
    def anonymous(cls) -> ConsoleSession:
        return cls(sid=secrets.token_urlsafe(24))

    def signed_in_as(self, access_token: str, refresh_token: str) -> ConsoleSession:
        # A fresh sid on every login: the pre-login id (and its CSRF token) stop working.
        return ConsoleSession(secrets.token_urlsafe(24), access_token, refresh_token)

    def with_tokens(self, access_token: str, refresh_token: str) -> ConsoleSession:
        return replace(self, access_token=access_token, refresh_token=refresh_token)

    def encode(self) -> str:
        payload = {"sid": self.sid, "at": self.access_token, "rt": self.refresh_token}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> ConsoleSession | None:
        """The session in a cookie value, or None for anything malformed (never an error)."""
        if not value or len(value) > _MAX_COOKIE_CHARS:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        sid, at, rt = data.get("sid"), data.get("at"), data.get("rt")
        if not isinstance(sid, str) or not 16 <= len(sid) <= 64:
            return None
        if not all(v is None or isinstance(v, str) for v in (at, rt)):
            return None
        return cls(sid, at, rt)


def is_secure_context(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether the cookie must be Secure: always but for plain HTTP on a loopback host."""
    if settings.env is Environment.production or conn.url.scheme in ("https", "wss"):
        return True
    host = (conn.url.hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def read_session(conn: HTTPConnection, settings: Settings) -> ConsoleSession | None:
    value = conn.cookies.get(cookie_name(is_secure_context(conn, settings)))
    return ConsoleSession.decode(value) if value else None


def write_session(
    response: Response, conn: HTTPConnection, settings: Settings, session: ConsoleSession
) -> None:
    secure = is_secure_context(conn, settings)
    response.set_cookie(
        cookie_name(secure), session.encode(), max_age=settings.refresh_token_ttl_seconds,
        path="/", secure=secure, httponly=True, samesite="lax",
    )


def clear_session(response: Response, conn: HTTPConnection, settings: Settings) -> None:
    secure = is_secure_context(conn, settings)
    response.delete_cookie(cookie_name(secure), path="/", secure=secure, httponly=True,
                           samesite="lax")


def csrf_token(secret: str, session: ConsoleSession) -> str:
    mac = hmac.new(secret.encode(), b"console-csrf:" + session.sid.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def csrf_matches(secret: str, session: ConsoleSession | None, presented: str | None) -> bool:
    if session is None or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session), presented)
