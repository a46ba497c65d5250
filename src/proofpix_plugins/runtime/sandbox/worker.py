"""The worker: runs in a child forked from the template, hardens itself, imports one plugin,
serves its calls over the inherited channel until told to stop or killed.

Order matters (see docs/security-model.md, "Worker hardening layers"): everything that needs
root or an open path happens first, then the uid drop, rlimits, no_new_privs, Landlock and
seccomp, and only then the plugin's first import. The process is single-threaded throughout.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from proofpix_plugins.runtime.sandbox import handles, wire
from proofpix_plugins.runtime.sandbox.control import Spawn
from proofpix_plugins.runtime.sandbox.hardening import (
    fsview,
    landlock,
    namespaces,
    prctl,
    rlimits,
    seccomp,
    uid,
)
from proofpix_plugins.runtime.sandbox.import_policy import ImportPolicy
from proofpix_plugins.runtime.sandbox.import_policy import install as install_import_policy
from proofpix_plugins.runtime.sandbox.trace import plugin_frames
from proofpix_sdk import HookContext
from proofpix_sdk.errors import CapabilityError, PermissionDenied

_encode_raw = msgspec.msgpack.Encoder().encode


class ChannelBroken(Exception):
    """The host went away or broke the protocol: the worker exits."""


class WorkerChannel:
    """Blocking frame I/O on the inherited socket, and the SDK's Channel implementation."""

    def __init__(self, fd: int, max_frame: int) -> None:
        self.fd = fd
        self.max_frame = max_frame
        self.call_id = 0
        self._next_cap = 0
        self.config: dict[str, Any] = {}

    # -- frames -------------------------------------------------------------------------------

    def _read_exact(self, n: int) -> bytes:
        chunks: list[bytes] = []
        while n:
            chunk = os.read(self.fd, min(n, 1 << 20))
            if not chunk:
                raise ChannelBroken("host closed the channel")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read(self) -> wire.HostMessage:
        (size,) = wire.HEADER.unpack(self._read_exact(wire.HEADER.size))
        if size > self.max_frame:
            raise ChannelBroken(f"host frame of {size} bytes exceeds the cap")
        try:
            message: wire.HostMessage = wire.host_decoder.decode(self._read_exact(size))
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise ChannelBroken(f"bad host frame: {exc}") from None
        return message

    def send(self, message: msgspec.Struct) -> None:
        view = memoryview(wire.encode(message))
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    # -- proofpix_sdk.channel.Channel -----------------------------------------------------------

    def request(self, cap: str, args: dict[str, Any]) -> Any:
        self._next_cap += 1
        cap_id = self._next_cap
        try:
            self.send(wire.CapRequest(id=cap_id, call=self.call_id, cap=cap, args=args,
                                      sent=time.monotonic()))
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError) as exc:
            raise CapabilityError(f"{cap}: arguments are not serializable: {exc}") from None
        while True:
            message = self.read()
            if isinstance(message, wire.CapReply) and message.id == cap_id:
                if message.ok:
                    return message.value
                if message.kind == "denied":
                    raise PermissionDenied(message.message, message.permission)
                raise CapabilityError(message.message)
            if isinstance(message, wire.Configure):
                self.config = message.config
            elif isinstance(message, wire.Stop):
                raise SystemExit(0)
            else:
                raise ChannelBroken(f"unexpected {type(message).__name__} while waiting for {cap}")

    def log(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        safe = {str(k)[:200]: _loggable(v) for k, v in list(fields.items())[:32]}
        self.send(wire.Log(level=str(level)[:20], msg=msg[:4000], fields=safe))

    def blocked(self, module: str, permission: str) -> None:
        with contextlib.suppress(OSError):
            self.send(wire.Blocked(module=module[:200], permission=permission))


def _loggable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:1000] if isinstance(value, str) else value
    return repr(value)[:1000]


# -- start-up ---------------------------------------------------------------------------------


def _isolate_fds(keep: int, devnull: int) -> None:
    """Nothing of the template survives but our channel; stdio goes nowhere."""
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    low, high = sorted((keep, devnull))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 65536)
    if devnull > 2:
        with contextlib.suppress(OSError):
            os.close(devnull)


