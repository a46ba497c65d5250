"""One root error carrying its HTTP status, and the field errors problem+json reports.

Every domain raises a subclass of :class:`ProofPixError`; the HTTP layer renders any of them as
RFC 9457 problem details (see ``kit/problem.py``). Third-party exceptions are translated at the
boundary (``raise SomeError(...) from None``) so no library detail leaks to clients.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field: where, which rule, what was wrong."""

    field: str
    message: str
    rule: str | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.rule is not None:
            out["rule"] = self.rule
        if self.value is not None:
            out["value"] = _safe_value(self.value)
        return out


def _safe_value(value: Any) -> Any:
    """Echo offending values only in a bounded, JSON-safe form."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass
class ProofPixError(Exception):
    """Root of every error the platform raises on purpose."""

    detail: str
    errors: Sequence[FieldError] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)
    #: Extra problem+json members (RFC 9457 extensions), e.g. a scan report or a permission diff.
    extensions: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.detail)

    def __str__(self) -> str:
        if not self.errors:
            return self.detail
        parts = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        return f"{self.detail} ({parts})"

    @property
    def type_uri(self) -> str:
        return f"https://proofpix.dev/problems/{self.slug}"


class BadRequest(ProofPixError):
    """The request is malformed in a way no field rule describes."""

    status = 400
    title = "Bad Request"
    slug = "bad-request"


class Unauthorized(ProofPixError):
    """Missing, expired or invalid credentials."""

    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(ProofPixError):
    """Authenticated, but not allowed (role, tier or permission)."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(ProofPixError):
    """The resource does not exist for this caller (existence never leaks across tenants)."""

    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(ProofPixError):
    """The request conflicts with the current state (duplicate, illegal transition, race)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(ProofPixError):
    """An upload or body exceeds its limit."""

    status = 413
    title = "Payload Too Large"
    slug = "payload-too-large"


class UnsupportedMediaType(ProofPixError):
    """The body's content is not of an accepted type."""

    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class ValidationFailed(ProofPixError):
    """Input broke one or more field rules; ``errors`` names each field and rule."""

    status = 422
    title = "Validation Failed"
    slug = "validation"


class RateLimited(ProofPixError):
    """Too many requests for this route class; ``Retry-After`` says when to come back."""

    status = 429
    title = "Too Many Requests"
    slug = "rate-limited"


class InsufficientStorage(ProofPixError):
    """The server's disk (blob store, spool, plugin trees, database) is full: nothing was kept.

    Raised for ``ENOSPC``/``EDQUOT`` wherever they surface (``kit/problem.py`` maps a bare
    ``OSError`` with those errnos here too); the same request succeeds once space is freed.
    """

    status = 507
    title = "Insufficient Storage"
    slug = "insufficient-storage"


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` saying the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


class ServiceUnavailable(ProofPixError):
    """A dependency (database, sandbox) is not available."""

    status = 503
    title = "Service Unavailable"
    slug = "unavailable"
