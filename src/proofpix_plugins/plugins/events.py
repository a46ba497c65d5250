"""Writing plugin events to ``plugin_events`` and pushing them to live listeners."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.plugins import PluginEvent

#: Every event type the platform records (SPEC / issue 5), plus plugins' custom events.
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "installed",
        "upgraded",
        "permissions_granted",
        "loaded",
        "unloaded",
        "config_updated",
        "crashed",
        "timed_out",
        "disabled",
        "permission_denied",
        "uninstalled",
        "load_failed",
        "insecure_load",
        "custom",
        # The marketplace lifted the suspension that disabled it (plugins/takedown.py).
        "suspension_lifted",
    }
)


def event_wire(row: PluginEvent) -> dict[str, Any]:
    """The JSON shape of an event, for the API and the WebSocket stream."""
    return {
        "id": row.id,
        "pluginId": row.plugin_id,
        "type": row.event_type,
        "actorUserId": str(row.actor_user_id) if row.actor_user_id else None,
        "details": row.details,
        "createdAt": _iso(row.created_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def add_event(
    session: AsyncSession,
    org_id: uuid.UUID,
    plugin_id: str,
    event_type: str,
    *,
    plugin_row_id: uuid.UUID | None = None,
    actor: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> PluginEvent:
    row = PluginEvent(
        organization_id=org_id,
        plugin_row_id=plugin_row_id,
        plugin_id=plugin_id,
        event_type=event_type,
        actor_user_id=actor,
        details=details or {},
        created_at=utcnow(),
    )
    session.add(row)
    return row