_TEMPLATE_PID = 0


def _rearm_parent_death() -> None:
    """The kernel clears the parent-death signal when credentials change: set it again, and
    leave if the template died in between."""
    prctl.die_with_parent()
    if os.getppid() != _TEMPLATE_PID:
        os._exit(70)


def _no_lap(name: str) -> None:
    pass


def harden(
    spawn: Spawn, filters: seccomp.Filters | None, root: str, lap: Callable[[str], None] = _no_lap
) -> None:
    """Apply every enabled layer in an order that works for root and for the uid drop."""
    off = set(spawn.disabled)
    if spawn.cgroup_procs and "cgroup" not in off:
        for procs in spawn.cgroup_procs:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
        lap("cgroup")
    vm_baseline = rlimits.current_vm_bytes()  # /proc leaves the view below
    ro = [p for p in (*spawn.read_only, root) if os.path.exists(p)]
    ipc, mount = "ipcns" not in off, "mountns" not in off
    if os.geteuid() == 0 and (ipc or mount):  # user namespaces are not used: root only
        namespaces.unshare(ipc=ipc, mount=mount)
        lap("unshare")
        if mount:
            fsview.confine(ro, [spawn.scratch], mount_at=os.path.dirname(spawn.scratch))
            lap("fsview")
    ruleset = None
    if "landlock" not in off:
        # Open the rule paths while still root: the Python prefix may be 0700.
        ruleset = landlock.prepare([Path(p) for p in ro], [Path(spawn.scratch)])
        lap("landlock_prepare")
    os.chdir(spawn.scratch)
    ids = (spawn.uid, spawn.gid) if spawn.uid is not None and spawn.gid is not None else None
    drop = ids is not None and "uid" not in off
    # Without no_new_privs an unprivileged process may not restrict itself, so when that layer
    # is switched off (tests only) we restrict while still root and drop the uid last.
    late_drop = drop and "nnp" in off
    if ids is not None and drop and not late_drop:
        uid.drop_to(*ids)
        _rearm_parent_death()
        lap("uid")
    if "rlimits" not in off:
        rlimits.apply(
            rlimits.Limits(
                memory_mb=spawn.memory_mb,
                cpu_seconds_hard=spawn.cpu_seconds_hard,
                open_files=spawn.open_files,
                file_size_mb=spawn.file_size_mb,
            ),
            vm_baseline,
        )
        lap("rlimits")
    if "nnp" not in off:
        prctl.set_no_new_privs()
    if ruleset is not None:
        landlock.restrict(ruleset)
        lap("landlock")
    if filters is not None and "seccomp" not in off:
        seccomp.load(filters, os.getpid())
        lap("seccomp")
    if ids is not None and late_drop:
        uid.drop_to(*ids)
        _rearm_parent_death()


def _load_plugin(boot: wire.Boot) -> dict[str, Any]:
    module = importlib.import_module(boot.entry)
    handlers: dict[str, Any] = {}
    for hook, name in boot.handlers.items():
        fn = getattr(module, name, None)
        if not callable(fn):
            raise LookupError(f"hooks[{hook!r}].handler: {boot.entry}.{name} is not a function")
        handlers[name] = fn
    return handlers


def run(
    fd: int, devnull: int, spawn: Spawn, filters: seccomp.Filters | None, template_pid: int,
    forked_at: float = 0.0,
) -> NoReturn:
    """Entry point in the freshly forked child; never returns."""
    global _TEMPLATE_PID
    _TEMPLATE_PID = template_pid
    code = 0
    try:
        prctl.die_with_parent()
        if os.getppid() != template_pid:
            os._exit(70)
        _isolate_fds(fd, devnull)
        code = _serve(WorkerChannel(fd, spawn.max_frame), spawn, filters, forked_at)
    except BaseException:  # the child must never return into the template's loop
        code = 71
    os._exit(code)


