"""Run a plugin directory in the real sandbox on this machine, as the server would.

The same runtime the server uses: a :class:`WorkerPool` (template process, hardened worker per
plugin) and the :class:`HookBus` (routing, hook permissions, modes, tracebacks), with an
in-memory broker (``MemoryBroker``) holding the photo, the metadata record, the plugin's
storage and the events it records. No server or database is needed.

The package tree is copied first into a fresh directory under /tmp that plugin uids can read
(the pool refuses a tree they cannot), exactly the files ``plugin pack`` would pack.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from proofpix_plugins.cli.sample_events import (
    FILE_HOOKS,
    WATERFALL_HOOKS,
    Photo,
    load_photo,
    sample_event,
)
from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.packages.errors import PackageError
from proofpix_plugins.packages.manifest import MANIFEST_NAME, Manifest, parse_manifest
from proofpix_plugins.packages.pack import collect_source_files
from proofpix_plugins.packages.permissions import PERMISSIONS
from proofpix_plugins.plugins.config_values import check_config
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.hooks.options import HookMode, HookOptions
from proofpix_plugins.runtime.hooks.results import CallRecord, PluginResult
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec

#: The organization the local run pretends to be.
LOCAL_ORG = "local-test"


class BadInput(Exception):
    """The directory, event, photo, config or grants cannot be used (exit code 2)."""


@dataclass
class HookRun:
    """One hook called once: the bus's result plus what the plugin did meanwhile."""

    hook: str
    handler: str
    event: Any
    result: PluginResult
    logs: list[dict[str, Any]] = field(default_factory=list)
    capabilities: dict[str, int] = field(default_factory=dict)
    denied: list[dict[str, Any]] = field(default_factory=list)
    http_calls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"hook": self.hook, "handler": self.handler, **self.result.to_wire(),
                "logs": self.logs, "capabilities": self.capabilities, "denied": self.denied,
                "httpCalls": self.http_calls}


@dataclass
class LocalRun:
    """Everything ``plugin test`` reports."""

    plugin_id: str
    version: str
    sandbox: dict[str, Any]
    startup_ms: float
    granted: list[str]
    hooks: list[HookRun] = field(default_factory=list)
    load_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.load_error is None and all(h.result.status == "ok" for h in self.hooks)

    def to_json(self) -> dict[str, Any]:
        return {"pluginId": self.plugin_id, "version": self.version, "ok": self.ok,
                "sandbox": self.sandbox, "startupMs": round(self.startup_ms, 1),
                "granted": self.granted, "loadError": self.load_error,
                "hooks": [h.to_json() for h in self.hooks]}


@dataclass
class RunOptions:
    """What the author asked for; None means the default (see ``plugin test --help``)."""

    event: Any = None
    has_event: bool = False
    photo: Path | None = None
    config: Mapping[str, Any] | None = None
    grants: Sequence[str] | None = None
    hooks: Sequence[str] | None = None


def read_manifest(plugin_dir: Path) -> Manifest:
    if not plugin_dir.is_dir():
        raise BadInput(f"{plugin_dir} is not a directory")
    try:
        raw = (plugin_dir / MANIFEST_NAME).read_bytes()
    except OSError:
        raise BadInput(f"{plugin_dir / MANIFEST_NAME} cannot be read") from None
    try:
        return parse_manifest(raw)
    except PackageError as exc:
        lines = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[:5])
        raise BadInput(f"{MANIFEST_NAME} is invalid ({lines}); run `plugin validate`") from None


def _grants(manifest: Manifest, grants: Sequence[str] | None) -> frozenset[str]:
    requested = set(manifest.permissions)
    if grants is None:  # like an install without grantPermissions: everything requested
        return frozenset(requested)
    unknown = sorted(set(grants) - PERMISSIONS)
    if unknown:
        raise BadInput(f"--grant: unknown permission(s) {', '.join(unknown)}; known: "
                       f"{', '.join(sorted(PERMISSIONS))}")
    not_requested = sorted(set(grants) - requested)
    if not_requested:
        raise BadInput(f"--grant: {', '.join(not_requested)} not requested in plugin.json "
                       "(only requested permissions can be granted)")
    return frozenset(grants)


def _config(manifest: Manifest, values: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        filled, missing = check_config(manifest.config_schema, dict(values or {}),
                                       allow_missing=True)
    except ProofPixError as exc:
        lines = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[:5]) or exc.detail
        raise BadInput(f"--config does not match config_schema: {lines}") from None
    if missing:
        raise BadInput(f"config_schema requires {', '.join(missing)} (no default): pass them "
                       "with --config CONFIG.json")
    return filled


