"""One transaction of the plugin domain, and the events it publishes once it has committed.

Events are written in the same transaction as the change they describe and pushed to live
listeners only after the commit, so a listener never hears of a change that was rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import PluginEvent
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.events import add_event, event_wire

log = structlog.get_logger(__name__)


@dataclass
class UnitOfWork:
    session: AsyncSession
    events: list[tuple[str, PluginEvent]] = field(default_factory=list)

    def event(
        self, row_org: uuid.UUID, plugin_id: str, event_type: str, *,
        plugin_row_id: uuid.UUID | None = None, actor: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        ev = add_event(self.session, row_org, plugin_id, event_type,
                       plugin_row_id=plugin_row_id, actor=actor, details=details)
        self.events.append((str(row_org), ev))


@asynccontextmanager
async def unit_of_work(
    session_factory: async_sessionmaker[AsyncSession], hub: EventHub,
    *, committed: Callable[[str], None] | None = None,
) -> AsyncIterator[UnitOfWork]:
    """``committed(org_id)``: called for each organization with events once they committed,
    before they are published (this process's read caches drop what the change made stale
    before anyone can read them again; the hub's delivery does the same in every process)."""
    async with session_scope(session_factory) as session:
        work = UnitOfWork(session)
        yield work
        await session.flush()
        wires = [(org, event_wire(ev)) for org, ev in work.events]
    if committed is not None:
        for org in dict.fromkeys(org for org, _wire in wires):
            committed(org)
    for org, wire in wires:
        try:
            await hub.publish(org, wire)
        except Exception:
            log.warning("event_hub.publish_failed", event=wire.get("type"))
