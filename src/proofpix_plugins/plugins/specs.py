"""From an installed plugin's rows to the runtime's ``PluginSpec``."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from proofpix_plugins.models.plugins import PermissionKind, Plugin
from proofpix_plugins.packages.manifest import secret_keys_of
from proofpix_plugins.plugins.config_values import ConfigCipher, unseal
from proofpix_plugins.runtime import limits
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec


def secret_keys(manifest: dict[str, Any]) -> frozenset[str]:
    return secret_keys_of(manifest.get("config_schema"))


def granted(row: Plugin, kind: PermissionKind) -> frozenset[str]:
    return frozenset(p.value for p in row.permissions if p.kind == kind and p.granted)


def build_spec(row: Plugin, cipher: ConfigCipher, root: Path | None = None) -> PluginSpec:
    """The spec ``row`` describes, run from ``root`` (this machine's tree, ``trees.py``) or,
    by default, from the row's ``install_path``."""
    manifest = row.manifest
    resources = manifest.get("resources") or {}
    config = unseal(row.configuration.values, cipher) if row.configuration else {}
    return PluginSpec(
        org_id=str(row.organization_id),
        plugin_id=row.plugin_id,
        version=row.version,
        root=root if root is not None else Path(row.install_path),
        entry=manifest.get("entry") or limits.ENTRY_DEFAULT,
        hooks=MappingProxyType(
            {h.hook_name: HookBinding(h.handler, h.priority) for h in row.hooks}
        ),
        permissions=granted(row, PermissionKind.permission),
        network_allow=tuple(sorted(granted(row, PermissionKind.network))),
        memory_mb=int(resources.get("memory_mb", limits.MEMORY_MB_DEFAULT)),
        timeout_ms=int(resources.get("timeout_ms", limits.TIMEOUT_MS_DEFAULT)),
        cpu_seconds=resources.get("cpu_seconds"),
        config=MappingProxyType(config),
        secret_keys=secret_keys(manifest),
    )
