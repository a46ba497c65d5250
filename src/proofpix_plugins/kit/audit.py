"""The audit trail: one ``audit_log`` row per mutating request, success or failure.

Routes marked :func:`audit_refusals_only` (hook calls) record only their refusals.

Each row is written in its own short transaction after the request finished, so a request whose
own transaction rolled back is still recorded. The actor comes from the request state: the
authenticated principal, or what login/registration put in ``audit_actor``.

Anonymous requests refused with 401 or 429 are not recorded: anyone could otherwise grow the
table at request speed. A credential attempt (login, register, refresh: routes that mark
``audit_credential_attempt`` once past their rate limit) is recorded even when it fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from proofpix_plugins.models.audit import AuditLog

log = structlog.get_logger("proofpix.audit")

# Request-state keys: the principal set by the auth dependency, or an explicit (user, org) pair.
PRINCIPAL_KEY = "principal"
ACTOR_KEY = "audit_actor"
ATTEMPT_KEY = "audit_credential_attempt"
_UNRECORDED_ANONYMOUS = frozenset({401, 429})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor_user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    action: str
    target: str
    client_address: str | None
    status_code: int
    request_id: str

    @property
    def anonymous(self) -> bool:
        return self.actor_user_id is None and self.organization_id is None

    @property
    def outcome(self) -> str:
        return "success" if self.status_code < 400 else "failure"

    @classmethod
    def from_scope(
        cls,
        scope: Scope,
        state: dict[str, Any],
        method: str,
        route_template: str,
        status: int,
        request_id: str,
    ) -> AuditRecord:
        actor: uuid.UUID | None = None
        org: uuid.UUID | None = None
        explicit = state.get(ACTOR_KEY)
        principal = state.get(PRINCIPAL_KEY)
        if isinstance(explicit, tuple) and len(explicit) == 2:
            actor, org = explicit
        elif principal is not None:
            actor = getattr(principal, "user_id", None)
            org = getattr(principal, "org_id", None)
        params: dict[str, Any] = scope.get("path_params") or {}
        target = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
        client = scope.get("client")
        return cls(
            actor_user_id=actor,
            organization_id=org,
            action=f"{method} {route_template}"[:100],
            target=target[:500],
            client_address=str(client[0])[:64] if client else None,
            status_code=status,
            request_id=request_id,
        )


class AuditWriter:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def write(self, record: AuditRecord) -> None:
        # Auditing must never turn an answered request into a crash: log and carry on.
        try:
            async with self._sessions() as session, session.begin():
                session.add(
                    AuditLog(
                        actor_user_id=record.actor_user_id,
                        organization_id=record.organization_id,
                        action=record.action,
                        target=record.target,
                        client_address=record.client_address,
                        outcome=record.outcome,
                        status_code=record.status_code,
                        request_id=record.request_id,
                        details={},
                    )
                )
        except Exception:
            log.exception("audit_write_failed", action=record.action, status=record.status_code)


def worth_recording(record: AuditRecord, state: dict[str, Any]) -> bool:
    """False for an anonymous 401/429 that was not a credential attempt."""
    return not (record.anonymous and record.status_code in _UNRECORDED_ANONYMOUS
                and not state.get(ATTEMPT_KEY))


_REFUSALS_ONLY_ATTR = "__proofpix_audit_refusals_only__"
F = TypeVar("F", bound=Callable[..., Any])


def audit_refusals_only(endpoint: F) -> F:
    """Mark a POST route that is not a mutation of record (a hook call): audit only refusals.

    Such a route is called thousands of times a second and leaves its own trail (metrics, plugin
    events); one audit row per call would cost a write transaction per call. A refused call
    (4xx: unauthenticated, forbidden, rate limited, invalid) is still recorded.
    """
    setattr(endpoint, _REFUSALS_ONLY_ATTR, True)
    return endpoint


def should_audit(route: Any, status: int) -> bool:
    endpoint = getattr(route, "endpoint", None)
    if getattr(endpoint, _REFUSALS_ONLY_ATTR, False):
        return 400 <= status < 500
    return True


def audit_writer_of(app_state: Any) -> AuditWriter | None:
    writer = getattr(app_state, "audit_writer", None)
    return writer if isinstance(writer, AuditWriter) else None
