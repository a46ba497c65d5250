"""The plugin state clock and one process's reconcile, in process (the many-process tests are
``tests/app/test_convergence.py``).

Changes here are written straight to the database, as another process would have committed
them, and announced to nobody: only the clock tells this process, and ``Convergence.poll`` (the
step its loop runs every interval) must bring the hook bus and the worker pool in line.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import delete, select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugin_state import PluginStateChange, PluginStateClock
from proofpix_plugins.models.plugins import Plugin, PluginConfiguration, PluginStatus
from proofpix_plugins.plugins.config_values import seal
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.service import PluginService
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import counter_ppx

PLUGIN = "acme.counter"


async def _loaded(platform: FastAPI, admin: TestUser, ppx_dir: Path) -> PluginService:
    service: PluginService = platform.state.plugin_service
    org = admin.principal.org_id
    await service.install_plugin(org, counter_ppx(ppx_dir))
    await service.load_plugin(org, PLUGIN)
    await service.convergence.poll()  # its own changes: nothing to do
    return service


async def _bump(platform: FastAPI, org: uuid.UUID, *statements: object) -> int:
    async with session_scope(platform.state.session_factory) as session:
        for statement in statements:
            await session.execute(statement)  # type: ignore[call-overload]
        return await PluginRepository(session).record_state_change([(org, PLUGIN)])


async def test_generations_follow_each_other_and_never_repeat(
    platform: FastAPI, admin: TestUser
) -> None:
    org = admin.principal.org_id
    first = await _bump(platform, org)
    assert await _bump(platform, org) == first + 1
    async with session_scope(platform.state.session_factory) as session:
        await session.execute(delete(PluginStateClock))
    # The row comes back past the newest logged change: no generation is handed out twice.
    assert await _bump(platform, org) == first + 2
    async with session_scope(platform.state.session_factory) as session:
        repo = PluginRepository(session)
        assert await repo.state_generation() == first + 2
        assert await repo.state_changes(first, first + 2) == (first + 1, {(org, PLUGIN)})


async def test_an_unannounced_change_converges_on_the_next_poll(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    service = await _loaded(platform, admin, ppx_dir)
    org = admin.principal.org_id
    key = (str(org), PLUGIN)
    assert service.bus.is_registered(*key)

    sealed = seal({"greeting": "from elsewhere"}, frozenset(), service._cipher)
    row = select(Plugin.id).where(Plugin.organization_id == org, Plugin.plugin_id == PLUGIN)
    generation = await _bump(platform, org, update(PluginConfiguration)
                             .where(PluginConfiguration.plugin_row_id.in_(row))
                             .values(values=sealed))
    assert await service.convergence.poll() == generation
    out = await service.execute_hook(org, "custom:count", {})
    assert out.results[0].result["greeting"] == "from elsewhere"

    await _bump(platform, org, update(Plugin).where(Plugin.plugin_id == PLUGIN)
                .values(status=PluginStatus.unloaded))
    await service.convergence.poll()
    assert not service.bus.is_registered(*key)
    assert not service.bus.pool.is_loaded(*key)

    await _bump(platform, org, update(Plugin).where(Plugin.plugin_id == PLUGIN)
                .values(status=PluginStatus.loaded))
    await service.convergence.poll()
    assert service.bus.is_registered(*key)
    assert (await service.execute_hook(org, "custom:count", {})).results[0].status == "ok"


async def test_a_pruned_change_log_reconciles_every_plugin(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    service = await _loaded(platform, admin, ppx_dir)
    org = admin.principal.org_id
    await _bump(platform, org, update(Plugin).where(Plugin.plugin_id == PLUGIN)
                .values(status=PluginStatus.disabled, status_reason="elsewhere"))
    async with session_scope(platform.state.session_factory) as session:
        await session.execute(delete(PluginStateChange))  # pruned before this process read it
    await service.convergence.poll()
    assert not service.bus.is_registered(str(org), PLUGIN)


async def test_a_breaker_trip_being_stored_is_not_undone_by_an_older_row(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    """The breaker unloads the plugin here at once and stores "disabled" a moment later; a
    reconcile reading the row in between (still "loaded") must not load it again (seen as a
    flaky breaker test: the fourth call ran the plugin)."""
    service = await _loaded(platform, admin, ppx_dir)
    org = str(admin.principal.org_id)
    key = (org, PLUGIN)
    service.bus.unregister(*key)  # what the trip does first...
    await service.bus.pool.unload(*key)
    service.bus._disabling.add(key)  # ...while on_disabled stores the state
    try:
        assert await service.convergence.reconcile(org, PLUGIN) is False
        assert not service.bus.is_registered(*key)
    finally:
        service.bus._disabling.discard(key)
    # Stored (or failed to be): the row is the truth again.
    assert await service.convergence.reconcile(org, PLUGIN) is True
    assert service.bus.is_registered(*key)
