"""One transaction of the plugin domain, and the events it publishes once it has committed.

Events are written in the same transaction as the change they describe and pushed to live
listeners only after the commit, so a listener never hears of a change that was rolled back.

A change of a plugin's desired state (an event in :data:`STATE_EVENTS`, or
:meth:`UnitOfWork.state_changed`) also bumps the plugin state clock in the same transaction, and
the new generation is announced on the hub after the commit, so that every API process
reconciles that plugin at once (``plugins/convergence.py``); the clock alone gets it there
within a poll interval when the announcement is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import PluginEvent
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.events import add_event, event_wire
from proofpix_plugins.plugins.repository import PluginRepository

log = structlog.get_logger(__name__)

#: Events that record a change of what a process should run for the plugin.
STATE_EVENTS: Final[frozenset[str]] = frozenset({
    "installed", "upgraded", "permissions_granted", "permissions_revoked", "loaded",
    "unloaded", "config_updated", "disabled", "uninstalled", "load_failed",
})


@dataclass
class UnitOfWork:
    session: AsyncSession
    events: list[tuple[str, PluginEvent]] = field(default_factory=list)
    #: Plugins whose desired state this transaction changes.
    changed: set[tuple[uuid.UUID, str]] = field(default_factory=set)

    def event(
        self, row_org: uuid.UUID, plugin_id: str, event_type: str, *,
        plugin_row_id: uuid.UUID | None = None, actor: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        ev = add_event(self.session, row_org, plugin_id, event_type,
                       plugin_row_id=plugin_row_id, actor=actor, details=details)
        self.events.append((str(row_org), ev))
        if event_type in STATE_EVENTS:
            self.state_changed(row_org, plugin_id)

    def state_changed(self, org: uuid.UUID, plugin_id: str) -> None:
        self.changed.add((org, plugin_id))


@asynccontextmanager
async def unit_of_work(
    session_factory: async_sessionmaker[AsyncSession], hub: EventHub,
    *, committed: Callable[[str], None] | None = None,
) -> AsyncIterator[UnitOfWork]:
    """``committed(org_id)``: called for each organization with events once they committed,
    before they are published (this process's read caches drop what the change made stale
    before anyone can read them again; the hub's delivery does the same in every process)."""
    generation: int | None = None
    async with session_scope(session_factory) as session:
        work = UnitOfWork(session)
        yield work
        if work.changed:
            # Last: the clock row stays locked until the commit (repository docstring).
            generation = await PluginRepository(session).record_state_change(work.changed)
        await session.flush()
        wires = [(org, event_wire(ev)) for org, ev in work.events]
    if committed is not None:
        for org in dict.fromkeys(org for org, _wire in wires):
            committed(org)
    for org, wire in wires:
        try:
            await hub.publish(org, wire)
        except Exception:
            log.warning("event_hub.publish_failed", event_type=wire.get("type"))
    if generation is not None:
        try:
            await hub.announce({"generation": generation,
                                "plugins": [[str(o), p] for o, p in sorted(work.changed)]})
        except Exception:  # the clock still gets the change everywhere within a poll
            log.warning("event_hub.announce_failed", generation=generation)