@contextmanager
def _readable_copy(plugin_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(package root, runtime base dir) under a fresh 0711 dir plugin uids can traverse."""
    # Not tempfile.mkdtemp(): $TMPDIR may sit under a 0700 directory plugin uids cannot cross;
    # a random name created with mkdir (fails if it exists) is as safe.
    base = Path("/tmp") / f"ppx-test-{secrets.token_hex(6)}"  # noqa: S108
    base.mkdir(mode=0o711)
    base.chmod(0o711)
    try:
        root = base / "package"
        try:
            files = collect_source_files(plugin_dir)
        except PackageError as exc:
            raise BadInput("; ".join(f"{e.field}: {e.message}" for e in exc.errors[:5])) from None
        root.mkdir(mode=0o755)
        for name, path in files:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        for dirpath, _dirs, filenames in os.walk(root):
            os.chmod(dirpath, 0o755)  # noqa: S103 - read-only to the plugin's own uid
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)
        runtime = base / "runtime"
        runtime.mkdir(mode=0o711)
        runtime.chmod(0o711)
        yield root, runtime
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _spec(manifest: Manifest, root: Path, granted: frozenset[str],
          config: Mapping[str, Any]) -> PluginSpec:
    hooks: dict[str, HookBinding] = {}
    for hook in manifest.hooks:  # one handler per hook name, as the server stores them
        hooks.setdefault(hook.name, HookBinding(hook.handler, hook.priority))
    return PluginSpec(
        org_id=LOCAL_ORG, plugin_id=manifest.id, version=manifest.version, root=root,
        entry=manifest.entry, hooks=hooks, permissions=granted,
        network_allow=tuple(manifest.network.allow), memory_mb=manifest.resources.memory_mb,
        timeout_ms=manifest.resources.timeout_ms, cpu_seconds=manifest.resources.cpu_seconds,
        config=config, secret_keys=manifest.secret_config_keys(),
    )


def _plugin_logs(entries: Sequence[Mapping[str, Any]], plugin_id: str) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if e.get("source") == "plugin" and e.get("plugin") == plugin_id:
            out.append({"level": e.get("log_level", "info"), "message": e.get("event", ""),
                        "fields": e.get("fields", {})})
    return out


async def run_local_async(
    plugin_dir: Path, options: RunOptions, on_stage: Callable[[str], None] | None = None,
) -> LocalRun:
    """Load the plugin in a real sandboxed worker and call its hooks; see the module doc."""
    stage = on_stage or (lambda _msg: None)
    manifest = read_manifest(plugin_dir)
    granted = _grants(manifest, options.grants)
    config = _config(manifest, options.config)
    declared = [h.name for h in manifest.hooks]
    wanted = list(dict.fromkeys(options.hooks or declared))
    unknown = [h for h in wanted if h not in declared]
    if unknown:
        raise BadInput(f"--hook: {', '.join(unknown)} not declared in plugin.json "
                       f"(declared: {', '.join(declared) or 'none'})")
    try:
        photo: Photo = load_photo(options.photo)
    except (OSError, ValueError) as exc:
        raise BadInput(f"--file: {exc}") from None
    with _readable_copy(plugin_dir) as (root, runtime_dir):
        started = time.perf_counter()
        stage("starting the sandbox")
        broker = MemoryBroker()
        broker.add_file(LOCAL_ORG, photo.file_id, photo.data, photo.content_type,
                        photo.filename, exif=photo.exif)
        # The author's own code on the author's machine: a host without every isolation layer
        # (macOS, no root) still runs it, and the report says which layers were missing.
        pool = WorkerPool(RuntimeConfig(base_dir=runtime_dir, insecure_dev=True), broker)
        records: list[CallRecord] = []
        bus = HookBus(pool, broker, pool.config, on_metrics=records.append)
        try:
            with capture_logs():  # the runtime's own start-up lines are not the author's
                await pool.start()
                report = pool.sandbox_report().as_dict()
                stage("loading the plugin")
                spec = _spec(manifest, root, granted, config)
                run = LocalRun(manifest.id, manifest.version, report, 0.0, sorted(granted))
                try:
                    await bus.activate(spec)
                except (LoadError, ProofPixError) as exc:
                    run.load_error = getattr(exc, "detail", None) or str(exc)
            run.startup_ms = (time.perf_counter() - started) * 1000
            if run.load_error is None:
                for hook in wanted:
                    stage(f"calling {hook}")
                    event = options.event if options.has_event else sample_event(hook, photo)
                    run.hooks.append(await _call(bus, broker, records, spec, hook, event,
                                                 photo.file_id))
        finally:
            await pool.close()
    return run


async def _call(bus: HookBus, broker: MemoryBroker, records: list[CallRecord],
                spec: PluginSpec, hook: str, event: Any, file_id: str) -> HookRun:
    mode: HookMode = "waterfall" if hook in WATERFALL_HOOKS else "parallel"
    events_before, records_before = len(broker.events), len(records)
    with capture_logs() as entries:
        outcome = await bus.execute_hook(
            LOCAL_ORG, hook, event, HookOptions(mode=mode),
            file_id=file_id if hook in FILE_HOOKS else None)
    result = outcome.results[0] if outcome.results else PluginResult(
        spec.plugin_id, "skipped", 0.0, error="skipped: the bus routed no plugin")
    new_records = records[records_before:]
    denied = [dict(e.details) for e in broker.events[events_before:]
              if e.event_type == "permission_denied"]
    return HookRun(
        hook=hook, handler=spec.hooks[hook].handler, event=event, result=result,
        logs=_plugin_logs(entries, spec.plugin_id),
        capabilities=dict(new_records[-1].capabilities) if new_records else {},
        denied=denied, http_calls=sum(r.http_calls for r in new_records),
    )


def run_local(plugin_dir: Path, options: RunOptions | None = None,
              on_stage: Callable[[str], None] | None = None) -> LocalRun:
    """Synchronous :func:`run_local_async` (the CLI and an author's pytest file call this)."""
    return asyncio.run(run_local_async(plugin_dir, options or RunOptions(), on_stage))


def load_json_file(path: Path, what: str) -> Any:
    """A JSON file the author passed (``--event``, ``--config``); BadInput says what is wrong."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{what}: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{what}: {path} is not valid JSON: {exc}") from None


__all__ = ["BadInput", "HookRun", "LocalRun", "RunOptions", "load_json_file", "run_local",
           "run_local_async"]
