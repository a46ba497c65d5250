"""The template ("zygote"): a clean interpreter the host execs once, which forks workers.

It is started with ``python -I -m proofpix_plugins.runtime.sandbox.template <control fd>`` and an
empty environment, so it holds no host secrets, fds or threads. It pre-imports the worker
runtime, the SDK and every module the import policy allows, enters an empty network namespace
(root), compiles the seccomp filter once, then forks one worker per Spawn request it reads
from the control socket. It reports each worker's exit status, and when the host goes away
(control socket EOF, or the parent-death signal) it and all its workers die.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import NoReturn

import msgspec

from proofpix_plugins.runtime.sandbox import control, handles, import_policy
from proofpix_plugins.runtime.sandbox import worker as worker_mod
from proofpix_plugins.runtime.sandbox.hardening import (
    fsview,
    landlock,
    namespaces,
    netns,
    prctl,
    seccomp,
    uid,
)


def _detect_and_prepare(
    disabled: set[str],
) -> tuple[dict[str, bool], dict[str, str], int, seccomp.Filters | None]:
    layers: dict[str, bool] = {}
    details: dict[str, str] = {}
    abi = landlock.abi_version()
    layers["landlock"] = abi >= 1
    details["landlock"] = f"ABI {abi}" if abi else "kernel has no Landlock"
    if abi and abi < 4:
        details["landlock"] += " (no TCP rules: seccomp and netns carry network denial)"
    filters: seccomp.Filters | None = None
    try:
        filters = seccomp.compile_filters()
        layers["seccomp"] = True
    except Exception as exc:  # report, never crash the template
        layers["seccomp"] = False
        details["seccomp"] = f"unavailable: {exc}"
    layers["netns"] = False
    if os.geteuid() == 0 and "netns" not in disabled:
        try:
            netns.enter_empty_netns()
            layers["netns"] = True
        except OSError as exc:
            details["netns"] = f"unshare(CLONE_NEWNET) failed: {exc}"
    elif os.geteuid() != 0:
        details["netns"] = "host is not root (user namespaces not used)"
    else:
        layers["netns"] = True  # available; the test switch turns it off in the report
    layers["ipcns"], layers["mountns"] = _probe_namespaces(details)
    layers["uid"] = uid.available()
    if not layers["uid"]:
        details["uid"] = "host is not root: plugins share the host's uid"
    # The host allocates from its machine-wide table whenever it drops the uid.
    layers["uid_table"] = layers["uid"]
    layers["rlimits"] = True
    layers["nnp"] = True
    layers["import_policy"] = True
    return layers, details, abi, filters


def _probe_namespaces(details: dict[str, str]) -> tuple[bool, bool]:
    """Do in a throwaway child what each worker will do: unshare, then pivot into a view."""
    if os.geteuid() != 0:
        why = "host is not root (user namespaces not used)"
        details["ipcns"] = details["mountns"] = why
        return False, False
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            namespaces.unshare(ipc=True, mount=False)
            code = 2
            namespaces.unshare(ipc=False, mount=True)
            stdlib = os.path.dirname(os.__file__)
            fsview.confine([stdlib], [], mount_at=stdlib)
            code = 0 if os.listdir("/") and not os.path.exists("/proc/self") else 3
        except BaseException as exc:
            os.write(write, str(exc).encode()[:500])
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        error = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    ipc, mount = code in (0, 2, 3), code == 0
    if not ipc:
        details["ipcns"] = f"unshare(CLONE_NEWIPC) failed: {error}"
    if not mount:
        details["mountns"] = f"mount namespace view failed: {error or f'status {code}'}"
    return ipc, mount


def main(argv: list[str]) -> int:
    ctrl_fd = int(argv[1])
    disabled = set(argv[2].split(",")) if len(argv) > 2 and argv[2] else set()
    parent = os.getppid()
    prctl.die_with_parent()
    if os.getppid() != parent:
        return 1
    ctrl = socket.socket(fileno=ctrl_fd)
    failed = import_policy.preload()
    with contextlib.suppress(Exception):
        from PIL import Image

        Image.init()  # register every format plugin now: lazy imports fail after the uid drop
    layers, details, abi, filters = _detect_and_prepare(disabled)
    import_policy.plan_forgetting()
    handles.plan()
    devnull = os.open(os.devnull, os.O_RDWR)
    # Objects that exist now are never collected in workers, so their pages stay shared.
    gc.collect()
    gc.freeze()
    ctrl.send(
        control.encoder.encode(
            control.Hello(
                pid=os.getpid(), layers=layers, details=details, landlock_abi=abi,
                preload_failed=failed,
            )
        )
    )
    return _loop(ctrl, devnull, filters)


class _Spares:
    """One worker forked ahead of time, waiting for its job on a private socket.

    The fork (copying the page tables of a ~40 MB template) then happens after a Spawn is
    answered instead of before, taking it off the cold-load path.
    """

    def __init__(
        self,
        devnull: int,
        filters: seccomp.Filters | None,
        closing: tuple[socket.socket, selectors.BaseSelector],
        children: set[int],
    ) -> None:
        self.devnull = devnull
        self.filters = filters
        self.closing = closing
        self.children = children
        self.me = os.getpid()
        self.ready: tuple[int, socket.socket] | None = None

    def refill(self) -> None:
        if self.ready is not None:
            return
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            parent_end.close()
            child_end.close()
            return
        if pid == 0:
            parent_end.close()
            _become_spare(child_end, self.devnull, self.filters, self.me, self.closing)
        child_end.close()
        self.children.add(pid)
        self.ready = (pid, parent_end)

    def hand_over(self, data: bytes, fd: int) -> int:
        """Give a job to the spare (forking one if needed); returns its pid, or -1."""
        for _ in range(2):
            self.refill()
            if self.ready is None:
                return -1
            pid, sock = self.ready
            self.ready = None
            try:
                socket.send_fds(sock, [data], [fd])
            except OSError:
                continue  # the spare died; fork another
            finally:
                sock.close()
            return pid
        return -1


def _become_spare(
    job: socket.socket,
    devnull: int,
    filters: seccomp.Filters | None,
    template_pid: int,
    closing: tuple[socket.socket, selectors.BaseSelector],
) -> NoReturn:
    # Child: forget the template's event loop before anything else.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    ctrl, sel = closing
    with contextlib.suppress(Exception):
        sel.close()
    with contextlib.suppress(OSError):
        ctrl.detach()
    try:
        prctl.die_with_parent()
        if os.getppid() != template_pid:
            os._exit(0)
        data, fds, _flags, _addr = socket.recv_fds(job, control.MAX_MESSAGE, 4)
        spawn = control.to_template.decode(data)
    except BaseException:  # no job, or the template went away: nothing to clean up
        os._exit(0)
    if len(fds) != 1:
        os._exit(0)
    worker_mod.run(fds[0], devnull, spawn, filters, template_pid, time.perf_counter())


def _loop(ctrl: socket.socket, devnull: int, filters: seccomp.Filters | None) -> int:
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(ctrl, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: set[int] = set()
    spares = _Spares(devnull, filters, (ctrl, sel), children)
    spares.refill()
    try:
        while True:
            for key, _ in sel.select():
                if key.fileobj == wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                    _reap(ctrl, children, spares)
                    continue
                try:
                    data, fds, _flags, _addr = socket.recv_fds(ctrl, control.MAX_MESSAGE, 4)
                except OSError:
                    return 0
                if not data:
                    return 0  # the host is gone
                try:
                    spawn = control.to_template.decode(data)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    for fd in fds:
                        os.close(fd)
                    _send(ctrl, control.SpawnFailed(req=-1, error=f"bad request: {exc}"))
                    continue
                if len(fds) != 1:
                    for fd in fds:
                        os.close(fd)
                    _send(ctrl, control.SpawnFailed(req=spawn.req, error="expected one fd"))
                    continue
                pid = spares.hand_over(data, fds[0])
                os.close(fds[0])
                if pid < 0:
                    _send(ctrl, control.SpawnFailed(req=spawn.req, error="fork failed"))
                else:
                    _send(ctrl, control.Spawned(req=spawn.req, pid=pid))
                spares.refill()
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _reap(ctrl: socket.socket, children: set[int], spares: _Spares) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        if spares.ready is not None and spares.ready[0] == pid:
            spares.ready[1].close()  # a spare that died idle is simply replaced
            spares.ready = None
            spares.refill()
            continue
        _send(ctrl, control.Exited(pid=pid, status=status))


def _send(ctrl: socket.socket, message: msgspec.Struct) -> None:
    with contextlib.suppress(OSError):
        ctrl.send(control.encoder.encode(message))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
