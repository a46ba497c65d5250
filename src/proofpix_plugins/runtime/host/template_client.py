"""The host's handle on the template process: start it by exec, ask it to fork workers,
learn how they exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable

import msgspec

from proofpix_plugins.runtime.errors import LoadError, PoolClosed
from proofpix_plugins.runtime.sandbox import control


class TemplateClient:
    """One template process and its SEQPACKET control socket, driven from the event loop."""

    def __init__(self, on_exit: Callable[[int, int], None]) -> None:
        self._on_exit = on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.hello: control.Hello | None = None
        self._hello_fut: asyncio.Future[control.Hello] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next = 0
        self.alive = False

    async def start(self, disabled: frozenset[str], wait_s: float = 30.0) -> control.Hello:
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # -I: no user site, no PYTHON* variables; an empty environment keeps host secrets
            # (database URL, JWT key) out of the template and therefore out of every worker.
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-m", "proofpix_plugins.runtime.sandbox.template",
                str(child.fileno()), ",".join(sorted(disabled)),
                pass_fds=(child.fileno(),),
                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                cwd="/",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                # Its own session: a terminal's Ctrl-C reaches the server, which then closes
                # the pool in order, instead of killing the template behind its back.
                start_new_session=True,
            )
        finally:
            child.close()
        host.setblocking(False)
        self.sock = host
        loop = asyncio.get_running_loop()
        self._hello_fut = loop.create_future()
        loop.add_reader(host.fileno(), self._readable)
        self.alive = True
        try:
            async with asyncio.timeout(wait_s):
                self.hello = await self._hello_fut
        except (TimeoutError, PoolClosed):
            await self.close()
            raise PoolClosed("the sandbox template process did not start") from None
        return self.hello

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(control.MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            try:
                msg = control.from_template.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if isinstance(msg, control.Hello):
                if self._hello_fut is not None and not self._hello_fut.done():
                    self._hello_fut.set_result(msg)
            elif isinstance(msg, control.Spawned):
                fut = self._pending.pop(msg.req, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg.pid)
            elif isinstance(msg, control.SpawnFailed):
                fut = self._pending.pop(msg.req, None)
                if fut is not None and not fut.done():
                    fut.set_exception(LoadError(f"the template could not fork: {msg.error}"))
            elif isinstance(msg, control.Exited):
                self._on_exit(msg.pid, msg.status)

    def poll(self) -> None:
        """Handle what waits on the control socket now, an exit included, without the loop."""
        if self.alive and self.sock is not None:
            self._readable()

    def _lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        err = PoolClosed("the sandbox template process exited")
        if self._hello_fut is not None and not self._hello_fut.done():
            self._hello_fut.set_exception(err)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()

    async def spawn(self, request: control.Spawn, fd: int, wait_s: float) -> int:
        """Send a Spawn with ``fd`` attached; returns the worker's pid."""
        if not self.alive or self.sock is None:
            raise PoolClosed("the sandbox template process is not running")
        self._next += 1
        req = self._next
        data = control.encoder.encode(msgspec.structs.replace(request, req=req))
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[req] = fut
        try:
            await self._send_with_fd(data, fd)
            async with asyncio.timeout(wait_s):
                return await fut
        finally:
            self._pending.pop(req, None)

    async def _send_with_fd(self, data: bytes, fd: int) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                socket.send_fds(self.sock, [data], [fd])
                return
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_writer(self.sock.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(self.sock.fileno())

    async def close(self, wait_s: float = 5.0) -> None:
        """Closing the control socket makes the template kill and reap its workers, then exit."""
        self._lost()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        proc = self.proc
        if proc is None:
            return
        try:
            async with asyncio.timeout(wait_s):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            await proc.wait()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def describe_exit(status: int, *, oom: bool = False) -> str:
    """Turn a wait status into the reason a CallOutcome reports."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if oom and sig == signal.SIGKILL:
            return "out of memory: killed by the cgroup OOM killer (SIGKILL)"
        if sig == signal.SIGXCPU:
            return "CPU time limit exceeded (SIGXCPU)"
        if sig == signal.SIGSEGV:
            return "segmentation fault (SIGSEGV)"
        if sig == signal.SIGSYS:
            return "blocked system call (SIGSYS)"
        return f"killed by {name}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"
