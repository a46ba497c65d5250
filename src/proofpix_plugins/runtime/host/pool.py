"""The worker pool: one warm, hardened worker process per (organization, plugin).

Workers are forked by the template (see ``template.py``), never by the server. The pool starts
a worker on load, reuses it for every call, kills it on timeout or protocol violation and
starts a fresh one on the next call, evicts idle workers, caps live ones (LRU), recycles after
N calls or RSS growth, and on close leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import stat
import sys
import sysconfig
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec
import structlog

import proofpix_sdk
from proofpix_plugins.errors import FieldError
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError, NotLoaded, PoolClosed
from proofpix_plugins.runtime.host import cgroup, detect, scratch_fs
from proofpix_plugins.runtime.host.broker import Broker
from proofpix_plugins.runtime.host.capabilities import CapabilityHost
from proofpix_plugins.runtime.host.template_client import TemplateClient, describe_exit
from proofpix_plugins.runtime.host.uid_table import DEFAULT_PATH as UID_TABLE_PATH
from proofpix_plugins.runtime.host.uid_table import UidTable
from proofpix_plugins.runtime.host.worker_handle import WorkerDied, WorkerHandle
from proofpix_plugins.runtime.outcome import CallOutcome, LiveWorker, SandboxReport
from proofpix_plugins.runtime.sandbox import control, wire
from proofpix_plugins.runtime.sandbox.import_policy import NEVER, PERMISSION_MODULES, STDLIB_ALLOWED
from proofpix_plugins.runtime.spec import PERMISSIONS, CallInfo, PluginSpec

__all__ = [
    "CallOutcome",
    "HookCaller",
    "LiveWorker",
    "LoadError",
    "NotLoaded",
    "PoolClosed",
    "SandboxReport",
    "WorkerPool",
]

log = structlog.get_logger("proofpix.runtime.pool")

#: How a plugin's ``ctx.events.call(hook, data)`` reaches the hook bus: the bus registers one
#: with :meth:`WorkerPool.set_hook_caller`. ``info`` is the CALLER's CallInfo (same call_id)
#: with ``depth`` already incremented; raise CapabilityError/CapabilityDenied to refuse.
HookCaller = Callable[[CallInfo, str, Any], Awaitable[Any]]

_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: Threads a worker may run (pids.max counts tasks); fork is refused by seccomp anyway.
PIDS_MAX = 32


@dataclasses.dataclass
class _Plugin:
    spec: PluginSpec
    scratch: Path
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    worker: WorkerHandle | None = None


class WorkerPool:
    """Warm sandboxed workers keyed by (org_id, plugin_id)."""

    def __init__(self, config: RuntimeConfig, broker: Broker) -> None:
        self.config = config
        self.broker = broker
        self._template = TemplateClient(self._on_exit)
        self._plugins: dict[tuple[str, str], _Plugin] = {}
        self._live: OrderedDict[tuple[str, str], WorkerHandle] = OrderedDict()
        self._by_pid: dict[int, WorkerHandle] = {}
        self._hook_caller: HookCaller | None = None
        self._caps = CapabilityHost(
            broker,
            http_test_allow_loopback=config.http_test_allow_loopback,
            hook_caller=lambda: self._hook_caller,
        )
        self._report: SandboxReport | None = None
        self._host_layers: dict[str, bool] = {}
        self._cgroups: cgroup.Hierarchy | None = None
        self._read_only: list[str] = []
        self._started = False
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None
        self._template_lock = asyncio.Lock()
        self._stray_groups: list[cgroup.Group] = []
        #: Why scratch dirs cannot be capped tmpfs mounts here, or None when they are.
        self._scratch_gap: str | None = "not probed"
        #: This process's scratch dirs: API processes sharing a data dir never touch each
        #: other's (pid and start time name it, so a dead process's dir is recognisable).
        self._scratch_root = config.base_dir / "scratch" / _process_instance(os.getpid())
        self._uids = UidTable(config.uid_table or UID_TABLE_PATH, self._scratch_root.name,
                              enabled="uid_table" not in config.disabled_layers)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Exec the template, detect the layers, prepare the base dir; idempotent."""
        if self._closed:
            raise PoolClosed("this pool was closed; create a new one")
        if self._started:
            return
        self._prepare_base_dir()
        # In our own root: another process starting on this base dir sweeps anything else.
        self._scratch_gap = scratch_fs.probe(self._scratch_root)
        self._cgroups = cgroup.detect()
        self._read_only = _runtime_read_only_paths()
        await self._start_template()
        self._started = True
        self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())
        report = self.sandbox_report()
        log.info("sandbox runtime started", **report.as_dict())
        if report.level != "full":
            log.warning("sandbox is not complete", missing=report.missing, level=report.level)

    async def _start_template(self) -> None:
        hello = await self._template.start(self.config.disabled_layers)
        layers = dict(hello.layers)
        layers["cgroup"] = self._cgroups is not None
        details = dict(hello.details)
        if self._cgroups is None:
            details["cgroup"] = "no writable cgroup hierarchy with memory and pids controllers"
        else:
            details["cgroup"] = f"cgroup v{self._cgroups.version} at {self._cgroups.memory}"
        layers["scratch_quota"] = self._scratch_gap is None
        details["scratch_quota"] = self._scratch_gap or (
            f"tmpfs per scratch dir: {self.config.scratch_mb} MiB, "
            f"{self.config.scratch_inodes} inodes")
        if hello.preload_failed:
            details["import_policy"] = "not preloaded: " + ", ".join(hello.preload_failed[:20])
        self._host_layers = layers
        self._report = detect.build_report(
            layers, details, hello.landlock_abi, self.config.disabled_layers,
            insecure_dev=self.config.insecure_dev,
        )

    def _prepare_base_dir(self) -> None:
        base = self.config.base_dir
        base.mkdir(parents=True, exist_ok=True)
        scratch = base / "scratch"
        scratch.mkdir(exist_ok=True)
        for other in scratch.iterdir():
            if other.name != self._scratch_root.name and not _instance_alive(other.name):
                # Left by a server that died without cleaning up: nothing uses it any more.
                _drop_scratch(other)
        self._scratch_root.mkdir(mode=0o711, exist_ok=True)
        if self._drops_uid():
            for d in (base, scratch, self._scratch_root):
                d.chmod(d.stat().st_mode | 0o711)
            blocked = _untraversable_ancestor(scratch)
            if blocked is not None:
                raise PoolClosed(
                    f"base_dir {base}: {blocked} (mode {stat.filemode(blocked.stat().st_mode)}) "
                    "is not traversable by plugin uids; choose a base dir whose ancestors are "
                    "o+x, e.g. under /srv or /tmp"
                )

    def _drops_uid(self) -> bool:
        return os.geteuid() == 0 and "uid" not in self.config.disabled_layers

    async def close(self) -> None:
        """Kill every worker and the template; returns when no process of ours is left."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        workers = list(self._by_pid.values()) + [
            p.worker for p in self._plugins.values() if p.worker is not None
        ]
        for w in workers:
            w.kill("pool closed")
        await self._template.close()
        deadline = time.monotonic() + 5
        for w in workers:
            # The template reaps its workers after our control socket closes; nothing notifies
            # us then, so poll /proc until the pid is gone.
            while w.pid and _pid_alive(w.pid) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            w.release_group()
            if w.pidfd >= 0:
                os.close(w.pidfd)
                w.pidfd = -1
        for group in self._stray_groups:
            cgroup.remove(group)
        self._stray_groups.clear()
        _drop_scratch(self._scratch_root)
        self._uids.release_all()
        self._live.clear()
        self._by_pid.clear()

    def sandbox_report(self) -> SandboxReport:
        if self._report is None:
            raise PoolClosed("the pool is not started")
        return self._report

    def set_hook_caller(self, caller: HookCaller | None) -> None:
        self._hook_caller = caller

    @property
    def template_pid(self) -> int | None:
        return self._template.pid

    # -- load / unload / config ------------------------------------------------------------------

    async def load(self, spec: PluginSpec) -> None:
        """Validate, start the warm worker and import the plugin; LoadError says why not."""
        self._check_open()
        _validate_spec(spec)
        report = self.sandbox_report()
        reason = detect.refusal(report, self._host_layers)
        if reason is not None and not self.config.insecure_dev:
            raise LoadError(reason)
        if report.level != "full" and self.config.insecure_dev:
            log.warning(
                "INSECURE: loading an untrusted plugin without a full sandbox",
                plugin=spec.plugin_id, org=spec.org_id, missing=report.missing,
            )
            await self._caps.record(spec, "insecure_load", {"missing": report.missing})
        if self._drops_uid():
            _check_readable_tree(spec.root)
        old = self._plugins.get(spec.key)
        if old is not None:
            await self.unload(*spec.key)
        if self._drops_uid():
            self._uids.acquire(*spec.key)
        try:
            scratch = self._make_scratch(spec)
        except BaseException:
            self._uids.release(*spec.key)
            raise
        entry = _Plugin(spec=spec, scratch=scratch)
        async with entry.lock:
            self._plugins[spec.key] = entry
            try:
                entry.worker = await self._spawn(entry)
            except BaseException:
                self._plugins.pop(spec.key, None)
                _drop_scratch(scratch)
                self._uids.release(*spec.key)
                raise

    async def unload(self, org_id: str, plugin_id: str) -> None:
        entry = self._plugins.pop((org_id, plugin_id), None)
        if entry is None:
            return
        if entry.worker is not None:
            entry.worker.kill("unloaded")
            self._live.pop(entry.spec.key, None)
        _drop_scratch(entry.scratch)
        self._uids.release(org_id, plugin_id)

    async def update_config(self, org_id: str, plugin_id: str, config: Mapping[str, Any]) -> None:
        """Replace the plugin's config; the running worker sees it on its next call."""
        entry = self._plugins.get((org_id, plugin_id))
        if entry is None:
            raise NotLoaded(f"{plugin_id} is not loaded for {org_id}")
        new = dataclasses.replace(entry.spec, config=MappingProxyType(dict(config)))
        frame = _encode_or_load_error(wire.Configure(config=new.visible_config()), "config")
        entry.spec = new
        w = entry.worker
        if w is not None and not w.dead:
            w.spec = new
            with contextlib.suppress(WorkerDied):
                w.send(frame)

    def is_loaded(self, org_id: str, plugin_id: str) -> bool:
        return (org_id, plugin_id) in self._plugins

    def spec_of(self, org_id: str, plugin_id: str) -> PluginSpec | None:
        entry = self._plugins.get((org_id, plugin_id))
        return entry.spec if entry is not None else None

    def live_workers(self) -> list[LiveWorker]:
        return [
            LiveWorker(w.pid, w.spec.org_id, w.spec.plugin_id, w.calls, w.rss_kb())
            for w in self._live.values()
            if not w.dead
        ]

    # -- calls ------------------------------------------------------------------------------------

    async def call(
        self,
        key: tuple[str, str],
        hook: str,
        data: Any,
        *,
        timeout_ms: int,
        info: CallInfo,
    ) -> CallOutcome:
        """One hook call into the plugin's warm worker; never raises for plugin misbehaviour."""
        started = time.perf_counter()
        self._check_open()
        entry = self._plugins.get(key)
        if entry is None:
            raise NotLoaded(f"{key[1]} is not loaded for {key[0]}")
        spec = entry.spec
        binding = spec.hooks.get(hook)
        if binding is None:
            return _outcome("error", started, error=f"{spec.plugin_id} has no handler for {hook!r}")
        budget_ms = max(1, min(timeout_ms, spec.timeout_ms))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_ms / 1000
        if info.deadline:
            deadline = min(deadline, loop.time() + max(0.0, info.deadline - time.time()))
        busy = entry.worker.current if entry.worker is not None else None
        if info.depth > 0 and busy is not None and busy.info.call_id == info.call_id:
            # A nested call back into the plugin whose handler is waiting for it would wait
            # for itself until the deadline; other nested calls simply queue.
            return _outcome("error", started,
                            error=f"{spec.plugin_id} is busy: re-entrant hook call refused")
        try:
            async with asyncio.timeout_at(deadline):
                await entry.lock.acquire()
        except TimeoutError:
            return _outcome("timeout", started,
                            error=f"timed out after {budget_ms} ms waiting for a busy worker")
        try:
            if self._plugins.get(key) is not entry:  # unloaded or replaced while we queued
                raise NotLoaded(f"{key[1]} was unloaded for {key[0]}")
            return await self._call_locked(entry, binding.handler, hook, data, info, deadline,
                                           budget_ms, started)
        finally:
            entry.lock.release()

    async def _call_locked(
        self, entry: _Plugin, handler: str, hook: str, data: Any, info: CallInfo,
        deadline: float, budget_ms: int, started: float,
    ) -> CallOutcome:
        spec = entry.spec
        w = entry.worker
        if w is not None and not w.dead and w.exited():
            # It died while idle (killed, its template gone) and the loop has not yet seen the
            # channel close: this call goes to a fresh worker instead of failing unsent.
            w.kill("exited while idle")
        if w is None or w.dead:
            try:
                async with asyncio.timeout_at(deadline):
                    w = entry.worker = await self._spawn(entry)
            except TimeoutError:
                return _outcome("timeout", started,
                                error=f"timed out after {budget_ms} ms starting the worker")
            except (LoadError, PoolClosed) as exc:
                return _outcome("crashed", started, error=f"worker restart failed: {exc}")
        self._live.move_to_end(spec.key)
        cpu_budget = spec.cpu_seconds if spec.cpu_seconds is not None else budget_ms / 1000 + 1
        cur = w.begin(info)
        try:
            frame = wire.encode(wire.Call(
                id=cur.id, hook=hook, handler=handler, data=data, call_id=info.call_id,
                file_id=info.file_id, depth=info.depth, deadline=info.deadline,
                cpu_seconds=cpu_budget,
            ))
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError) as exc:
            w.end(cur)
            return _outcome("error", started, error=f"hook data is not serializable: {exc}")
        if len(frame) - wire.HEADER.size > self.config.max_frame_bytes:
            w.end(cur)
            return _outcome("error", started, error="hook data exceeds the frame cap")
        try:
            w.send(frame)
            async with asyncio.timeout_at(deadline):
                result = await cur.fut
        except TimeoutError:
            w.kill(f"timed out after {budget_ms} ms")
            await self._caps.record(spec, "timed_out", {"hook": hook, "timeoutMs": budget_ms,
                                                        "callId": info.call_id})
            return _outcome("timeout", started, error=f"timed out after {budget_ms} ms",
                            counters=cur.counters)
        except WorkerDied as exc:
            reason = await self._death_reason(w, exc)
            await self._caps.record(spec, "crashed", {"hook": hook, "reason": reason,
                                                      "callId": info.call_id})
            return _outcome("crashed", started, error=reason, counters=cur.counters)
        finally:
            w.end(cur)
            w.last_used = time.monotonic()
        w.calls += 1
        w.cpu_ms += result.cpu_ms
        w.peak_rss_kb = max(w.peak_rss_kb, result.peak_rss_kb)
        if result.kind == "fatal":
            w.kill(result.error)
            await self._caps.record(spec, "crashed", {"hook": hook, "reason": result.error,
                                                      "callId": info.call_id})
            status = "crashed"
        elif result.ok:
            status = "ok"
        else:
            status = "denied" if result.kind == "denied" else "error"
        self._maybe_recycle(w, cpu_budget)
        return _outcome(
            status, started, result=result.value if result.ok else None,
            error=None if result.ok else result.error, counters=cur.counters,
            cpu_ms=result.cpu_ms, peak_rss_kb=result.peak_rss_kb,
        )

    def _maybe_recycle(self, w: WorkerHandle, cpu_budget: float) -> None:
        why = None
        if w.calls >= self.config.recycle_calls:
            why = f"recycled after {w.calls} calls"
        elif w.peak_rss_kb > self.config.recycle_rss_mb * 1024:
            why = f"recycled at {w.peak_rss_kb // 1024} MiB peak RSS"
        elif w.cpu_ms / 1000 > _cpu_hard(cpu_budget) / 2:
            why = "recycled before its lifetime CPU limit"
        if why is not None:
            log.info("worker recycled", plugin=w.spec.plugin_id, reason=why)
            w.kill(why)
            self._live.pop(w.spec.key, None)

    async def _death_reason(self, w: WorkerHandle, exc: WorkerDied) -> str:
        if exc.reason is not None and w.reason is not None:
            return w.reason
        try:
            async with asyncio.timeout(1.0):
                status = await asyncio.shield(w.exit_status)
        except TimeoutError:
            return w.reason or "broken channel: the worker closed it without exiting"
        reason = describe_exit(status, oom=w.oom_killed())
        w.release_group()
        return reason

    # -- spawning ---------------------------------------------------------------------------------

    async def _spawn(self, entry: _Plugin) -> WorkerHandle:
        await self._ensure_template()
        try:
            return await self._spawn_once(entry)
        except PoolClosed:
            # The template died under this spawn (its exit noticed mid-way): a new template
            # gets one more try; a closed pool is final, and so is a second death.
            if self._closed or self._template.alive:
                raise
        await self._ensure_template()
        return await self._spawn_once(entry)

    async def _ensure_template(self) -> None:
        self._template.poll()  # an exit the event loop has not delivered yet counts already
        if not self._template.alive:
            async with self._template_lock:
                if not self._template.alive and not self._closed:
                    log.warning("sandbox template died; restarting it")
                    await self._template.close()  # reap it
                    for pid, w in list(self._by_pid.items()):
                        # Its workers went with it and no template will report their exits:
                        # make sure (SIGKILL by pidfd), then release their pidfds and cgroups.
                        w.kill("the sandbox template died")
                        self._on_exit(pid, signal.SIGKILL)
                    self._template = TemplateClient(self._on_exit)
                    await self._start_template()

    async def _spawn_once(self, entry: _Plugin) -> WorkerHandle:
        self._make_room(entry.spec.key)
        spec = entry.spec
        loop = asyncio.get_running_loop()
        host_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        handle = WorkerHandle(spec, self._caps, self.config.max_frame_bytes,
                              self.config.log_rate_per_second)
        try:
            await loop.connect_accepted_socket(lambda: handle, host_sock)
        except BaseException:
            host_sock.close()
            child_sock.close()
            raise
        try:
            return await self._boot(entry, handle, child_sock)
        except BaseException:
            handle.kill("start failed")
            if handle.group is not None and not handle.pid:
                # Forked or not, we will never hear of this worker's exit: clean up at close.
                self._stray_groups.append(handle.group)
            raise
        finally:
            child_sock.close()

    async def _boot(
        self, entry: _Plugin, handle: WorkerHandle, child_sock: socket.socket
    ) -> WorkerHandle:
        spec = entry.spec
        boot = wire.Boot(
            org_id=spec.org_id, plugin_id=spec.plugin_id, version=spec.version,
            root=str(spec.root), entry=spec.entry,
            handlers={hook: b.handler for hook, b in spec.hooks.items()},
            permissions=sorted(spec.permissions), config=spec.visible_config(),
        )
        handle.send(_encode_or_load_error(boot, "config"))
        ids = (self._uids.uid(*spec.key),) * 2 if self._drops_uid() else None
        group = None
        if self._cgroups is not None and "cgroup" not in self.config.disabled_layers:
            name = "proofpix-" + hashlib.sha256(
                f"{spec.org_id}\0{spec.plugin_id}\0{time.monotonic_ns()}".encode()
            ).hexdigest()[:20]
            try:
                group = cgroup.create(self._cgroups, name, memory_mb=spec.memory_mb,
                                      pids_max=PIDS_MAX)
            except OSError as exc:
                raise LoadError(f"could not create the worker's cgroup: {exc}") from None
        handle.group = group
        cpu_budget = spec.cpu_seconds or spec.timeout_ms / 1000 + 1
        request = control.Spawn(
            req=0, plugin_root=str(spec.root), scratch=str(entry.scratch),
            read_only=self._read_only, uid=ids[0] if ids else None, gid=ids[1] if ids else None,
            memory_mb=spec.memory_mb, cpu_seconds_hard=_cpu_hard(cpu_budget), open_files=64,
            file_size_mb=64, cgroup_procs=[str(p) for p in group.procs_files] if group else [],
            disabled=sorted(self.config.disabled_layers),
            max_frame=self.config.max_frame_bytes,
        )
        wait_s = self.config.load_timeout_s
        try:
            pid = await self._template.spawn(request, child_sock.fileno(), wait_s)
        except TimeoutError:
            raise LoadError("the template did not fork a worker in time") from None
        handle.pid = pid
        self._by_pid[pid] = handle
        with contextlib.suppress(ProcessLookupError):
            handle.pidfd = os.pidfd_open(pid)
        try:
            async with asyncio.timeout(wait_s):
                ready = await handle.ready
        except TimeoutError:
            raise LoadError(f"{spec.plugin_id} did not become ready within {wait_s} s") from None
        except WorkerDied as exc:
            reason = await self._death_reason(handle, exc)
            raise LoadError(f"{spec.plugin_id} worker died while starting: {reason}") from None
        if not ready.ok:
            raise LoadError(f"{spec.plugin_id} could not be loaded: {ready.error}")
        handle.start_stages = dict(ready.stages)
        self._live[spec.key] = handle
        return handle

    def _make_room(self, key: tuple[str, str]) -> None:
        """Evict least recently used idle workers until a new one fits under the cap."""
        self._live.pop(key, None)
        while len(self._live) >= self.config.max_live_workers:
            victim = None
            for k in self._live:
                entry = self._plugins.get(k)
                if entry is None or not entry.lock.locked():
                    victim = k
                    break
            if victim is None:
                log.warning("every live worker is busy; exceeding max_live_workers")
                return
            w = self._live.pop(victim)
            w.kill("evicted (least recently used)")

    def scratch_mb(self, spec: PluginSpec) -> int:
        """A plugin's scratch cap. tmpfs pages count against its memory cgroup, so scratch gets
        at most half of ``memory_mb``: a full scratch dir is ENOSPC, never an OOM kill."""
        return max(1, min(self.config.scratch_mb, spec.memory_mb // 2))

    def _make_scratch(self, spec: PluginSpec) -> Path:
        name = hashlib.sha256(f"{spec.org_id}\0{spec.plugin_id}".encode()).hexdigest()[:32]
        path = self._scratch_root / name
        _drop_scratch(path)
        path.mkdir(mode=0o700)
        drops_uid = self._drops_uid()
        uid = self._uids.uid(*spec.key) if drops_uid else os.geteuid()
        if drops_uid:
            os.chown(path, uid, uid)
        if self._scratch_gap is None and "scratch_quota" not in self.config.disabled_layers:
            try:
                scratch_fs.mount(path, size_mb=self.scratch_mb(spec),
                                 inodes=self.config.scratch_inodes, uid=uid, gid=uid)
            except OSError as exc:
                _drop_scratch(path)
                raise LoadError(f"could not mount the plugin's scratch dir: {exc}") from None
        return path

    def _on_exit(self, pid: int, status: int) -> None:
        w = self._by_pid.pop(pid, None)
        if w is None:
            return
        w.on_exit(status)
        if self._live.get(w.spec.key) is w:
            self._live.pop(w.spec.key, None)

    async def _reap_idle(self) -> None:
        idle = self.config.idle_seconds
        interval = max(0.05, min(idle / 4, 10.0))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key, w in list(self._live.items()):
                entry = self._plugins.get(key)
                busy = entry is not None and entry.lock.locked() and entry.worker is w
                if not busy and now - w.last_used > idle:
                    self._live.pop(key, None)
                    w.kill("evicted after idling")

    def _check_open(self) -> None:
        if not self._started or self._closed:
            raise PoolClosed("the worker pool is not running")


# -- helpers ------------------------------------------------------------------------------------


def _outcome(
    status: Any, started: float, *, result: Any = None, error: str | None = None,
    counters: Any = None, cpu_ms: float | None = None, peak_rss_kb: int | None = None,
) -> CallOutcome:
    return CallOutcome(
        status=status, result=result, error=error,
        duration_ms=(time.perf_counter() - started) * 1000, cpu_ms=cpu_ms,
        peak_rss_kb=peak_rss_kb,
        http_calls=counters.http_calls if counters is not None else 0,
        storage_bytes=counters.storage_bytes if counters is not None else 0,
    )


def _cpu_hard(per_call: float) -> int:
    """A worker's lifetime CPU limit; the pool recycles it at half."""
    return int(max(120.0, per_call * 20))


def _encode_or_load_error(message: msgspec.Struct, what: str) -> bytes:
    try:
        return wire.encode(message)
    except (TypeError, msgspec.EncodeError) as exc:
        raise LoadError(f"{what} is not serializable: {exc}") from None


def _drop_scratch(path: Path) -> None:
    """Unmount every tmpfs at or below ``path``, then delete it."""
    with contextlib.suppress(OSError):
        for mounted in scratch_fs.mounted_under(path):
            scratch_fs.unmount(mounted)
    shutil.rmtree(path, ignore_errors=True)


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; empty when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_ticks(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else None  # field 22: start time


_pools_made = itertools.count()


def _process_instance(pid: int) -> str:
    """``<pid>-<start time>-<n>``: unique among the pools of every process of this boot."""
    return f"{pid}-{_start_ticks(pid)}-{next(_pools_made)}"


def _instance_alive(name: str) -> bool:
    """Whether the process that named this scratch root still runs (a reused pid does not)."""
    pid, _, rest = name.partition("-")
    start = rest.partition("-")[0]
    return pid.isdigit() and start == _start_ticks(int(pid))


def _pid_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def _runtime_read_only_paths() -> list[str]:
    """What Landlock lets a worker read besides its own tree: the interpreter and libraries."""
    paths = sysconfig.get_paths()
    wanted = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    wanted.append(str(Path(proofpix_sdk.__file__).resolve().parent))
    out: list[str] = []
    for p in wanted:
        if p and os.path.isdir(p) and p not in out:
            out.append(p)
    return out


def _untraversable_ancestor(path: Path) -> Path | None:
    for d in [path, *path.resolve().parents]:
        if not d.stat().st_mode & stat.S_IXOTH:
            return d
    return None


def _check_readable_tree(root: Path) -> None:
    """After the uid drop the worker reads the plugin as 'other': say what blocks it."""
    blocked = _untraversable_ancestor(root)
    if blocked is not None:
        raise LoadError(
            f"plugin tree {root}: {blocked} is not traversable by the plugin uid "
            f"(mode {stat.filemode(blocked.stat().st_mode)}; needs o+x)"
        )
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            if p.stat().st_mode & 0o005 != 0o005:
                raise LoadError(f"plugin tree: directory {p} needs o+rx for the plugin uid")
        for name in filenames:
            p = Path(dirpath) / name
            if not p.stat().st_mode & stat.S_IROTH:
                raise LoadError(f"plugin tree: file {p} needs o+r for the plugin uid")


def _validate_spec(spec: PluginSpec) -> None:
    errors: list[FieldError] = []
    unknown = sorted(set(spec.permissions) - PERMISSIONS)
    if unknown:
        errors.append(FieldError("permissions", f"unknown permission(s) {unknown}", "enum"))
    if not _ENTRY.match(spec.entry):
        errors.append(FieldError("entry", "must be a dotted Python module name", "pattern",
                                 spec.entry))
    else:
        top = spec.entry.split(".")[0]
        reserved = (top in sys.stdlib_module_names or top in PERMISSION_MODULES
                    or top in {n.split(".")[0] for n in (*NEVER, *STDLIB_ALLOWED)})
        if reserved:
            errors.append(FieldError("entry", f"{top!r} would shadow a library module",
                                     "reserved", spec.entry))
    for hook, binding in spec.hooks.items():
        if not _HANDLER.match(binding.handler):
            errors.append(FieldError(f"hooks.{hook}.handler", "must be a Python identifier",
                                     "pattern", binding.handler))
    if not 16 <= spec.memory_mb <= 1024:
        errors.append(FieldError("resources.memory_mb", "must be 16-1024", "range",
                                 spec.memory_mb))
    if not 1 <= spec.timeout_ms <= 30000:
        errors.append(FieldError("resources.timeout_ms", "must be 1-30000", "range",
                                 spec.timeout_ms))
    if spec.cpu_seconds is not None and not 0 < spec.cpu_seconds <= 300:
        errors.append(FieldError("resources.cpu_seconds", "must be in (0, 300]", "range",
                                 spec.cpu_seconds))
    root = Path(spec.root)
    if not root.is_dir():
        errors.append(FieldError("root", "plugin tree does not exist", "exists", str(root)))
    elif _ENTRY.match(spec.entry):
        rel = Path(*spec.entry.split("."))
        module_file = rel.parent / (rel.name + ".py")
        if not ((root / rel / "__init__.py").is_file() or (root / module_file).is_file()):
            errors.append(FieldError("entry", f"module {spec.entry!r} not found in the tree",
                                     "exists", spec.entry))
    if errors:
        raise LoadError(f"plugin {spec.plugin_id} cannot be loaded", errors=tuple(errors))
