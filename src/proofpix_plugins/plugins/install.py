"""The install pipeline: from a vetted package to a tree on disk and rows in the database.

Disk first, database second. The package is stored as a blob, extracted into a staging dir and
published as a tree of its own (a path no other install uses, ``layout.py``); then one
transaction writes the plugin's rows and its event. When that transaction fails, the new tree is
removed and an upgraded plugin that was loaded is reactivated on its old tree; when it commits,
the previous version's tree goes. Other processes install too, so a tree is removed only when no
committed row references it. Artifact blobs are never deleted here: another organization's install
of the same package may have stored the same blob and not yet committed its row. Unreferenced
blobs are collected by the blob sweep (``storage/gc.py``) once a grace period has passed, and a
writer that finds its blob gone at commit time stores it again. Only this code knows both
halves, so it owns its transactions (see docs/architecture.md). ``PluginService.install_plugin``
vets the package, holds the plugin's lock around ``install`` and reloads an upgraded plugin
afterwards.
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
from proofpix_plugins.plugins.config_values import (
    ConfigCipher,
    check_config,
    restore_redacted,
    seal,
    unseal,
)
from proofpix_plugins.plugins.event_hub import EventHub
from proofpix_plugins.plugins.grants import GrantDecision, decide
from proofpix_plugins.plugins.layout import PluginLayout
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.plugins.specs import build_spec, granted, secret_keys
from proofpix_plugins.plugins.trees import TreeSource
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
    #: Required config keys still unset: the plugin is ``needs_configuration``.
    missing_config: list[str]


@dataclass(frozen=True)
class ConfigPlan:
    """The config an install writes, decided before anything is stored."""

    values: dict[str, Any]
    missing: list[str]


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
        trees: TreeSource,
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
        self._trees = trees

    async def install(
        self,
        org: uuid.UUID,
        vetted: VettedPackage,
        package: Path,
        actor: uuid.UUID | None,
        grant: Sequence[str] | None,
        config: dict[str, Any] | None = None,
    ) -> Installed:
        """Store, extract, publish and record ``vetted``; the caller holds the plugin's lock.

        ``config`` (the upload's ``metadata.config``) is validated against the manifest's
        schema before anything is stored; required keys it leaves unset make the plugin
        ``needs_configuration`` rather than failing the install.
        """
        manifest = vetted.manifest
        async with session_scope(self._sf) as session:
            repo = PluginRepository(session)
            existing = await repo.get(org, manifest.id)
            installed = await repo.installed_versions(org)
        previous = check_upgrade(existing, manifest.version)
        vetted.check_dependencies(installed)
        new_secrets = secret_keys(vetted.manifest_json)
        old_secrets = secret_keys(existing.manifest) if existing else None
        decision = decide(
            list(manifest.permissions), list(manifest.network.allow), grant,
            previous_permissions=granted(existing, PermissionKind.permission) if existing else None,
            previous_hosts=granted(existing, PermissionKind.network) if existing else None,
            secret_keys=new_secrets, previous_secret_keys=old_secrets,
        )
        plan = self._plan_config(manifest.config_schema, config, existing, new_secrets)
        blob = await self._blobs.put_file(package)
        staged = self._layout.new_staging_dir()
        final = self._layout.final_dir(str(org), manifest.id, manifest.version, blob.sha256)
        try:
            await asyncio.to_thread(vetted.extract, staged)
            await asyncio.to_thread(self._layout.publish, staged, final)
        except BaseException:
            self._layout.remove(staged)
            self._layout.remove(final)
            raise
        was_loaded = existing is not None and existing.status == PluginStatus.loaded
        old_path = existing.install_path if existing else None
        if was_loaded and existing is not None:
            await self._bus.deactivate(str(org), existing.plugin_id)
        try:
            await self._write_rows(org, vetted, decision, plan, final, package, blob.sha256, actor,
                                   previous)
        except BaseException as exc:
            await self.discard_tree(str(final))
            if was_loaded and existing is not None:
                with contextlib.suppress(Exception):
                    await self._bus.activate(build_spec(
                        existing, self._cipher, await self._trees.tree_for(existing)))
            if isinstance(exc, IntegrityError):
                raise Conflict(f"plugin {manifest.id} is being installed concurrently") from None
            raise
        if old_path:
            await self.discard_tree(old_path)
        return Installed(previous_version=previous, decision=decision,
                         reload=was_loaded and not decision.pending and not plan.missing,
                         missing_config=plan.missing)

    def _plan_config(
        self, schema: dict[str, Any] | None, provided: dict[str, Any] | None,
        existing: Plugin | None, new_secrets: frozenset[str],
    ) -> ConfigPlan:
        current: dict[str, Any] = {}
        if existing is not None and existing.configuration is not None:
            current = unseal(existing.configuration.values, self._cipher)
            # A key the new version no longer marks secret loses its stored value: the old
            # version's secret must not reach the new one in plain text.
            for key in secret_keys(existing.manifest) - new_secrets:
                current.pop(key, None)
        if provided is not None:
            # "***" keeps a stored secret the new version still marks secret.
            values, missing = check_config(
                schema, restore_redacted(provided, new_secrets, current), allow_missing=True)
            return ConfigPlan(values, missing)
        try:
            values, missing = check_config(schema, current, allow_missing=True)
        except ValidationFailed:
            # An upgrade whose schema rejects the old values starts from the new defaults.
            values, missing = check_config(schema, {}, allow_missing=True)
        return ConfigPlan(values, missing)

    async def _write_rows(
        self,
        org: uuid.UUID,
        vetted: VettedPackage,
        decision: GrantDecision,
        plan: ConfigPlan,
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
            if not await self._blobs.exists(sha256):
                # The blob sweep took it between our put and this commit (only after its grace
                # period, so this is a very slow install): store it again before a row names it.
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
            if plan.missing:
                row.status = PluginStatus.needs_configuration
                row.status_reason = needs_configuration_reason(plan.missing)
            elif previous is None:
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
            await self._write_config(work.session, row, org, plan.values, actor,
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
        values: dict[str, Any], actor: uuid.UUID | None, *, keep_previous: bool,
    ) -> None:
        sealed = seal(values, secret_keys(row.manifest), self._cipher)
        existing = (await PluginRepository(session).configuration_of(row.id)
                    if keep_previous else None)
        if existing is None:
            session.add(PluginConfiguration(plugin_row_id=row.id, organization_id=org,
                                            values=sealed, version=1, updated_by=actor))
        else:
            existing.values = sealed
            existing.version += 1
            existing.updated_by = actor

    async def discard_tree(self, install_path: str) -> None:
        """Remove a tree unless a committed row references it."""
        async with session_scope(self._sf) as session:
            in_use = await PluginRepository(session).path_in_use(install_path)
        if not in_use:
            await asyncio.to_thread(self._layout.remove, install_path)


def needs_configuration_reason(missing: Sequence[str]) -> str:
    return "needs configuration: " + ", ".join(missing)


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
