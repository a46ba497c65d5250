"""The audit log: one row per mutating request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import Base, bigint_pk, created_at


class AuditLog(Base):
    """An append-only record of who did what to which target, and how it ended.

    Actor and organization are plain indexed ids, not foreign keys: the record must outlive the
    user or organization it mentions.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

    id: Mapped[int] = bigint_pk()
    created_at: Mapped[datetime] = created_at()
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500), default="")
    client_address: Mapped[str | None] = mapped_column(String(64))
    # "success" or "failure"; status_code carries the HTTP status when there is one.
    outcome: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
