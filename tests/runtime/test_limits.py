"""One rule set (runtime/limits.py): what the manifest and the structure check accept at publish
time the runtime loads and routes, and what they refuse the runtime refuses too."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from tests.packages.builders import HANDLER_SOURCE, manifest

from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.packages import permissions
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import parse_manifest
from proofpix_plugins.packages.structure import check_structure
from proofpix_plugins.runtime import limits
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec, validate_spec

_DEFAULTS: dict[str, Any] = {"hook": "file:uploaded", "handler": "on_upload", "priority": 50,
                             "entry": "plugin", "permissions": ["files"]}
_NINE_PARTS = ".".join("abcdefghi")


def _manifest_accepts(values: dict[str, Any]) -> bool:
    v = {**_DEFAULTS, **values}
    resources = {k: v[k] for k in ("memory_mb", "timeout_ms", "cpu_seconds") if k in v}
    raw = manifest(entry=v["entry"], resources=resources, permissions=v["permissions"],
                   hooks=[{"name": v["hook"], "handler": v["handler"],
                           "priority": v["priority"]}])
    try:
        parse_manifest(json.dumps(raw).encode())
    except PackageError:
        return False
    return True


def _runtime_accepts(values: dict[str, Any], tmp_path: Path) -> bool:
    v = {**_DEFAULTS, **values}
    root = tmp_path / "tree"
    module = root.joinpath(*v["entry"].split("."))
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    resources = {k: v[k] for k in ("memory_mb", "timeout_ms", "cpu_seconds") if k in v}
    spec = PluginSpec(
        org_id="org-1", plugin_id="acme.sample", version="1.0.0", root=root, entry=v["entry"],
        hooks=MappingProxyType({v["hook"]: HookBinding(v["handler"], v["priority"])}),
        permissions=frozenset(v["permissions"]), **resources,
    )
    config = RuntimeConfig(base_dir=tmp_path / "rt")
    broker = MemoryBroker()
    bus = HookBus(WorkerPool(config, broker), broker, config)  # never started: validation only
    try:
        validate_spec(spec)  # what WorkerPool.load checks
        bus.validate(spec)  # what HookBus.register checks
    except (LoadError, ValidationFailed):
        return False
    return True


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"memory_mb": limits.MEMORY_MB_MIN}, True),
        ({"memory_mb": limits.MEMORY_MB_MIN - 1}, False),
        ({"memory_mb": limits.MEMORY_MB_MAX}, True),
        ({"memory_mb": limits.MEMORY_MB_MAX + 1}, False),
        ({"timeout_ms": limits.TIMEOUT_MS_MIN}, True),
        ({"timeout_ms": limits.TIMEOUT_MS_MIN - 1}, False),
        ({"timeout_ms": limits.TIMEOUT_MS_MAX}, True),
        ({"timeout_ms": limits.TIMEOUT_MS_MAX + 1}, False),
        ({"cpu_seconds": float(limits.CPU_SECONDS_MAX)}, True),
        ({"cpu_seconds": limits.CPU_SECONDS_MAX + 0.5}, False),
        ({"cpu_seconds": 0.0}, False),
        ({"hook": "a:" + "b" * (limits.HOOK_NAME_MAX_LENGTH - 2)}, True),
        ({"hook": "a:" + "b" * (limits.HOOK_NAME_MAX_LENGTH - 1)}, False),
        ({"hook": "file:uploaded\n"}, False),
        ({"hook": "File:uploaded"}, False),
        ({"handler": "h" * limits.HANDLER_MAX_LENGTH}, True),
        ({"handler": "h" * (limits.HANDLER_MAX_LENGTH + 1)}, False),
        ({"handler": "class"}, False),
        ({"handler": "on_upload\n"}, False),
        ({"priority": limits.PRIORITY_MIN}, True),
        ({"priority": limits.PRIORITY_MAX + 1}, False),
        ({"entry": _NINE_PARTS[:-2]}, True),  # eight parts
        ({"entry": _NINE_PARTS}, False),
        ({"entry": "p" * limits.ENTRY_MAX_LENGTH}, True),
        ({"entry": "p" * (limits.ENTRY_MAX_LENGTH + 1)}, False),
        ({"entry": "pkg.class"}, False),
    ],
)
def test_the_manifest_and_the_runtime_draw_each_bound_in_the_same_place(
    values: dict[str, Any], ok: bool, tmp_path: Path
) -> None:
    assert _manifest_accepts(values) is ok
    assert _runtime_accepts(values, tmp_path) is ok


@pytest.mark.parametrize(
    ("permission", "ok"),
    [*((p, True) for p in limits.PERMISSION_ORDER), ("network", False), ("Files", False),
     ("files ", False), ("", False)],
)
def test_the_manifest_and_the_runtime_know_the_same_permissions(
    permission: str, ok: bool, tmp_path: Path
) -> None:
    values = {"permissions": [permission]}
    assert _manifest_accepts(values) is ok
    assert _runtime_accepts(values, tmp_path) is ok


def test_the_permission_vocabulary_is_the_runtimes_eight_in_spec_order() -> None:
    assert permissions.PERMISSIONS is limits.PERMISSIONS
    assert permissions.PERMISSION_ORDER == (
        "files", "images", "metadata", "storage", "http", "crypto", "events", "secrets",
    )
    assert frozenset(limits.PERMISSION_ORDER) == limits.PERMISSIONS
    assert list(permissions.PERMISSION_DESCRIPTIONS) == list(limits.PERMISSION_ORDER)


def test_a_minimal_manifest_and_a_bare_spec_get_the_same_defaults() -> None:
    m = parse_manifest(json.dumps(manifest()).encode())
    spec = PluginSpec(org_id="o", plugin_id="acme.sample", version="1.0.0", root=Path("/"))
    assert (m.entry, m.hooks[0].priority) == (spec.entry, HookBinding("h").priority)
    assert (m.resources.memory_mb, m.resources.timeout_ms, m.resources.cpu_seconds) == (
        spec.memory_mb, spec.timeout_ms, spec.cpu_seconds
    )


def test_a_calls_cpu_budget_is_the_declared_one_or_its_timeout_plus_a_second() -> None:
    assert limits.call_cpu_seconds(2.5, 5000) == 2.5
    assert limits.call_cpu_seconds(None, 5000) == 6.0
    assert limits.call_cpu_seconds(None, 250) == 1.25


def _structure_refuses_entry(entry: str) -> bool:
    m = parse_manifest(json.dumps(manifest(entry=entry)).encode())
    module = f"{entry.replace('.', '/')}/__init__.py"
    errors = check_structure(m, {module: HANDLER_SOURCE.encode()})
    return any(e.rule == "PPX-STRUCT-SHADOW" for e in errors)


def _runtime_refuses_entry(entry: str, tmp_path: Path) -> bool:
    module = tmp_path.joinpath(*entry.split("."))
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(HANDLER_SOURCE)
    spec = PluginSpec(org_id="o", plugin_id="acme.sample", version="1.0.0", root=tmp_path,
                      entry=entry)
    try:
        validate_spec(spec)
    except LoadError as exc:
        return any(e.rule == "reserved" for e in exc.errors)
    return False


@pytest.mark.parametrize(
    ("entry", "reserved"),
    [
        ("json", True),  # the standard library
        ("json.extra", True),  # judged by its top level
        ("sitecustomize", True),  # interpreter start-up hooks (the structure check's rule)
        ("usercustomize", True),
        ("proofpix_sdk", True),  # the SDK and the host
        ("proofpix_plugins", True),
        ("PIL", True),  # gated by a permission (the runtime's rule)
        ("cryptography", True),
        ("msgspec", True),  # refused by the import policy
        ("pyseccomp", True),
        ("plugin", False),
        ("acme_tools.main", False),
    ],
)
def test_the_structure_check_and_the_runtime_reserve_the_same_module_names(
    entry: str, reserved: bool, tmp_path: Path
) -> None:
    assert limits.is_reserved_top_level(entry.split(".")[0]) is reserved
    assert _structure_refuses_entry(entry) is reserved
    assert _runtime_refuses_entry(entry, tmp_path) is reserved


def test_every_top_level_module_of_a_package_is_held_to_the_reserved_names() -> None:
    m = parse_manifest(json.dumps(manifest()).encode())
    sources = {"plugin/__init__.py": HANDLER_SOURCE.encode(), "PIL/__init__.py": b"",
               "sitecustomize.py": b""}
    shadows = {e.field for e in check_structure(m, sources) if e.rule == "PPX-STRUCT-SHADOW"}
    assert shadows == {"PIL", "sitecustomize"}
