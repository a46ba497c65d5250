"""Taking a plugin id down in every organization at once (the marketplace's kill switch).

Called inside the caller's :func:`~proofpix_plugins.plugins.unit_of_work.unit_of_work`, so the
listing's suspension, its publication-log entry and every installation's new state commit
together. Each installation becomes ``disabled`` with the reason in ``status_reason`` and a
``disabled`` event, which bumps the plugin state clock: every API process unloads it at its
next reconcile (woken by the announcement, at the latest within a poll interval), the way a
circuit-breaker trip spreads. Loading it again is refused while the listing stays suspended
(``PluginService.load_gates``); lifting the suspension does not load anything by itself: each
organization's admin decides.
"""

from __future__ import annotations

from sqlalchemy import select

from proofpix_plugins.models.plugins import Plugin, PluginStatus
from proofpix_plugins.plugins.unit_of_work import UnitOfWork

#: Installations in these states are moved to ``disabled``. ``needs_configuration`` stays: it
#: cannot load anyway, and its way out (a complete config) leads to a load the gate refuses.
_RUNNABLE = (PluginStatus.installed, PluginStatus.loaded, PluginStatus.unloaded,
             PluginStatus.error, PluginStatus.disabled)

SUSPENDED_PREFIX = "suspended by the marketplace: "


async def disable_everywhere(work: UnitOfWork, plugin_id: str, reason: str) -> int:
    """Disable every installation of ``plugin_id``; returns how many rows changed."""
    rows = (await work.session.execute(
        select(Plugin).where(Plugin.plugin_id == plugin_id, Plugin.status.in_(_RUNNABLE))
        .with_for_update()
    )).scalars().all()
    why = SUSPENDED_PREFIX + reason
    for row in rows:
        previous = row.status
        row.status = PluginStatus.disabled
        row.status_reason = why
        work.event(row.organization_id, plugin_id, "disabled", plugin_row_id=row.id,
                   details={"reason": why, "by": "marketplace", "from": previous.value})
    return len(rows)


async def note_suspension_lifted(work: UnitOfWork, plugin_id: str) -> int:
    """Say on each installation still disabled by the suspension that it may load again.

    Nothing is loaded: each organization's admin decides (the status stays ``disabled``).
    """
    rows = (await work.session.execute(
        select(Plugin).where(Plugin.plugin_id == plugin_id,
                             Plugin.status == PluginStatus.disabled,
                             Plugin.status_reason.startswith(SUSPENDED_PREFIX))
    )).scalars().all()
    for row in rows:
        row.status_reason = ("the marketplace lifted its suspension; an admin may load it "
                             "again (was: " + (row.status_reason or "")[len(SUSPENDED_PREFIX):]
                             + ")")[:2000]
        work.event(row.organization_id, plugin_id, "suspension_lifted", plugin_row_id=row.id,
                   details={"by": "marketplace"})
    return len(rows)
