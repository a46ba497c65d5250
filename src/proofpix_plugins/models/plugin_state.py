"""The plugin state clock: how every API process learns that a plugin's desired state changed.

Every transaction that changes what a process should run for a plugin (status, version, grants,
config, disabled reason, uninstall) bumps ``plugin_state_clock.generation`` and writes one
``plugin_state_changes`` row per plugin it changed, under that generation. Each process polls the
one-row clock; when it moved, it reads the changes since the generation it saw and reconciles
those plugins only (``plugins/convergence.py``). The clock row's lock orders the writers, so
generations commit in order with no gaps: a gap means the change log was pruned past what a
process saw, and it reconciles everything instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from proofpix_plugins.models.base import Base, UTCDateTime, utcnow

#: The clock's only row.
CLOCK_ID = 1


class PluginStateClock(Base):
    __tablename__ = "plugin_state_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class PluginStateChange(Base):
    """One plugin whose desired state changed at ``generation``; kept for a while, then pruned.

    No foreign key: the change of an uninstalled plugin (or of a deleted organization) must
    outlive its rows, so that every process still stops its worker.
    """

    __tablename__ = "plugin_state_changes"

    generation: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
