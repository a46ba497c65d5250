"""What the runtime needs to know about one installed plugin and one call.

The lifecycle layer maps an installed plugin's manifest and the org's grants to a
:class:`PluginSpec`; the runtime never reads manifests or the database itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: The eight permissions of SPEC §2; anything else in a spec is refused at load.
PERMISSIONS: frozenset[str] = frozenset(
    {"files", "images", "metadata", "storage", "http", "crypto", "events", "secrets"}
)

#: What a redacted x-secret config value looks like to a plugin without ``secrets``.
REDACTED = "***"


@dataclass(frozen=True)
class HookBinding:
    """One hook a plugin registered: the handler function name in its entry module."""

    handler: str
    priority: int = 50


@dataclass(frozen=True)
class PluginSpec:
    """Everything the sandbox needs to run one (organization, plugin) pair."""

    org_id: str
    plugin_id: str
    version: str
    #: The extracted package tree; read-only to the worker.
    root: Path
    entry: str = "plugin"
    hooks: Mapping[str, HookBinding] = field(default_factory=lambda: MappingProxyType({}))
    #: Granted AND requested: the only permissions the host honours.
    permissions: frozenset[str] = frozenset()
    network_allow: tuple[str, ...] = ()
    memory_mb: int = 256
    timeout_ms: int = 5000
    cpu_seconds: float | None = None
    #: Decrypted configuration; x-secret keys are redacted before they reach the worker
    #: unless the plugin holds ``secrets``.
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    secret_keys: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.org_id, self.plugin_id)

    def visible_config(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The config as the plugin sees it: secrets redacted unless it holds ``secrets``."""
        source = self.config if config is None else config
        if "secrets" in self.permissions:
            return dict(source)
        return {k: (REDACTED if k in self.secret_keys else v) for k, v in source.items()}


@dataclass(frozen=True)
class CallInfo:
    """Who is being called for what; capabilities act on this call's file and org."""

    org_id: str
    plugin_id: str
    hook: str
    call_id: str
    file_id: str | None = None
    depth: int = 0
    #: Absolute ``time.time()`` after which the call is abandoned.
    deadline: float = 0.0
