"""The worker pool: one warm, hardened worker process per (organization, plugin).

Workers are forked by the template (``sandbox/template.py``, driven through
``template_client.py``), never by the server. The pool starts a worker on load, reuses it for
every call, kills it on timeout or protocol violation and starts a fresh one on the next call,
evicts idle workers, caps live ones (LRU), recycles after N calls or RSS growth, and on close
leaves no process behind.

Longer than our ~400-line norm on purpose: load, call, spawn, evict, recycle and close all read
and change one piece of state (the plugin table, the LRU of live workers, workers by pid, the
template) and rely on each other's locking; split across modules that state would have to be
shared. What does not touch it lives beside: ``scratch.py``, ``procfs.py``, ``fs_access.py``,
``spec.validate_spec`` and ``limits.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec
import structlog

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError, NotLoaded, PoolClosed
from proofpix_plugins.runtime.host import cgroup, detect, procfs, scratch
from proofpix_plugins.runtime.host.broker import Broker
from proofpix_plugins.runtime.host.capabilities import CapabilityHost, HookCaller
from proofpix_plugins.runtime.host.fs_access import check_readable_tree, runtime_read_only_paths
from proofpix_plugins.runtime.host.template_client import TemplateClient, describe_exit
from proofpix_plugins.runtime.host.uid_table import DEFAULT_PATH as UID_TABLE_PATH
from proofpix_plugins.runtime.host.uid_table import UidTable
from proofpix_plugins.runtime.host.usage import Usage
from proofpix_plugins.runtime.host.worker_handle import InFlight, WorkerDied, WorkerHandle
from proofpix_plugins.runtime.limits import (
    LOG_BYTES_PER_CALL,
    WORKER_FILE_SIZE_MB,
    WORKER_OPEN_FILES,
    WORKER_PIDS_MAX,
    call_cpu_seconds,
)
from proofpix_plugins.runtime.outcome import CallOutcome, LiveWorker, SandboxReport, TraceLine
from proofpix_plugins.runtime.sandbox import control, wire
from proofpix_plugins.runtime.spec import CallInfo, PluginSpec, validate_spec

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
        self._scratch = scratch.ScratchDirs(config, drops_uid=self._drops_uid())
        self._uids = UidTable(config.uid_table or UID_TABLE_PATH, self._scratch.root.name,
                              enabled="uid_table" not in config.disabled_layers)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Exec the template, detect the layers, prepare the base dir; idempotent."""
        if self._closed:
            raise PoolClosed("this pool was closed; create a new one")
        if self._started:
            return
        self._scratch.prepare()
        self._cgroups = cgroup.detect()
        self._read_only = runtime_read_only_paths()
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
        layers["scratch_quota"] = self._scratch.gap is None
        details["scratch_quota"] = self._scratch.gap or (
            f"tmpfs per scratch dir: {self.config.scratch_mb} MiB, "
            f"{self.config.scratch_inodes} inodes")
        if hello.preload_failed:
            details["import_policy"] = "not preloaded: " + ", ".join(hello.preload_failed[:20])
        self._host_layers = layers
        self._report = detect.build_report(
            layers, details, hello.landlock_abi, self.config.disabled_layers,
            insecure_dev=self.config.insecure_dev,
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
            while w.pid and procfs.pid_alive(w.pid) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            w.release_group()
            if w.usage is not None:
                w.usage.close()
            if w.pidfd >= 0:
                os.close(w.pidfd)
                w.pidfd = -1
        for group in self._stray_groups:
            cgroup.remove(group)
        self._stray_groups.clear()
        self._scratch.close()
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
        validate_spec(spec)
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
            check_readable_tree(spec.root)
        old = self._plugins.get(spec.key)
        if old is not None:
            await self.unload(*spec.key)
        uid = self._uids.acquire(*spec.key) if self._drops_uid() else None
        try:
            scratch_dir = self._scratch.make(spec, uid)
        except BaseException:
            self._uids.release(*spec.key)
            raise
        entry = _Plugin(spec=spec, scratch=scratch_dir)
        async with entry.lock:
            self._plugins[spec.key] = entry
            try:
                entry.worker = await self._spawn(entry)
            except BaseException:
                self._plugins.pop(spec.key, None)
                scratch.drop(scratch_dir)
                self._uids.release(*spec.key)
                raise

    async def unload(self, org_id: str, plugin_id: str) -> None:
        entry = self._plugins.pop((org_id, plugin_id), None)
        if entry is None:
            return
        if entry.worker is not None:
            entry.worker.kill("unloaded")
            self._live.pop(entry.spec.key, None)
        scratch.drop(entry.scratch)
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

    async def update_spec(self, spec: PluginSpec) -> None:
        """Apply a loaded plugin's changed grants (permissions, network hosts) at once.

        The host checks capabilities against the new spec from now on, a call in flight
        included. The worker is then replaced once it is idle (its import policy and the config
        it sees, secrets redacted or not, were fixed when it booted), so the next call runs on
        a fresh worker holding exactly the new grants. LoadError if that worker cannot start
        (the next call tries again).
        """
        self._check_open()
        validate_spec(spec)
        entry = self._plugins.get(spec.key)
        if entry is None:
            raise NotLoaded(f"{spec.plugin_id} is not loaded for {spec.org_id}")
        entry.spec = spec
        if entry.worker is not None and not entry.worker.dead:
            entry.worker.spec = spec
        async with entry.lock:
            if self._plugins.get(spec.key) is not entry:  # unloaded or replaced meanwhile
                return
            w = entry.worker
            if w is not None and not w.dead:
                w.kill("grants changed")
                self._live.pop(spec.key, None)
            entry.worker = None
            entry.worker = await self._spawn(entry)

    def is_loaded(self, org_id: str, plugin_id: str) -> bool:
        return (org_id, plugin_id) in self._plugins

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
        queue_ms: int | None = None,
    ) -> CallOutcome:
        """One hook call into the plugin's warm worker; never raises for plugin misbehaviour.

        ``timeout_ms`` bounds the plugin's run; ``queue_ms`` how long a top-level call may wait
        for the plugin's busy worker before that (None: the run's budget). A nested call's
        whole wait and run stay within its caller's deadline."""
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
        host_queue_ms = queue_ms if info.depth == 0 else None
        wait_ms = max(1, host_queue_ms) if host_queue_ms is not None else budget_ms
        deadline = loop.time() + wait_ms / 1000
        if info.deadline and host_queue_ms is None:
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
            return _outcome("timeout", started, ran=False,
                            error=f"timed out after {wait_ms} ms waiting for a busy worker")
        if info.depth == 0:
            # A top-level call's budget is its plugin's own run: the time it queued behind the
            # plugin's other calls (bounded by queue_ms above) is not taken from it, or
            # under load a call reaching the worker with a few ms left times out, has the worker
            # killed and counts against a healthy plugin (found by bench/load.py). A nested call
            # keeps its caller's deadline: the caller is waiting for it.
            deadline = loop.time() + budget_ms / 1000
            info = dataclasses.replace(info, deadline=time.time() + budget_ms / 1000)
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
        cpu_budget = call_cpu_seconds(spec.cpu_seconds, budget_ms)
        cur = w.begin(info)
        try:
            frame = wire.encode(wire.Call(
                id=cur.id, hook=hook, handler=handler, data=data, call_id=info.call_id,
                file_id=info.file_id, depth=info.depth, deadline=info.deadline,
                cpu_seconds=cpu_budget,
            ))
        except (TypeError, ValueError, OverflowError, RecursionError,
                msgspec.EncodeError) as exc:
            w.end(cur)
            return _outcome("error", started, error=f"hook data is not serializable: {exc}")
        if len(frame) - wire.HEADER.size > self.config.max_frame_bytes:
            w.end(cur)
            return _outcome("error", started, error="hook data exceeds the frame cap")
        usage = w.usage
        try:
            if usage is not None:
                cur.run_delay_at = usage.run_delay_s()
            w.send(frame)
            cur.handed_at = time.monotonic()
            # A top-level call's deadline moves by the time its storage, files and metadata
            # requests waited on the host, from their send to the reply, and by the time its
            # worker waited for a CPU (up to its budget again): on a loaded host a handler
            # waiting for the event loop, the database's write lock or a core timed out for the
            # host's capacity (bench/load.py's soak). A nested call keeps its caller's deadline.
            credit_s = budget_ms / 1000 if info.depth == 0 else 0.0

            def waited_for_cpu() -> float:
                if usage is None:
                    return 0.0
                return max(0.0, usage.run_delay_s() - cur.run_delay_at)

            result = await _result_by(cur, deadline, credit_s, waited_for_cpu)
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
        # Measured by the host, never reported by the worker (host/usage.py).
        cpu_ms = w.usage.call_cpu_ms() if w.usage is not None else None
        peak_kb = w.usage.peak_kb() if w.usage is not None else None
        w.cpu_ms += cpu_ms or 0.0
        w.peak_rss_kb = max(w.peak_rss_kb, peak_kb or 0)
        budget = info.budget
        if info.depth == 0 and budget.logs_dropped:
            log.warning("plugin log lines dropped", plugin=spec.plugin_id, org=spec.org_id,
                        dropped=budget.logs_dropped, limit_bytes=LOG_BYTES_PER_CALL)
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
            cpu_ms=cpu_ms, peak_rss_kb=peak_kb,
            trace=() if result.ok else trace_lines(result.trace),
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
                                      pids_max=WORKER_PIDS_MAX)
            except OSError as exc:
                raise LoadError(f"could not create the worker's cgroup: {exc}") from None
        handle.group = group
        cpu_budget = call_cpu_seconds(spec.cpu_seconds, spec.timeout_ms)
        request = control.Spawn(
            req=0, plugin_root=str(spec.root), scratch=str(entry.scratch),
            read_only=self._read_only, uid=ids[0] if ids else None, gid=ids[1] if ids else None,
            memory_mb=spec.memory_mb, cpu_seconds_hard=_cpu_hard(cpu_budget),
            open_files=WORKER_OPEN_FILES, file_size_mb=WORKER_FILE_SIZE_MB,
            cgroup_procs=[str(p) for p in group.procs_files] if group else [],
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
        handle.usage = Usage(pid, group)  # after start-up: a call's CPU is its own
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


async def _result_by(
    cur: InFlight, deadline: float, credit_cap_s: float,
    waited_for_cpu: Callable[[], float] = lambda: 0.0,
) -> wire.Result:
    """The call's result, waited for until ``deadline`` plus the host time its capability
    requests took (``cur.host_s``) and the time its worker waited for a CPU
    (``waited_for_cpu()``, read only when the deadline so far has passed), together at most
    ``credit_cap_s``; TimeoutError after that."""
    loop = asyncio.get_running_loop()
    cpu_wait = 0.0
    while True:
        remaining = deadline + min(cur.host_s + cpu_wait, credit_cap_s) - loop.time()
        if remaining <= 0:
            waited = waited_for_cpu()
            if waited > cpu_wait and cur.host_s + cpu_wait < credit_cap_s:
                cpu_wait = waited  # it waited for a core since the last look: look again
                continue
            raise TimeoutError
        try:
            done, _ = await asyncio.wait((cur.fut,), timeout=remaining)
        except asyncio.CancelledError:
            cur.fut.cancel()  # as awaiting it directly would: the caller gave up
            raise
        if done:
            return cur.fut.result()


def _outcome(
    status: Any, started: float, *, result: Any = None, error: str | None = None,
    counters: Any = None, cpu_ms: float | None = None, peak_rss_kb: int | None = None,
    trace: tuple[TraceLine, ...] = (), ran: bool = True,
) -> CallOutcome:
    return CallOutcome(
        status=status, result=result, error=error,
        duration_ms=(time.perf_counter() - started) * 1000, cpu_ms=cpu_ms,
        peak_rss_kb=peak_rss_kb,
        http_calls=counters.http_calls if counters is not None else 0,
        storage_bytes=counters.storage_bytes if counters is not None else 0,
        trace=trace, ran=ran,
    )


def trace_lines(frames: list[wire.TraceFrame]) -> tuple[TraceLine, ...]:
    """The worker's traceback frames as results carry them.

    The worker is the plugin's process, so its frames are only a claim about its own code: the
    wire already bounds their number and sizes; here a path that is not package-relative (an
    absolute path or one climbing out with '..') is shown as '<outside the package>'.
    """
    out = []
    for f in frames:
        parts = f.file.replace("\\", "/").split("/")
        inside = bool(f.file) and not f.file.startswith("/") and ".." not in parts
        out.append(TraceLine(f.file if inside else "<outside the package>", f.line, f.function,
                             f.code))
    return tuple(out)


def _cpu_hard(per_call: float) -> int:
    """A worker's lifetime CPU limit; the pool recycles it at half."""
    return int(max(120.0, per_call * 20))


def _encode_or_load_error(message: msgspec.Struct, what: str) -> bytes:
    try:
        return wire.encode(message)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise LoadError(f"{what} is not serializable: {exc}") from None
