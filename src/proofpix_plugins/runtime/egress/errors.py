"""Errors of the http egress guard: a refusal by policy, or a failure of the outside world.

Both carry a stable ``rule`` string (``host-not-allowed``, ``address-refused``, ``timeout`` …)
that the broker can hand to the plugin and count in metrics without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from proofpix_plugins.errors import FieldError, Forbidden, ProofPixError


@dataclass
class EgressDenied(Forbidden):
    """The request breaks the egress policy and was not sent (or not followed further)."""

    rule: str = "egress-denied"

    slug: ClassVar[str] = "egress-denied"
    title: ClassVar[str] = "Egress Denied"

    @classmethod
    def of(cls, rule: str, message: str, field: str = "url") -> EgressDenied:
        return cls(detail=message, errors=(FieldError(field, message, rule),), rule=rule)


@dataclass
class EgressFailed(ProofPixError):
    """The request was allowed but the remote side failed: timeout, connection, size, TLS."""

    rule: str = "egress-failed"

    status: ClassVar[int] = 502
    title: ClassVar[str] = "Bad Gateway"
    slug: ClassVar[str] = "egress-failed"

    @classmethod
    def of(cls, rule: str, message: str, field: str = "url") -> EgressFailed:
        return cls(detail=message, errors=(FieldError(field, message, rule),), rule=rule)
