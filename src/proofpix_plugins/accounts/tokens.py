"""Access tokens (JWT, HS256) and opaque refresh tokens (random, stored as sha256)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from proofpix_plugins.errors import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "org", "role", "tier", "exp", "iat", "jti")
# A few seconds of tolerance for clocks of several API nodes.
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    tier: str
    is_platform_admin: bool
    email: str
    issued_at: datetime
    expires_at: datetime
    token_id: str
    #: The user's auth epoch when the token was issued (None: a token from before epochs).
    epoch: int | None = None


#: Tokens whose signature this process already verified (a client sends the same one for 15
#: minutes; verifying HMAC and parsing JSON again costs more than the rest of a cached read).
VERIFIED_CACHE_SIZE = 4096


class AccessTokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        org_id: uuid.UUID,
        role: str,
        tier: str,
        is_platform_admin: bool,
        email: str,
        now: datetime | None = None,
        epoch: int | None = None,
    ) -> str:
        issued = now or datetime.now(UTC)
        payload = {
            "sub": str(user_id),
            "org": str(org_id),
            "role": role,
            "tier": tier,
            "adm": is_platform_admin,
            "email": email,
            "iat": issued,
            "exp": issued + timedelta(seconds=self.ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        if epoch is not None:
            payload["ep"] = epoch
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        """Verify signature (HS256 only), expiry and every required claim.

        A token verified before is only checked for expiry again: the same string always
        carries the same claims, and only a correctly signed one is remembered.
        """
        known = self._verified.get(token)
        if known is not None:
            if time.time() > known.expires_at.timestamp() + LEEWAY_SECONDS:
                self._verified.pop(token, None)
                raise _invalid("the access token has expired")
            return known
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": list(REQUIRED_CLAIMS)},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("the access token has expired") from None
        except jwt.PyJWTError:
            raise _invalid("the access token is invalid") from None
        try:
            return AccessClaims(
                user_id=uuid.UUID(str(data["sub"])),
                org_id=uuid.UUID(str(data["org"])),
                role=str(data["role"]),
                tier=str(data["tier"]),
                is_platform_admin=data.get("adm") is True,
                email=str(data.get("email", "")),
                issued_at=datetime.fromtimestamp(int(data["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
                token_id=str(data["jti"]),
                epoch=_epoch(data.get("ep")),
            )
        except (ValueError, TypeError, OverflowError, OSError):
            # OverflowError/OSError: a timestamp past what datetime can hold (exp=1e20).
            raise _invalid("the access token carries malformed claims") from None


def _epoch(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise ValueError("ep")
    return value


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail=detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
