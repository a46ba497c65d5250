"""Request and response bodies of the developer API (camelCase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import ConfigDict, Field, StringConstraints, field_validator

from proofpix_plugins.kit.schemas import CamelModel, CamelResponse
from proofpix_plugins.models.marketplace import ApiKeyScope

_T0: Final = "2026-12-01T09:30:00Z"
_T90: Final = "2027-03-01T09:30:00Z"
EXAMPLE_DEVELOPER_ID: Final = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
EXAMPLE_KEY_ID: Final = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
EXAMPLE_SECRET: Final = "ppxk_" + "Jx3vQm8RZt2WbK9yLp4Nc7Ds1Fh6Gj0Ak5Te3Uo8Xi2" + "_a1b2c3"
DEFAULT_KEY_DAYS: Final = 90
MAX_KEY_DAYS: Final = 365

_DEVELOPER_EXAMPLE: Final[dict[str, Any]] = {
    "id": EXAMPLE_DEVELOPER_ID, "namespace": "acme", "displayName": "Acme Photo Tools",
    "verified": False, "verifiedAt": None, "createdAt": _T0,
}
_KEY_EXAMPLE: Final[dict[str, Any]] = {
    "id": EXAMPLE_KEY_ID, "name": "ci", "prefix": EXAMPLE_SECRET[:12],
    "scopes": ["publish", "read"], "createdAt": _T0, "expiresAt": _T90,
    "lastUsedAt": None, "revokedAt": None,
}

_UUID_PATTERN: Final = (
    "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)

#: A key id in a URL path (kit.routes.PatternRoute routes only well-formed ones).
KeyId = Annotated[str, Path(
    pattern=_UUID_PATTERN,
    description="The key's id (a UUID), as the key list gives it.",
    examples=[EXAMPLE_KEY_ID],
)]

#: A namespace in a URL path: the manifest's id part.
NamespacePath = Annotated[str, Path(
    pattern="^[a-z0-9][a-z0-9-]{1,23}$",
    description="A developer namespace (the publisher part of plugin ids).",
    examples=["acme"],
)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RegisterDeveloperIn(CamelModel):
    """The namespace to claim and the name shown beside it in the marketplace."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"namespace": "acme", "displayName": "Acme Photo Tools"},
    ]})

    # Not constrained by pattern here: the service names the exact rule a name breaks
    # (format, reserved, confusable), including for names in other scripts.
    namespace: Annotated[str, Field(min_length=1, max_length=64)]
    """The publisher part of your plugin ids: 2-24 characters, lowercase a-z or 0-9 first,
    then a-z, 0-9 or '-'. Reserved names and look-alikes of existing ones are refused."""
    display_name: DisplayName
    """The name shown in the marketplace (1-200 characters, trimmed)."""


class DeveloperOut(CamelResponse):
    """A developer profile: the namespace and whether the platform verified it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DEVELOPER_EXAMPLE]})

    id: uuid.UUID
    """The developer's id."""
    namespace: str
    """The publisher part of the developer's plugin ids."""
    display_name: str
    """The name shown in the marketplace."""
    verified: bool
    """Whether a platform administrator verified the namespace (a badge in the marketplace)."""
    verified_at: datetime | None = None
    """When the verification last changed, if ever."""
    created_at: datetime
    """When the profile was created."""


class ApiKeyOut(CamelResponse):
    """An API key as listed: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    """The key's id (for revocation)."""
    name: str
    """What the developer called the key."""
    prefix: str
    """The key's first characters, to recognize it; not enough to use it."""
    scopes: list[ApiKeyScope]
    """What the key may do: `publish` submits versions, `read` reads status."""
    created_at: datetime
    """When the key was created."""
    expires_at: datetime | None = None
    """When the key stops working."""
    last_used_at: datetime | None = None
    """When the key last authenticated a request (to within five minutes)."""
    revoked_at: datetime | None = None
    """When the key was revoked, if it was."""


class ApiKeyCreatedOut(ApiKeyOut):
    """A new API key with its secret: shown this once, never again."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_KEY_EXAMPLE, "secret": EXAMPLE_SECRET},
    ]})

    secret: str
    """The key itself, for the `X-API-Key` header. Store it now: only its hash is kept."""


class RegisteredDeveloperOut(CamelResponse):
    """The new profile and its first API key (secret shown once)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "developer": _DEVELOPER_EXAMPLE, "apiKey": {**_KEY_EXAMPLE, "secret": EXAMPLE_SECRET},
    }]})

    developer: DeveloperOut
    """The developer profile."""
    api_key: ApiKeyCreatedOut
    """The first API key (scopes publish and read, 90 days), with its secret."""


class CreateKeyIn(CamelModel):
    """A new API key: a name, its scopes and how long it lives."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "ci", "scopes": ["publish", "read"], "expiresInDays": 90},
    ]})

    name: Name
    """What the key is for (1-100 characters), e.g. the CI system using it."""
    scopes: Annotated[list[ApiKeyScope], Field(min_length=1, max_length=2)]
    """At least one of `publish` and `read`, each at most once."""
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_KEY_DAYS, strict=True)] = DEFAULT_KEY_DAYS
    """Days until the key expires: 1 to 365, default 90."""

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[ApiKeyScope]) -> list[ApiKeyScope]:
        if len(set(value)) != len(value):
            raise ValueError("each scope may appear once")
        return value


class WhoAmIOut(CamelResponse):
    """The developer and key behind an `X-API-Key`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "namespace": "acme", "verified": False, "keyId": EXAMPLE_KEY_ID,
        "scopes": ["publish", "read"],
    }]})

    namespace: str
    """The key's developer namespace."""
    verified: bool
    """Whether the namespace is verified."""
    key_id: uuid.UUID
    """The id of the key that authenticated the request."""
    scopes: list[ApiKeyScope]
    """The key's scopes."""


class VerifyIn(CamelModel):
    """Verify or unverify a namespace, with the reason (kept on the profile)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"verified": True, "reason": "domain acme.example confirmed by DNS TXT record"},
    ]})

    verified: Annotated[bool, Field(strict=True)]
    """`true` to verify the namespace, `false` to withdraw the verification."""
    reason: Reason
    """Why (1-500 characters): what was checked, or why the badge is withdrawn."""
