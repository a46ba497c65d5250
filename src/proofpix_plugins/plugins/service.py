"""``PluginService``: the embeddable async API of installed plugins, scoped by organization.

Each method is one unit of work with its own transaction (the service is its own task runner):
an install touches the file system and the database, and only the code that knows both can undo
the first when the second fails (the pipeline itself is ``plugins/install.py``). Nothing here
knows HTTP; the endpoints are thin wrappers.

Over our ~400-line norm: one method per lifecycle operation of SPEC §7 (install, load, unload,
configure, grant, uninstall, hooks, metrics, events), each a short unit of work under the
plugin's lock; the install pipeline, vetting, config values, grants and the unit of work
already live in modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.db import read_connection, session_scope
from proofpix_plugins.errors import (
    Conflict,
    FieldError,
    NotFound,
    ProofPixError,
    ValidationFailed,
)
from proofpix_plugins.kit.ids import as_uuid, uuid_text
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.plugins import (
    PermissionKind,
    Plugin,
    PluginConfiguration,
    PluginStatus,
)
from proofpix_plugins.plugins import metrics_store
from proofpix_plugins.plugins.config_values import (
    ConfigCipher,
    check_config,
    redact,
    restore_redacted,
    seal,
    unseal,
    validate_config,
)
from proofpix_plugins.plugins.convergence import Convergence
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.events import event_wire
from proofpix_plugins.plugins.install import InstallPipeline
from proofpix_plugins.plugins.layout import PluginLayout
from proofpix_plugins.plugins.marketplace_source import LoadGate
from proofpix_plugins.plugins.read_cache import OrgReadCache
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.schemas import (
    ConfigOut,
    EventOut,
    InstallResult,
    PluginDetail,
    PluginOut,
    plugin_detail,
    plugin_out,
)
from proofpix_plugins.plugins.specs import build_spec, secret_keys
from proofpix_plugins.plugins.trees import TreeSource, TreeUnavailable
from proofpix_plugins.plugins.unit_of_work import UnitOfWork, unit_of_work
from proofpix_plugins.plugins.vetting import vet_package
from proofpix_plugins.runtime.errors import LoadError
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import HookResult
from proofpix_plugins.scanning import Check
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)

#: Legal lifecycle transitions; anything else is a 409.
TRANSITIONS: dict[PluginStatus, frozenset[PluginStatus]] = {
    PluginStatus.installed: frozenset({PluginStatus.loaded, PluginStatus.error}),
    PluginStatus.loaded: frozenset(
        {PluginStatus.unloaded, PluginStatus.disabled, PluginStatus.error}
    ),
    PluginStatus.unloaded: frozenset({PluginStatus.loaded, PluginStatus.error}),
    PluginStatus.disabled: frozenset({PluginStatus.loaded, PluginStatus.unloaded}),
    PluginStatus.error: frozenset({PluginStatus.loaded, PluginStatus.unloaded}),
    # Left by a complete PUT /config (to installed), never by load: see _require_configured.
    PluginStatus.needs_configuration: frozenset(),
}


def _require_configured(row: Plugin, cipher: ConfigCipher) -> None:
    """409 naming the required config keys a plugin lacks; it cannot load before they are set."""
    if row.status != PluginStatus.needs_configuration:
        return
    current = unseal(row.configuration.values, cipher) if row.configuration else {}
    try:
        _, missing = check_config(row.manifest.get("config_schema"), current, allow_missing=True)
    except ValidationFailed:
        missing = []
    missing = missing or [row.status_reason or "config"]
    raise Conflict(
        f"plugin {row.plugin_id} needs configuration before it can load: "
        + ", ".join(missing),
        errors=tuple(FieldError(f"config.{k}", "required by the plugin's config_schema; set it "
                                "with PUT /config", "required") for k in missing),
        extensions={"missingConfig": missing},
    )


def _apply_grants(
    row: Plugin, grant: Sequence[str], revoke: Sequence[str], actor: uuid.UUID | None
) -> tuple[list[str], list[str]]:
    """Set the grant flags of ``row``'s permissions; returns what changed (granted, revoked)."""
    by_name = {(p.kind, p.value): p for p in row.permissions}
    pending = set(row.pending_consent or [])
    errors = [FieldError(f"grantPermissions[{i}]", f"'{g}' is not requested", "subset", g)
              for i, g in enumerate(grant)
              if (PermissionKind.permission, g) not in by_name and g not in pending]
    errors += [FieldError(f"revokePermissions[{i}]", f"'{r}' is not requested", "subset", r)
               for i, r in enumerate(revoke) if (PermissionKind.permission, r) not in by_name]
    errors += [FieldError(f"revokePermissions[{i}]", f"'{r}' is also granted", "conflict", r)
               for i, r in enumerate(revoke) if r in grant]
    if errors:
        raise ValidationFailed("grantPermissions and revokePermissions may only name requested "
                               "permissions, each once", errors=tuple(errors))
    wanted, unwanted = set(grant), set(revoke)
    now = utcnow()
    # Consent to a pending item that is not a permission (secret:<key> on an upgrade).
    newly = [g for g in grant if g in pending and (PermissionKind.permission, g) not in by_name]
    revoked: list[str] = []
    for perm in row.permissions:
        name = perm.value if perm.kind == PermissionKind.permission else f"network:{perm.value}"
        via = perm.value if perm.kind == PermissionKind.permission else "http"
        if via in wanted and not perm.granted:
            perm.granted, perm.granted_by, perm.granted_at = True, actor, now
            newly.append(name)
        elif via in unwanted and perm.granted:
            perm.granted, perm.granted_by, perm.granted_at = False, None, None
            revoked.append(name)
    return newly, revoked


