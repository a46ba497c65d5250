"""What the runtime needs to know about one installed plugin and one call.

The lifecycle layer maps an installed plugin's manifest and the org's grants to a
:class:`PluginSpec`; the runtime never reads manifests or the database itself, so
:func:`validate_spec` checks a spec against the same rules (``limits``) before it is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proofpix_plugins.errors import FieldError
from proofpix_plugins.runtime import limits
from proofpix_plugins.runtime.errors import LoadError

#: What a redacted x-secret config value looks like to a plugin without ``secrets``.
REDACTED = "***"


@dataclass(frozen=True)
class HookBinding:
    """One hook a plugin registered: the handler function name in its entry module."""

    handler: str
    priority: int = limits.PRIORITY_DEFAULT


@dataclass(frozen=True)
class PluginSpec:
    """Everything the sandbox needs to run one (organization, plugin) pair."""

    org_id: str
    plugin_id: str
    version: str
    #: The extracted package tree; read-only to the worker.
    root: Path
    entry: str = limits.ENTRY_DEFAULT
    hooks: Mapping[str, HookBinding] = field(default_factory=lambda: MappingProxyType({}))
    #: Granted AND requested: the only permissions the host honours.
    permissions: frozenset[str] = frozenset()
    network_allow: tuple[str, ...] = ()
    memory_mb: int = limits.MEMORY_MB_DEFAULT
    timeout_ms: int = limits.TIMEOUT_MS_DEFAULT
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


@dataclass
class CallBudget:
    """What one top-level call, its nested calls included, has used of its per-call budgets.

    Created with the top-level call's :class:`CallInfo`; a nested ``ctx.events.call`` passes
    the same object on, so nesting never resets a budget (``host/capabilities.py`` spends it).
    """

    requests: int = 0
    #: capability -> [requests, bytes] spent.
    caps: dict[str, list[int]] = field(default_factory=dict)
    denied_recorded: int = 0
    denied_dropped: int = 0
    log_bytes: int = 0
    logs_dropped: int = 0


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
    #: Shared by a top-level call and every call nested in it.
    budget: CallBudget = field(default_factory=CallBudget, compare=False, repr=False)


def binding_errors(spec: PluginSpec) -> list[FieldError]:
    """What is wrong with the spec's hook bindings: names, handlers and priorities."""
    errors: list[FieldError] = []
    for name, binding in spec.hooks.items():
        where = f"hooks.{name}"
        if not limits.is_hook_name(name):
            errors.append(FieldError(where, "hook name must look like 'file:uploaded'",
                                     "pattern", name))
        if not limits.is_handler_name(binding.handler):
            errors.append(FieldError(f"{where}.handler", "must be a Python identifier",
                                     "pattern", binding.handler))
        p = binding.priority
        if isinstance(p, bool) or not isinstance(p, int) or not (
            limits.PRIORITY_MIN <= p <= limits.PRIORITY_MAX
        ):
            errors.append(FieldError(
                f"{where}.priority",
                f"must be an integer {limits.PRIORITY_MIN}-{limits.PRIORITY_MAX}", "range", p,
            ))
    return errors


def validate_spec(spec: PluginSpec) -> None:
    """Refuse a spec the pool must not load, naming the plugin and every field at fault."""
    errors = binding_errors(spec)
    unknown = sorted(set(spec.permissions) - limits.PERMISSIONS)
    if unknown:
        errors.append(FieldError("permissions", f"unknown permission(s) {unknown}", "enum"))
    entry_ok = limits.is_entry_module(spec.entry)
    if not entry_ok:
        errors.append(FieldError("entry", "must be a dotted Python module name", "pattern",
                                 spec.entry))
    else:
        top = spec.entry.split(".")[0]
        if limits.is_reserved_top_level(top):
            errors.append(FieldError("entry", f"{top!r} would shadow a library module",
                                     "reserved", spec.entry))
    if not limits.MEMORY_MB_MIN <= spec.memory_mb <= limits.MEMORY_MB_MAX:
        errors.append(FieldError(
            "resources.memory_mb", f"must be {limits.MEMORY_MB_MIN}-{limits.MEMORY_MB_MAX}",
            "range", spec.memory_mb,
        ))
    if not limits.TIMEOUT_MS_MIN <= spec.timeout_ms <= limits.TIMEOUT_MS_MAX:
        errors.append(FieldError(
            "resources.timeout_ms", f"must be {limits.TIMEOUT_MS_MIN}-{limits.TIMEOUT_MS_MAX}",
            "range", spec.timeout_ms,
        ))
    if spec.cpu_seconds is not None and not 0 < spec.cpu_seconds <= limits.CPU_SECONDS_MAX:
        errors.append(FieldError("resources.cpu_seconds",
                                 f"must be in (0, {limits.CPU_SECONDS_MAX}]", "range",
                                 spec.cpu_seconds))
    root = Path(spec.root)
    if not root.is_dir():
        errors.append(FieldError("root", "plugin tree does not exist", "exists", str(root)))
    elif entry_ok:
        rel = Path(*spec.entry.split("."))
        module_file = rel.parent / (rel.name + ".py")
        if not ((root / rel / "__init__.py").is_file() or (root / module_file).is_file()):
            errors.append(FieldError("entry", f"module {spec.entry!r} not found in the tree",
                                     "exists", spec.entry))
    if errors:
        raise LoadError(f"plugin {spec.plugin_id} cannot be loaded", errors=tuple(errors))
