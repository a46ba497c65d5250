"""Request and response bodies of the accounts API (camelCase, except RFC 6749's token body)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
)

from proofpix_plugins.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.accounts import Role, Tier

Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Refresh tokens we issue are 43 characters; the bound only stops absurd inputs early.
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


class RegisterIn(CamelModel):
    """A new account: the user's email, password and display name."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"email": "ada@example.com", "password": "correct horse battery staple",
         "name": "Ada Lovelace"},
    ]})

    email: Annotated[EmailStr, Field(max_length=320)]
    """The login email; unique across the platform."""
    password: Password
    """At least the minimum length, not only whitespace; stored as an argon2 hash."""
    name: DisplayName
    """Display name (1-200 characters, trimmed)."""

    @field_validator("password")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("password must not be only whitespace")
        return value


class LoginIn(CamelModel):
    """Credentials, and optionally which of the user's organizations the token is for."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"email": "ada@example.com", "password": "correct horse battery staple"},
    ]})

    # Not EmailStr: a malformed address simply fails to log in, without a different answer.
    email: Annotated[str, Field(min_length=1, max_length=320)]
    """The login email."""
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    """The password."""
    organization_id: uuid.UUID | None = None
    """The organization to act in; default the user's first."""


class RefreshIn(BaseModel):
    """RFC 6749 §6 names the field ``refresh_token``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_extra={
        "examples": [{"refresh_token": "q3Zt9mI0cV8rJ2kX5yB1nP7wL4sD6fH0gA9uE2oT1xY"}]})

    refresh_token: OpaqueToken
    """The refresh token from the last login or refresh."""


class LogoutIn(BaseModel):
    """Without a token, logout ends every session of the user."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, json_schema_extra={
        "examples": [{"refresh_token": "q3Zt9mI0cV8rJ2kX5yB1nP7wL4sD6fH0gA9uE2oT1xY"}, {}]})

    refresh_token: OpaqueToken | None = None
    """The session to end; omitted ends every session of the user."""


class TokenOut(BaseModel):
    """RFC 6749 §5.1 access token response."""

    model_config = ConfigDict(use_attribute_docstrings=True, json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
        "refresh_token": "q3Zt9mI0cV8rJ2kX5yB1nP7wL4sD6fH0gA9uE2oT1xY",
        "token_type": "Bearer", "expires_in": 900,
    }]})

    access_token: str
    """The JWT to send as `Authorization: Bearer <token>`."""
    refresh_token: str
    """Opaque token for `POST /api/auth/refresh`; single use (rotated)."""
    token_type: str = "Bearer"  # noqa: S105 (RFC 6749 token type, not a secret)
    """Always `Bearer`."""
    expires_in: int
    """Seconds until the access token expires."""


class OrganizationOut(CamelResponse):
    """An organization, with the caller's role in it."""

    id: uuid.UUID
    """Organization id."""
    name: str
    """Display name."""
    slug: str
    """URL-safe unique name."""
    tier: Tier
    """Subscription plan; plugins need `enterprise`."""
    role: Role
    """The caller's role in it (`owner`, `admin`, `member`)."""


class UserOut(CamelResponse):
    """A user account."""

    id: uuid.UUID
    """User id."""
    email: str
    """Login email (lower case)."""
    name: str
    """Display name."""
    is_platform_admin: bool
    """Whether the user administers the platform itself."""


_ACCOUNT_EXAMPLE: dict[str, JsonValue] = {
    "user": {"id": "0b6f6c1e-5d2a-4c1b-9a7e-3f2d1c0b9a8e", "email": "ada@example.com",
             "name": "Ada Lovelace", "isPlatformAdmin": False},
    "organization": {"id": "6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "Acme",
                     "slug": "acme", "tier": "enterprise", "role": "owner"},
}


class RegisteredOut(CamelResponse):
    """The new user and their new organization."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ACCOUNT_EXAMPLE]})

    user: UserOut
    """The new user."""
    organization: OrganizationOut
    """Their new organization, with them as owner."""


class MeOut(CamelResponse):
    """The caller and the organization their token is for."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ACCOUNT_EXAMPLE]})

    user: UserOut
    """The caller."""
    organization: OrganizationOut
    """The organization the token acts in."""