def _require_transition(row: Plugin, target: PluginStatus) -> None:
    if target not in TRANSITIONS[row.status]:
        raise Conflict(
            f"plugin {row.plugin_id} is {row.status.value}; it cannot become {target.value}",
            errors=(FieldError("status", f"{row.status.value} -> {target.value} is not allowed",
                               "transition", row.status.value),),
        )


class PluginService:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        bus: HookBus,
        hub: EventHub,
        layout: PluginLayout,
        cipher: ConfigCipher,
        metrics_flush_seconds: float = 5.0,
        scan_checks: Sequence[Check] | None = None,
        read_cache_seconds: float = 1.0,
        reconcile_seconds: float = 0.25,
    ) -> None:
        self._sf = session_factory
        # Metric flushes ended (committed or failed): metrics reads check it (see there).
        self._metrics_flushes = 0
        self._blobs = blobs
        self.bus = bus
        self._hub = hub
        self._layout = layout
        self._cipher = cipher
        self._flush_every = metrics_flush_seconds
        self._scan_checks = scan_checks
        self._flush_task: asyncio.Task[None] | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        #: Consulted before every load (the marketplace's kill switch: marketplace_source.py).
        self.load_gates: list[LoadGate] = []
        #: List and detail answers; every event of an organization, from any process, drops its
        #: entries (see read_cache.py).
        self.reads = OrgReadCache(ttl=read_cache_seconds)
        hub.add_listener(lambda org_id, _event: self.reads.invalidate(org_id))
        #: This machine's tree of a version: its own install's, or one built from the blob.
        self.trees = TreeSource(layout, blobs)
        self._installs = InstallPipeline(session_factory=session_factory, blobs=blobs, bus=bus,
                                         hub=hub, layout=layout, cipher=cipher, trees=self.trees,
                                         committed=self.reads.invalidate)
        bus.on_disabled = self._on_disabled
        #: Follows changes made by every other process (plugins/convergence.py).
        self.convergence = Convergence(session_factory=session_factory, hub=hub, bus=bus,
                                       cipher=cipher, trees=self.trees, lock_for=self._lock,
                                       interval=reconcile_seconds)

    # -- unit of work ------------------------------------------------------------------
    def _work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(self._sf, self._hub, committed=self.reads.invalidate)

    def _lock(self, org: uuid.UUID, plugin_id: str) -> asyncio.Lock:
        return self._locks.setdefault((str(org), plugin_id), asyncio.Lock())

    async def _get(
        self, repo: PluginRepository, org: uuid.UUID, plugin_id: str, *,
        children: bool = True, configuration: bool = True,
    ) -> Plugin:
        row = await repo.get(org, plugin_id, children=children, configuration=configuration)
        if row is None:
            # Same answer whether it exists in another organization or nowhere.
            raise NotFound(f"plugin {plugin_id} is not installed")
        return row

    # -- start-up and shutdown ---------------------------------------------------------
    async def start(self) -> None:
        """Clean up interrupted installs, reload plugins that were loaded, start flushing and
        following the other processes' changes."""
        self._layout.ensure()
        # Before the rows: a change committed while they are reloaded is reconciled after.
        seen = await self.convergence.generation()
        # Dead owners first, references second: see PluginLayout.orphans.
        orphans = await asyncio.to_thread(self._layout.orphans)
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            referenced = await repo.all_install_paths()
            tree_keys = await repo.all_tree_keys()
            rows = await repo.list_by_status([PluginStatus.loaded])
        removed = await asyncio.to_thread(self._layout.remove_unreferenced, orphans, referenced)
        if removed:
            log.warning("plugins.recovered_interrupted_installs", count=len(removed))
        stale = await asyncio.to_thread(self.trees.remove_stale, tree_keys)
        if stale:
            log.info("plugins.removed_stale_fetched_trees", count=len(stale))
        for row in rows:
            await self._reload_at_start(row)
        self._flush_task = asyncio.create_task(self._flush_loop(), name="plugin-metrics-flush")
        self.convergence.start(seen)

    async def _reload_at_start(self, row: Plugin) -> None:
        """Load one plugin that was loaded; whatever is wrong with its stored state (config
        the worker protocol cannot carry, an undecryptable secret) makes it ``error`` with the
        reason, never stops the server from starting. A tree this machine cannot build now (the
        artifact blob missing or not matching its sha256) is not written back, since the
        plugin may run well elsewhere: the reconcile retries it."""
        try:
            root = await self.trees.tree_for(row)
            await self.bus.activate(build_spec(row, self._cipher, root))
            return
        except asyncio.CancelledError:
            raise
        except TreeUnavailable as exc:
            log.warning("plugins.reload_tree_unavailable", org=str(row.organization_id),
                        plugin=row.plugin_id, reason=exc.detail)
            self.convergence.retry_later(str(row.organization_id), row.plugin_id)
            return
        except Exception as exc:
            reason = (exc.detail if isinstance(exc, ProofPixError)
                      else f"{type(exc).__name__}: {exc}")[:2000]
            log.warning("plugins.reload_failed", org=str(row.organization_id),
                        plugin=row.plugin_id, reason=reason)
        try:
            async with self._work() as work:
                fresh = await self._get(PluginRepository(work.session), row.organization_id,
                                        row.plugin_id)
                fresh.status = PluginStatus.error
                fresh.status_reason = reason
                work.event(fresh.organization_id, fresh.plugin_id, "load_failed",
                           plugin_row_id=fresh.id, details={"reason": reason})
        except Exception:  # uninstalled meanwhile, or the database hiccuped: still start
            log.exception("plugins.reload_failure_not_recorded", plugin=row.plugin_id)

    async def close(self) -> None:
        await self.convergence.close()
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
        with contextlib.suppress(Exception):
            await self.flush_metrics()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush_metrics()
            except Exception:
                log.exception("plugins.metrics_flush_failed")

    async def flush_metrics(self) -> int:
        snapshots = self.bus.metrics.drain()
        if not snapshots:
            return 0
        try:
            async with session_scope(self._sf) as session:
                return await metrics_store.persist(session, snapshots)
        except BaseException:
            # Rolled back: the calls go back to the buffer for the next flush, not lost (a
            # database busy past its timeout, a dropped connection, shutdown mid-flush).
            self.bus.metrics.restore(snapshots)
            raise
        finally:
            # Committed (or not): a metrics read that peeked before it must read again.
            self._metrics_flushes += 1

    # -- install -----------------------------------------------------------------------
    async def install_plugin(
        self,
        org_id: uuid.UUID | str,
        package: Path,
        *,
        actor: uuid.UUID | None = None,
        grant_permissions: Sequence[str] | None = None,
        expected_publisher: str | None = None,
        config: dict[str, Any] | None = None,
        expected_id: str | None = None,
        expected_version: str | None = None,
    ) -> InstallResult:
        """Install (or upgrade to) the ``.ppx`` at ``package``; the caller keeps the file.

        Marketplace installs arrive here too, once the artifact's sha256 and signature are
        verified: the pipeline from scan to rows is the same for every source. The platform
        signature covers the artifact's digest only, so ``expected_id`` and
        ``expected_version`` (the marketplace row's) must match the manifest inside it: a row
        pointing at another plugin's signed artifact installs nothing.
        """
        org = as_uuid(org_id)
        vetted = await vet_package(package, PLATFORM_VERSION, _python_version(),
                                   self._scan_checks)
        manifest = vetted.manifest
        if expected_publisher is not None and manifest.publisher != expected_publisher:
            raise ValidationFailed(
                "plugin id does not belong to this publisher",
                errors=(FieldError("id", "publisher namespace mismatch", "namespace",
                                   manifest.id),),
            )
        for name, want, have in (("id", expected_id, manifest.id),
                                 ("version", expected_version, manifest.version)):
            if want is not None and want != have:
                raise ValidationFailed(
                    f"the package's manifest {name} is {have!r}, not {want!r}",
                    errors=(FieldError(name, f"must be {want!r}", "artifact-mismatch", have),),
                )
        async with self._lock(org, manifest.id):
            done = await self._installs.install(org, vetted, package, actor, grant_permissions,
                                                config)
            if done.reload:
                with contextlib.suppress(LoadError):
                    await self._load(org, manifest.id, actor, reason="upgraded")
            detail = await self.get_plugin(org, manifest.id)
        upgraded = done.previous_version is not None
        return InstallResult(
            plugin=detail,
            upgraded=upgraded,
            previous_version=done.previous_version,
            permission_diff=done.decision.diff() if upgraded else None,
            warnings=vetted.warnings,
        )

    # -- consent -----------------------------------------------------------------------
    async def grant_permissions(
        self, org_id: uuid.UUID | str, plugin_id: str, grant: Sequence[str],
        *, actor: uuid.UUID | None = None, revoke: Sequence[str] = (),
    ) -> PluginDetail:
        """Grant requested permissions (or consent to pending items) and revoke granted ones.

        A loaded plugin gets the change at once (``HookBus.update_grants``): capability checks
        follow it immediately and the next call runs on a worker holding exactly the new grants.
        ``http`` carries its network hosts, in both directions.
        """
        org = as_uuid(org_id)
        async with self._lock(org, plugin_id):
            async with self._work() as work:
                row = await self._get(PluginRepository(work.session), org, plugin_id)
                newly, revoked = _apply_grants(row, grant, revoke, actor)
                row.pending_consent = [p for p in (row.pending_consent or []) if p not in newly]
                if not row.pending_consent and row.status_reason and \
                        row.status_reason.startswith("awaiting consent"):
                    row.status_reason = None
                if grant:
                    work.event(org, plugin_id, "permissions_granted", plugin_row_id=row.id,
                               actor=actor, details={"granted": newly,
                                                     "pending": row.pending_consent})
                if revoked:
                    work.event(org, plugin_id, "permissions_revoked", plugin_row_id=row.id,
                               actor=actor, details={"revoked": revoked})
            if (newly or revoked) and self.bus.is_registered(str(org), plugin_id):
                await self._apply_to_running(org, plugin_id, actor)
        return await self.get_plugin(org, plugin_id)

    async def _apply_to_running(
        self, org: uuid.UUID, plugin_id: str, actor: uuid.UUID | None
    ) -> None:
        async with session_scope(self._sf) as session:
            row = await self._get(PluginRepository(session), org, plugin_id)
        try:
            await self.bus.update_grants(
                build_spec(row, self._cipher, await self.trees.tree_for(row)))
        except LoadError as exc:
            # The grants are recorded; the plugin could not restart with them: say so.
            await self.bus.deactivate(str(org), plugin_id)
            async with self._work() as work:
                fresh = await self._get(PluginRepository(work.session), org, plugin_id)
                fresh.status = PluginStatus.error
                fresh.status_reason = exc.detail
                work.event(org, plugin_id, "load_failed", plugin_row_id=fresh.id, actor=actor,
                           details={"reason": exc.detail})

    # -- load / unload -----------------------------------------------------------------
    async def load_plugin(
        self, org_id: uuid.UUID | str, plugin_id: str, *, actor: uuid.UUID | None = None
    ) -> PluginDetail:
        org = as_uuid(org_id)
        async with self._lock(org, plugin_id):
            await self._load(org, plugin_id, actor)
        return await self.get_plugin(org, plugin_id)

    async def _load(
        self, org: uuid.UUID, plugin_id: str, actor: uuid.UUID | None, reason: str | None = None
    ) -> None:
        async with session_scope(self._sf) as session:
            row = await self._get(PluginRepository(session), org, plugin_id)
        _require_configured(row, self._cipher)
        _require_transition(row, PluginStatus.loaded)
        for gate in self.load_gates:
            await gate.check_loadable(plugin_id)
        if row.pending_consent:
            raise Conflict(
                f"plugin {plugin_id} needs consent before it can load",
                errors=tuple(FieldError("permissions", f"{p} awaits consent", "consent", p)
                             for p in row.pending_consent),
                extensions={"pendingConsent": list(row.pending_consent)},
            )
        # Unavailable here (503, the row untouched): another machine may run it well.
        root = await self.trees.tree_for(row)
        try:
            await self.bus.activate(build_spec(row, self._cipher, root))
        except LoadError as exc:
            async with self._work() as work:
                fresh = await self._get(PluginRepository(work.session), org, plugin_id,
                                       children=False)
                fresh.status = PluginStatus.error
                fresh.status_reason = exc.detail
                work.event(org, plugin_id, "load_failed", plugin_row_id=fresh.id, actor=actor,
                           details={"reason": exc.detail})
            raise
        async with self._work() as work:
            fresh = await self._get(PluginRepository(work.session), org, plugin_id,
                                       children=False)
            fresh.status = PluginStatus.loaded
            fresh.status_reason = None
            fresh.loaded_at = utcnow()
            details: dict[str, Any] = {"version": fresh.version}
            if reason:
                details["reason"] = reason
            work.event(org, plugin_id, "loaded", plugin_row_id=fresh.id, actor=actor,
                       details=details)

    async def unload_plugin(
        self, org_id: uuid.UUID | str, plugin_id: str, *, actor: uuid.UUID | None = None
    ) -> PluginDetail:
        org = as_uuid(org_id)
        async with self._lock(org, plugin_id):
            async with session_scope(self._sf) as session:
                row = await self._get(PluginRepository(session), org, plugin_id)
            _require_transition(row, PluginStatus.unloaded)
            await self.bus.deactivate(str(org), plugin_id)
            async with self._work() as work:
                fresh = await self._get(PluginRepository(work.session), org, plugin_id,
                                       children=False)
                fresh.status = PluginStatus.unloaded
                fresh.status_reason = None
                work.event(org, plugin_id, "unloaded", plugin_row_id=fresh.id, actor=actor)
        return await self.get_plugin(org, plugin_id)

    async def _on_disabled(self, org_id: str, plugin_id: str, reason: str) -> None:
        """The hook bus's circuit breaker tripped: persist the state (it recorded the event)
        and announce it, so that every process stops the plugin, with this reason."""
        org = as_uuid(org_id)
        async with self._work() as work:
            row = await PluginRepository(work.session).get(org, plugin_id, children=False)
            if row is not None and row.status == PluginStatus.loaded:
                row.status = PluginStatus.disabled
                row.status_reason = reason
                work.state_changed(org, plugin_id)
        # The bus announced "disabled" before this write: answers read in between are stale.
        self.reads.invalidate(str(org))

    # -- read --------------------------------------------------------------------------
    async def get_plugin(self, org_id: uuid.UUID | str, plugin_id: str) -> PluginDetail:
        org = as_uuid(org_id)
        key = str(org)
        detail: PluginDetail | None = self.reads.get(key, ("detail", plugin_id))
        if detail is None:
            version = self.reads.version(key)
            async with session_scope(self._sf) as session:
                # The detail shows no configuration (that is GET .../config, admins only).
                row = await self._get(PluginRepository(session), org, plugin_id,
                                      configuration=False)
            detail = plugin_detail(row)
            self.reads.put(key, ("detail", plugin_id), version, detail)
        live = self.bus.metrics.peek(key, plugin_id)
        # The cached model is shared: the live metrics go on a copy.
        return detail.model_copy(update={"latest_metrics": live.as_dict() if live else None})

    async def list_plugins(
        self, org_id: uuid.UUID | str, *, status: str | None = None, type_: str | None = None,
        category: str | None = None, q: str | None = None, page: int = 1, limit: int = 20,
    ) -> tuple[list[PluginOut], int]:
        org = str(as_uuid(org_id))
        key = ("list", status, type_, category, q, page, limit)
        cached: tuple[list[PluginOut], int] | None = self.reads.get(org, key)
        if cached is not None:
            return list(cached[0]), cached[1]
        version = self.reads.version(org)
        async with session_scope(self._sf) as session:
            rows, total = await PluginRepository(session).search(
                as_uuid(org_id), status=status, type_=type_, category=category, q=q,
                page=page, limit=limit)
        items = [plugin_out(r) for r in rows]
        self.reads.put(org, key, version, (items, total))
        return list(items), total

    # -- config ------------------------------------------------------------------------
    async def get_plugin_config(self, org_id: uuid.UUID | str, plugin_id: str) -> ConfigOut:
        org = as_uuid(org_id)
        async with session_scope(self._sf) as session:
            row = await self._get(PluginRepository(session), org, plugin_id)
        cfg = row.configuration
        values = unseal(cfg.values, self._cipher) if cfg else {}
        return ConfigOut(plugin_id=plugin_id, values=redact(values, secret_keys(row.manifest)),
                         version=cfg.version if cfg else 0,
                         updated_at=cfg.updated_at if cfg else None)

    async def update_plugin_config(
        self, org_id: uuid.UUID | str, plugin_id: str, values: dict[str, Any],
        *, actor: uuid.UUID | None = None,
    ) -> ConfigOut:
        org = as_uuid(org_id)
        async with self._lock(org, plugin_id):
            async with self._work() as work:
                row = await self._get(PluginRepository(work.session), org, plugin_id)
                keys = secret_keys(row.manifest)
                cfg = row.configuration
                current = unseal(cfg.values, self._cipher) if cfg else {}
                merged = restore_redacted(values, keys, current)
                clean = validate_config(row.manifest.get("config_schema"), merged)
                sealed = seal(clean, keys, self._cipher)
                if cfg is None:
                    cfg = PluginConfiguration(plugin_row_id=row.id, organization_id=org,
                                              values=sealed, version=1, updated_by=actor)
                    work.session.add(cfg)
                else:
                    cfg.values = sealed
                    cfg.version += 1
                    cfg.updated_by = actor
                changed = sorted(k for k in set(clean) | set(current)
                                 if clean.get(k) != current.get(k))
                if row.status == PluginStatus.needs_configuration:
                    # validate_config accepted it, so every required key is set now.
                    row.status = PluginStatus.installed
                    row.status_reason = None
                work.event(org, plugin_id, "config_updated", plugin_row_id=row.id, actor=actor,
                           details={"changedKeys": changed})
            running = self.bus.spec_of(str(org), plugin_id)
            if running is not None and self.bus.pool.is_loaded(str(org), plugin_id):
                await self.bus.update_config(
                    dataclasses.replace(running, config=MappingProxyType(clean)))
        return await self.get_plugin_config(org, plugin_id)

    # -- metrics and events ------------------------------------------------------------
    async def get_plugin_metrics(
        self, org_id: uuid.UUID | str, plugin_id: str, *, minutes: int = 60
    ) -> dict[str, Any]:
        org = as_uuid(org_id)
        # This process's calls not flushed yet are added to the rows read, not flushed first:
        # a flush is a write transaction (an upsert per plugin with calls), and on a busy
        # SQLite it queued for the write lock behind uploads on every read (bench/load.py).
        # A flush ending between the peek and the read would count its calls twice (peeked,
        # then read back): then peek and read again.
        for _attempt in range(3):
            flushes = self._metrics_flushes
            pending = self.bus.metrics.peek(str(org), plugin_id)
            async with self._sf() as session:
                await read_connection(session)  # one SELECT: one round trip on PostgreSQL
                data = await metrics_store.plugin_window(session, org, plugin_id, minutes,
                                                         pending=pending)
            if flushes == self._metrics_flushes:
                break
        if data is None:
            # Same answer whether it exists in another organization or nowhere.
            raise NotFound(f"plugin {plugin_id} is not installed")
        return {"pluginId": plugin_id, **data}

    async def list_plugin_events(
        self, org_id: uuid.UUID | str, plugin_id: str, *, page: int = 1, limit: int = 20,
        event_type: str | None = None,
    ) -> tuple[list[EventOut], int]:
        org = as_uuid(org_id)
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            await self._get(repo, org, plugin_id, children=False)
            rows, total = await repo.list_events(org, plugin_id, page=page, limit=limit,
                                                 event_type=event_type)
        return [EventOut.model_validate(event_wire(r)) for r in rows], total

    # -- uninstall ---------------------------------------------------------------------
    async def uninstall_plugin(
        self, org_id: uuid.UUID | str, plugin_id: str, *, actor: uuid.UUID | None = None
    ) -> None:
        org = as_uuid(org_id)
        async with self._lock(org, plugin_id):
            async with session_scope(self._sf) as session:
                repo = PluginRepository(session)
                row = await self._get(repo, org, plugin_id)
                dependents = await repo.dependents_of(org, plugin_id)
            if dependents:
                raise Conflict(
                    f"plugin {plugin_id} is required by {', '.join(dependents)}",
                    errors=tuple(FieldError("dependencies", f"{d} depends on it", "in-use", d)
                                 for d in dependents),
                )
            await self.bus.deactivate(str(org), plugin_id)
            # Unflushed metrics would attach to nothing: the plugin's metric rows go with it.
            self.bus.metrics.forget(str(org), plugin_id)
            async with self._work() as work:
                repo = PluginRepository(work.session)
                fresh = await self._get(repo, org, plugin_id)
                work.event(org, plugin_id, "uninstalled", actor=actor,
                           details={"version": fresh.version})
                await repo.delete_plugin(fresh)
            await self._installs.discard_tree(row.install_path)
            # The artifact blob is left to the blob sweep (storage/gc.py): deleting it here
            # raced another organization's install of the same package.
        self._locks.pop((str(org), plugin_id), None)

    # -- hooks -------------------------------------------------------------------------
    async def execute_hook(
        self, org_id: uuid.UUID | str, name: str, data: Any,
        options: HookOptions | dict[str, Any] | None = None, *, file_id: str | None = None,
        count_failures: bool = True,
    ) -> HookResult:
        """Run a hook; ``count_failures=False`` for callers who may not disable plugins (their
        calls' failures do not move the circuit breaker, docs/decisions.md)."""
        opts = options if isinstance(options, HookOptions) or options is None else (
            HookOptions.from_wire(options))
        return await self.bus.execute_hook(uuid_text(as_uuid(org_id)), name, data, opts,
                                           file_id=file_id, count_failures=count_failures)


def _python_version() -> str:
    return ".".join(str(v) for v in sys.version_info[:3])