def _serve(
    channel: WorkerChannel, spawn: Spawn, filters: seccomp.Filters | None,
    forked_at: float = 0.0,
) -> int:
    clock = time.perf_counter()
    stages: dict[str, float] = {}
    if forked_at:
        stages["fork_to_serve"] = round((clock - forked_at) * 1000, 3)

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round((now - clock) * 1000, 3)
        clock = now

    try:
        boot = channel.read()
    except ChannelBroken:
        return 72
    if not isinstance(boot, wire.Boot):
        return 72
    lap("boot")
    channel.config = boot.config
    stage = "hardening"
    try:
        harden(spawn, filters, boot.root, lap)
        stage = "import policy"
        if "import_policy" not in spawn.disabled and boot.import_policy:
            handles.drop()  # before install() moves these modules out of sys.modules
            lap("drop_handles")
            policy = ImportPolicy(boot.permissions, boot.entry)
            install_import_policy(policy, boot.root, channel.blocked)
        else:
            sys.path.insert(0, boot.root)
        lap("import_policy")
        stage = "plugin import"
        handlers = _load_plugin(boot)
        lap("plugin_import")
    except BaseException as exc:  # report why, whatever the plugin's import raised
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        with contextlib.suppress(Exception):
            channel.send(wire.Ready(pid=os.getpid(), ok=False, error=f"{stage}: {detail}"[:4000]))
        return 73
    channel.send(wire.Ready(pid=os.getpid(), ok=True, stages=stages))
    rlimits_on = "rlimits" not in spawn.disabled
    while True:
        try:
            message = channel.read()
        except ChannelBroken:
            return 0
        if isinstance(message, wire.Call):
            fatal = _call(channel, boot, handlers, message, rlimits_on)
            if fatal:
                return 75
        elif isinstance(message, wire.Configure):
            channel.config = message.config
        elif isinstance(message, wire.Stop):
            return 0
        else:
            return 74


def _call(
    channel: WorkerChannel,
    boot: wire.Boot,
    handlers: dict[str, Any],
    call: wire.Call,
    rlimits_on: bool,
) -> bool:
    """Run one handler and reply; True when the worker must exit afterwards."""
    channel.call_id = call.id
    if rlimits_on:
        rlimits.arm_cpu_budget(call.cpu_seconds)
    ctx = HookContext(
        plugin_id=boot.plugin_id,
        org_id=boot.org_id,
        hook=call.hook,
        deadline=call.deadline,
        config=channel.config,
        channel=channel,
        file_id=call.file_id,
        depth=call.depth,
    )
    fatal = False
    try:
        value = handlers[call.handler](call.data, ctx)
        reply = _result(call.id, ok=True, value=value)
    except ChannelBroken:
        raise SystemExit(0) from None
    except PermissionDenied as exc:
        reply = _result(call.id, ok=False, error=f"PermissionDenied: {exc}", kind="denied",
                        trace=plugin_frames(exc, boot.root))
    except MemoryError:
        reply = _result(call.id, ok=False, error="out of memory (MemoryError)", kind="fatal")
        fatal = True
    except BaseException as exc:  # a plugin may raise anything, SystemExit included
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reply = _result(call.id, ok=False, error=detail[:4000],
                        trace=plugin_frames(exc, boot.root))
    try:
        channel.send(reply)
    except (TypeError, ValueError, RecursionError, msgspec.EncodeError) as exc:
        error = f"handler returned a non-serializable value: {exc}"
        channel.send(_result(call.id, ok=False, error=error))
    channel.call_id = 0
    return fatal


def _result(
    call_id: int, *, ok: bool, value: Any = None, error: str = "", kind: str = "",
    trace: list[wire.TraceFrame] | None = None,
) -> wire.Result:
    # No CPU or memory figures: the plugin could forge them (it can replace ``time``); the host
    # reads them from the kernel (host/usage.py).
    return wire.Result(id=call_id, ok=ok, value=value, error=error, kind=kind, trace=trace or [])


# Keep a reference so the scrubbed sys.modules cannot make these unreachable for the runtime.
_KEEP = (signal, _encode_raw)
