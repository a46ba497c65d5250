"""The install pipeline: from a vetted package to a tree on disk and rows in the database.

Disk first, database second. The package is stored as a blob, extracted into a staging dir and
published as a tree of its own (a path no other install uses, ``layout.py``); then one
transaction writes the plugin's rows and its event. When that transaction fails, the new tree
and blob are removed and an upgraded plugin that was loaded is reactivated on its old tree; when
it commits, the previous version's tree and artifact go. Only this code knows both halves, so it
owns its transactions (see docs/architecture.md). ``PluginService.install_plugin`` vets the
package, holds the plugin's lock around ``install`` and reloads an upgraded plugin afterwards.

Other processes install too, so nothing is removed that a committed row references. Trees are
checked against the rows before they go. Artifacts are content-addressed, so two installs of
one package (in two organizations, or racing for one) share a blob: the transaction that writes
the rows and the one that deletes an unused blob both hold ``PluginRepository.lock_artifact``;
the writer re-stores the blob under that lock if a deleter got there first, and a deleter that
comes second sees the committed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, FieldError, ValidationFailed
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.plugins import (
    PermissionKind,
    Plugin,
    PluginConfiguration,
    PluginDependency,
    PluginHook,
    PluginPermission,
    PluginStatus,
)
from proofpix_plugins.packages.manifest import compare_versions
from proofpix_plugins.plugins.config_values import ConfigCipher, seal, unseal, validate_config
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.grants import GrantDecision, decide
from proofpix_plugins.plugins.layout import PluginLayout
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.specs import build_spec, granted, secret_keys
from proofpix_plugins.plugins.unit_of_work import unit_of_work
from proofpix_plugins.plugins.vetting import VettedPackage
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.storage.blobstore import BlobStore


@dataclass(frozen=True)
class Installed:
    """What an install did, for the caller's answer and follow-up."""

    previous_version: str | None
    decision: GrantDecision
    #: The plugin was loaded before this upgrade and needs no new consent: load it again.
    reload: bool


