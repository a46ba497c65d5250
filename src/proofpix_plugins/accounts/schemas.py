"""Request and response bodies of the accounts API (camelCase, except RFC 6749's token body)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from proofpix_plugins.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.accounts import Role, Tier

Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Refresh tokens we issue are 43 characters; the bound only stops absurd inputs early.
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


class RegisterIn(CamelModel):
    email: Annotated[EmailStr, Field(max_length=320)]
    password: Password
    name: DisplayName

    @field_validator("password")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("password must not be only whitespace")
        return value


class LoginIn(CamelModel):
    # Not EmailStr: a malformed address simply fails to log in, without a different answer.
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    organization_id: uuid.UUID | None = None


class RefreshIn(BaseModel):
    """RFC 6749 §6 names the field ``refresh_token``."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: OpaqueToken


class LogoutIn(BaseModel):
    """Without a token, logout ends every session of the user."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: OpaqueToken | None = None


class TokenOut(BaseModel):
    """RFC 6749 §5.1 access token response."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 (RFC 6749 token type, not a secret)
    expires_in: int


class OrganizationOut(CamelResponse):
    id: uuid.UUID
    name: str
    slug: str
    tier: Tier
    role: Role


class UserOut(CamelResponse):
    id: uuid.UUID
    email: str
    name: str
    is_platform_admin: bool


class RegisteredOut(CamelResponse):
    user: UserOut
    organization: OrganizationOut


class MeOut(CamelResponse):
    user: UserOut
    organization: OrganizationOut
