"""Every API process converges to the plugin state the database holds (SPEC §10, issue #12).

The database is the only source of truth for what should run: a plugin's status, version (its
tree), grants, config and disabled reason. Each change bumps the plugin state clock in its own
transaction (``unit_of_work.py``, ``models/plugin_state.py``) and is announced on the event hub
after the commit. :class:`Convergence` makes this process follow it:

- it wakes on an announcement (Redis pub/sub across processes and machines, or in-process), or
  every ``interval`` seconds at the latest, reads the one-row clock and, when it moved, the
  change log since the generation it last saw; it then reconciles those plugins only;
- a gap in the log (pruned while this process was stopped, or a database restored to an older
  clock) reconciles every plugin that should be loaded and every one this process runs;
- reconciling one plugin is idempotent and holds the plugin's lock (the one the service's own
  operations hold), so it never interleaves with a load, unload or config change here. It reads
  the row, builds the spec the row describes and compares it with the spec this process routes
  with: equal does nothing; otherwise it loads, unloads, pushes config
  (``HookBus.update_config``), applies grants (``HookBus.update_grants``) or swaps the version.

So the clock alone converges a deployment (SQLite without Redis: the only channel between the
children of ``serve --workers N``); announcements only make it faster. A version installed
through another machine runs from a tree this machine builds from the artifact blob, verified
against the row's sha256 (``trees.py``). A plugin this process cannot load as the database says
(the blob is missing or does not match its digest, the sandbox refuses it) is left as it is
here, never written back as a failure, since the change that succeeded elsewhere may be right;
it is retried every ``retry_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import PluginStatus
from proofpix_plugins.plugins.config_values import ConfigCipher
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.specs import build_spec
from proofpix_plugins.plugins.trees import TreeSource, TreeUnavailable
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.spec import PluginSpec

log = structlog.get_logger(__name__)

Key = tuple[str, str]
#: Plugins reconciled at once (each may start a worker).
_PARALLEL = 8


def _differs_only_in(a: PluginSpec, b: PluginSpec, *fields: str) -> bool:
    """Whether ``a`` and ``b`` are equal but for ``fields``."""
    return dataclasses.replace(b, **{f: getattr(a, f) for f in fields}) == a


class Convergence:
    """This process's reconcile loop; see the module doc."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        hub: EventHub,
        bus: HookBus,
        cipher: ConfigCipher,
        trees: TreeSource,
        lock_for: Callable[[uuid.UUID, str], asyncio.Lock],
        interval: float = 0.25,
        retry_seconds: float = 5.0,
    ) -> None:
        self._sf = session_factory
        self._hub = hub
        self._bus = bus
        self._cipher = cipher
        self._trees = trees
        self._lock_for = lock_for
        self.interval = interval
        self.retry_seconds = retry_seconds
        #: The newest generation this process has reconciled to.
        self.seen = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry: set[Key] = set()
        self._retry_at = 0.0
        self._gate = asyncio.Semaphore(_PARALLEL)

    def retry_later(self, org_id: str, plugin_id: str) -> None:
        """Reconcile this plugin again after ``retry_seconds`` (its tree was unavailable)."""
        if not self._retry:
            self._retry_at = time.monotonic() + self.retry_seconds
        self._retry.add((org_id, plugin_id))

    async def generation(self) -> int:
        async with session_scope(self._sf) as session:
            return await PluginRepository(session).state_generation()

    def start(self, seen: int) -> None:
        """Follow changes after generation ``seen`` (read before the start-up reload)."""
        self.seen = seen
        self._hub.on_announce(self._announced)
        self._task = asyncio.create_task(self._run(), name="plugin-convergence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _announced(self, change: dict[str, Any]) -> None:
        generation = change.get("generation")
        if isinstance(generation, int) and generation > self.seen:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped: the next poll tries again
                log.exception("plugins.converge_failed")

    async def poll(self) -> int:
        """Reconcile what changed since the last poll; returns the generation reached."""
        keys: set[Key] = set()
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            now = await repo.state_generation()
            if now != self.seen:
                first, changed = await repo.state_changes(self.seen, now)
                if now < self.seen or first != self.seen + 1:
                    log.warning("plugins.converge_full", seen=self.seen, generation=now)
                    changed = await repo.loaded_keys()
                    keys.update(self._bus.registered_keys())
                keys.update((str(org), plugin_id) for org, plugin_id in changed)
        if self._retry and time.monotonic() >= self._retry_at:
            keys |= self._retry
            self._retry.clear()
        if keys:
            await self.reconcile_all(keys)
        self.seen = now
        return now

    async def reconcile_all(self, keys: Iterable[Key]) -> None:
        await asyncio.gather(*(self._gated(key) for key in sorted(set(keys))))

    async def _gated(self, key: Key) -> None:
        async with self._gate:
            try:
                done = await self.reconcile(*key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("plugins.converge_plugin_failed", org=key[0], plugin=key[1],
                            error=getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}")
                done = False
            if not done:
                self.retry_later(*key)

    async def reconcile(self, org_id: str, plugin_id: str) -> bool:
        """Make this process run ``plugin_id`` as its row says; False if it must retry later."""
        org = uuid.UUID(org_id)
        async with self._lock_for(org, plugin_id):
            async with session_scope(self._sf) as session:
                row = await PluginRepository(session).get(org, plugin_id)
            current = self._bus.spec_of(org_id, plugin_id)
            if row is None or row.status != PluginStatus.loaded:
                if current is not None or self._bus.pool.is_loaded(org_id, plugin_id):
                    await self._bus.deactivate(org_id, plugin_id)
                    log.info("plugins.converged", org=org_id, plugin=plugin_id,
                             action="unloaded",
                             status=row.status.value if row else "uninstalled")
                if row is None:
                    self._bus.metrics.forget(org_id, plugin_id)
                elif row.status == PluginStatus.disabled:
                    # Every process reports it as skipped, as the one whose breaker tripped does.
                    self._bus.note_disabled(org_id, plugin_id,
                                            [h.hook_name for h in row.hooks],
                                            row.status_reason or "disabled")
                return True
            if self._bus.is_disabling(org_id, plugin_id):
                # The breaker tripped here a moment ago and its "disabled" is being stored: the
                # row read is older than that. Loading it again would undo the trip; the stored
                # change bumps the clock and brings this plugin back here.
                return False
            try:
                # Trees are per machine: this machine's own, or one built from the verified blob.
                root = await self._trees.tree_for(row)
            except TreeUnavailable as exc:
                log.warning("plugins.converge_tree_missing", org=org_id, plugin=plugin_id,
                            version=row.version, reason=exc.detail)
                return False
            desired = build_spec(row, self._cipher, root)
            if current == desired:
                return True
            if current is not None and self._bus.pool.is_loaded(org_id, plugin_id):
                if _differs_only_in(current, desired, "config"):
                    await self._bus.update_config(desired)
                    action = "config"
                elif _differs_only_in(current, desired, "permissions", "network_allow", "config"):
                    await self._bus.update_grants(desired)  # a fresh worker gets the config too
                    action = "grants"
                else:
                    await self._bus.activate(desired)  # a new version, hooks or resources
                    action = "reloaded"
            else:
                await self._bus.activate(desired)
                action = "loaded"
            log.info("plugins.converged", org=org_id, plugin=plugin_id, action=action,
                     version=desired.version)
            return True