class InstallPipeline:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        bus: HookBus,
        hub: EventHub,
        layout: PluginLayout,
        cipher: ConfigCipher,
        committed: Callable[[str], None] | None = None,
    ) -> None:
        self._sf = session_factory
        #: Called with each organization whose events a unit of work committed (read caches).
        self._committed = committed
        self._blobs = blobs
        self._bus = bus
        self._hub = hub
        self._layout = layout
        self._cipher = cipher

    async def install(
        self,
        org: uuid.UUID,
        vetted: VettedPackage,
        package: Path,
        actor: uuid.UUID | None,
        grant: Sequence[str] | None,
    ) -> Installed:
        """Store, extract, publish and record ``vetted``; the caller holds the plugin's lock."""
        manifest = vetted.manifest
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            existing = await repo.get(org, manifest.id)
            installed = await repo.installed_versions(org)
        previous = check_upgrade(existing, manifest.version)
        vetted.check_dependencies(installed)
        decision = decide(
            list(manifest.permissions), list(manifest.network.allow), grant,
            previous_permissions=granted(existing, PermissionKind.permission) if existing else None,
            previous_hosts=granted(existing, PermissionKind.network) if existing else None,
        )
        blob = await self._blobs.put_file(package)
        staged = self._layout.new_staging_dir()
        final = self._layout.final_dir(str(org), manifest.id, manifest.version, blob.sha256)
        try:
            await asyncio.to_thread(vetted.extract, staged)
            await asyncio.to_thread(self._layout.publish, staged, final)
        except BaseException:
            self._layout.remove(staged)
            self._layout.remove(final)
            await self.gc_artifact(blob.sha256)
            raise
        was_loaded = existing is not None and existing.status == PluginStatus.loaded
        old_path = existing.install_path if existing else None
        old_sha = existing.artifact_sha256 if existing else None
        if was_loaded and existing is not None:
            await self._bus.deactivate(str(org), existing.plugin_id)
        try:
            await self._write_rows(org, vetted, decision, final, package, blob.sha256, actor,
                                   previous)
        except BaseException as exc:
            await self.discard_tree(str(final))
            await self.gc_artifact(blob.sha256)
            if was_loaded and existing is not None:
                with contextlib.suppress(Exception):
                    await self._bus.activate(build_spec(existing, self._cipher))
            if isinstance(exc, IntegrityError):
                raise Conflict(f"plugin {manifest.id} is being installed concurrently") from None
            raise
        if old_path:
            await self.discard_tree(old_path)
        if old_sha and old_sha != blob.sha256:
            await self.gc_artifact(old_sha)
        return Installed(previous_version=previous, decision=decision,
                         reload=was_loaded and not decision.pending)

    async def _write_rows(
        self,
        org: uuid.UUID,
        vetted: VettedPackage,
        decision: GrantDecision,
        final: Path,
        package: Path,
        sha256: str,
        actor: uuid.UUID | None,
        previous: str | None,
    ) -> uuid.UUID:
        manifest = vetted.manifest
        now = utcnow()
        async with unit_of_work(self._sf, self._hub, committed=self._committed) as work:
            repo = PluginRepository(work.session)
            await repo.lock_artifact(sha256)
            if not await self._blobs.exists(sha256):
                # A failed install of the same package (another org, another process) deleted
                # the blob between our put and this lock: nothing referenced it then.
                await self._blobs.put_file(package)
            row = await repo.get(org, manifest.id, lock=True) if previous else None
            if previous and row is None:
                raise Conflict(f"plugin {manifest.id} was uninstalled during the upgrade")
            if row is None:
                row = Plugin(organization_id=org, plugin_id=manifest.id, installed_by=actor,
                             installed_at=now)
                work.session.add(row)
            else:
                await repo.delete_children(row.id)
            row.name = manifest.name
            row.version = manifest.version
            row.type = manifest.type
            row.category = manifest.category
            row.description = manifest.description
            row.manifest = vetted.manifest_json
            row.artifact_sha256 = sha256
            row.install_path = str(final)
            row.pending_consent = decision.pending
            if previous is None:
                row.status = PluginStatus.installed
                row.status_reason = None
            elif decision.pending:
                row.status = PluginStatus.unloaded
                row.status_reason = "awaiting consent: " + ", ".join(decision.pending)
            else:
                row.status = PluginStatus.unloaded
                row.status_reason = None
            row.updated_at = now
            await work.session.flush()
            for name, ok in decision.permissions.items():
                work.session.add(PluginPermission(
                    plugin_row_id=row.id, organization_id=org, kind=PermissionKind.permission,
                    value=name, requested=True, granted=ok,
                    granted_by=actor if ok else None, granted_at=now if ok else None))
            for host, ok in decision.hosts.items():
                work.session.add(PluginPermission(
                    plugin_row_id=row.id, organization_id=org, kind=PermissionKind.network,
                    value=host, requested=True, granted=ok,
                    granted_by=actor if ok else None, granted_at=now if ok else None))
            for hook in manifest.hooks:
                work.session.add(PluginHook(plugin_row_id=row.id, organization_id=org,
                                            hook_name=hook.name, handler=hook.handler,
                                            priority=hook.priority))
            for dep, spec in manifest.dependencies.items():
                work.session.add(PluginDependency(plugin_row_id=row.id, organization_id=org,
                                                  depends_on=dep, specifier=spec))
            await self._write_config(work.session, row, org, manifest.config_schema, actor,
                                     keep_previous=previous is not None)
            if previous is None:
                work.event(org, manifest.id, "installed", plugin_row_id=row.id, actor=actor,
                           details={"version": manifest.version, "sha256": sha256,
                                    "granted": sorted(decision.granted_permissions),
                                    "denied": sorted(set(decision.permissions)
                                                     - decision.granted_permissions)})
            else:
                work.event(org, manifest.id, "upgraded", plugin_row_id=row.id, actor=actor,
                           details={"from": previous, "to": manifest.version,
                                    "permissionDiff": decision.diff()})
            return row.id

    async def _write_config(
        self, session: AsyncSession, row: Plugin, org: uuid.UUID,
        schema: dict[str, Any] | None, actor: uuid.UUID | None, *, keep_previous: bool,
    ) -> None:
        keys = secret_keys(row.manifest)
        current: dict[str, Any] = {}
        existing = None
        if keep_previous:
            existing = await PluginRepository(session).configuration_of(row.id)
            if existing is not None:
                current = unseal(existing.values, self._cipher)
        try:
            values = validate_config(schema, current)
        except ValidationFailed:
            # An upgrade whose schema rejects the old values starts from the new defaults.
            values = validate_config(schema, {}) if schema else {}
        sealed = seal(values, keys, self._cipher)
        if existing is None:
            session.add(PluginConfiguration(plugin_row_id=row.id, organization_id=org,
                                            values=sealed, version=1, updated_by=actor))
        else:
            existing.values = sealed
            existing.version += 1
            existing.updated_by = actor

    async def gc_artifact(self, sha256: str) -> None:
        """Delete the blob ``sha256`` unless an installed plugin still uses it.

        Under the artifact lock, so an install writing rows for it (in any process) either
        committed before (then it is in use) or re-stores it after (see ``_write_rows``).
        """
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            await repo.lock_artifact(sha256)
            if not await repo.artifact_in_use(sha256):
                await self._blobs.delete(sha256)

    async def discard_tree(self, install_path: str) -> None:
        """Remove a tree unless a committed row references it."""
        async with session_scope(self._sf) as session:
            in_use = await PluginRepository(session).path_in_use(install_path)
        if not in_use:
            await asyncio.to_thread(self._layout.remove, install_path)


def check_upgrade(existing: Plugin | None, version: str) -> str | None:
    """The installed version an install of ``version`` upgrades, or None; refuses same or older."""
    if existing is None:
        return None
    order = compare_versions(version, existing.version)
    if order == 0:
        raise Conflict(
            f"plugin {existing.plugin_id} {version} is already installed",
            errors=(FieldError("version", "already installed", "duplicate", version),),
        )
    if order < 0:
        raise Conflict(
            f"plugin {existing.plugin_id} {existing.version} is installed; "
            f"{version} would be a downgrade",
            errors=(FieldError("version", "downgrade refused", "downgrade", version),),
        )
    return existing.version
