"""The host's view of one running worker: its channel, the call in flight, how it died.

A little over our ~400-line norm: reading the channel (frames, their budgets, decoding large ones
off the loop), the call in flight and the capability requests it makes are one state machine per
worker; split, that state would be handed back and forth between modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import select
import signal
import struct
import termios
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import structlog

from proofpix_plugins.runtime.host import cgroup, frame_budget
from proofpix_plugins.runtime.host.capabilities import CallCounters, CapabilityHost
from proofpix_plugins.runtime.host.usage import Usage
from proofpix_plugins.runtime.limits import (
    LOG_BYTES_PER_CALL,
    LOG_FIELD_MAX_CHARS,
    LOG_FIELDS_MAX,
    LOG_LINE_MAX_BYTES,
    LOG_MSG_MAX_CHARS,
    UNREAD_REPLY_MAX_BYTES,
)
from proofpix_plugins.runtime.sandbox import wire
from proofpix_plugins.runtime.spec import CallInfo, PluginSpec

log = structlog.get_logger("proofpix.runtime.worker")

#: Import-policy refusals recorded per worker before further ones are only counted.
MAX_BLOCKED_EVENTS = 20
#: Capability requests whose time is the plugin's own choice, not the host's capacity: an
#: outbound fetch waits on the remote the plugin picked, a nested hook call on other plugins
#: (bounded by the caller's deadline). Every other request is served by the host alone.
UNCREDITED_CAPS = ("http.", "events.call")
#: Rate-limited log lines a worker may send (over its life) before it is killed for flooding.
MAX_DROPPED_LOGS = 100_000


class WorkerDied(Exception):
    """The worker's channel closed or the host killed it; ``reason`` when the host knows."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "worker exited")
        self.reason = reason


@dataclass
class InFlight:
    id: int
    info: CallInfo
    fut: asyncio.Future[wire.Result]
    counters: CallCounters = field(default_factory=CallCounters)
    cap_task: asyncio.Task[None] | None = None
    #: Seconds this call's host-side capability requests (its storage, files, metadata...)
    #: waited on the host, from the worker's send to the reply: credited back to its deadline.
    host_s: float = 0.0
    #: When the host last handed the worker control (the call sent, a reply written).
    handed_at: float = 0.0
    #: The worker's run-queue wait (``Usage.run_delay_s``) when the call was sent.
    run_delay_at: float = 0.0


def _waited_since(sent: float, handed_at: float) -> float:
    """When a capability request started waiting on the host: the worker's own stamp, trusted
    only between the moment the host last handed it control and now (a worker claiming an
    earlier send gains at most its own time since then, and the credit is capped anyway)."""
    now = time.monotonic()
    if not math.isfinite(sent):
        return now
    return min(max(sent, handed_at), now)


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = max(rate, 0.1)
        self.tokens = self.rate
        self.at = time.monotonic()
        self.dropped = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False


class WorkerHandle(asyncio.Protocol):
    """Frames in, frames out, for one worker; the pool drives calls through :meth:`request`."""

    def __init__(
        self,
        spec: PluginSpec,
        caps: CapabilityHost,
        max_frame: int,
        log_rate: float,
    ) -> None:
        self.spec = spec
        self.caps = caps
        self.reader = wire.FrameReader(max_frame)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[wire.Ready] = loop.create_future()
        self.exit_status: asyncio.Future[int] = loop.create_future()
        self.pid = 0
        self.pidfd = -1
        self.group: cgroup.Group | None = None
        self.current: InFlight | None = None
        self.dead = False
        self.reason: str | None = None
        self.calls = 0
        self.cpu_ms = 0.0
        self.started = time.monotonic()
        self.last_used = self.started
        self.peak_rss_kb = 0
        #: Worker-side start-up stages in ms (boot read, harden, import policy, plugin import).
        self.start_stages: dict[str, float] = {}
        self._next_call = 0
        self._log_bucket = _TokenBucket(log_rate)
        self._blocked = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._oom = False
        #: Frames waiting behind one being measured and decoded in a thread (kept in order).
        self._backlog: deque[bytes] = deque()
        self._draining = False
        self._sock_fd = -1
        #: CPU and memory of the worker as the kernel counts them (set once the pid is known).
        self.usage: Usage | None = None
        #: Log lines of this worker refused by a call's budget or the frame budget.
        self.logs_dropped = 0

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports (what `serve` runs on) implement asyncio.Transport without
        # subclassing it, so no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._sock_fd = sock.fileno()

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self.reader.feed(data):
                if self._backlog or not frame_budget.inline_ok(frame):
                    self._backlog.append(frame)
                else:
                    self._on_message(wire.decode_worker(frame))
                if self.dead:
                    return
        except wire.FrameError as exc:
            self.fail(str(exc))
            return
        if self._backlog and not self._draining and self.transport is not None:
            # Read no more from this worker until the large frame is dealt with.
            self._draining = True
            self.transport.pause_reading()
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        """Measure and decode large frames in a thread, in order, then read again."""
        loop = asyncio.get_running_loop()
        try:
            while self._backlog and not self.dead:
                frame = self._backlog.popleft()
                try:
                    if frame_budget.inline_ok(frame):
                        msg: wire.WorkerMessage | frame_budget.Refused = wire.decode_worker(frame)
                    else:
                        msg = await loop.run_in_executor(None, frame_budget.prepare, frame)
                except wire.FrameError as exc:
                    self.fail(str(exc))
                    return
                if self.dead:
                    return
                if isinstance(msg, frame_budget.Refused):
                    self._on_refused(msg)
                else:
                    self._on_message(msg)
        finally:
            self._draining = False
            if not self.dead and self.transport is not None:
                self.transport.resume_reading()

    def _on_refused(self, refused: frame_budget.Refused) -> None:
        """A well-framed message over its budget: the plugin's error, the worker stays."""
        cur = self.current
        if refused.kind == "log":
            self.logs_dropped += 1
            return
        if refused.kind == "result":
            if cur is None or refused.id != cur.id or cur.fut.done():
                self.fail("protocol violation: a result for no call in flight")
                return
            cur.fut.set_result(wire.Result(id=cur.id, ok=False, error=refused.reason))
            return
        # A capability request: answer it (the worker waits for that reply) with the refusal.
        if cur is None or refused.id is None or self.transport is None:
            self.fail("protocol violation: a capability request outside its call")
            return
        self.transport.write(wire.encode(wire.CapReply(
            id=refused.id, ok=False, kind="error", message=refused.reason)))

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_dead(None)

    # -- messages -------------------------------------------------------------------------------

    def _on_message(self, msg: wire.WorkerMessage) -> None:
        cur = self.current
        if isinstance(msg, wire.Result):
            if cur is None or msg.id != cur.id or cur.fut.done():
                self.fail("protocol violation: a result for no call in flight")
                return
            cur.fut.set_result(msg)
        elif isinstance(msg, wire.CapRequest):
            if cur is None or msg.call != cur.id:
                self.fail("protocol violation: a capability request outside its call")
                return
            if cur.cap_task is not None and not cur.cap_task.done():
                self.fail("protocol violation: a second capability request before the reply")
                return
            unread = self._unread_bytes()
            if unread > UNREAD_REPLY_MAX_BYTES:
                # An honest worker reads each reply before it asks again: this one makes the
                # host buffer replies for it instead.
                self.fail(f"capability replies not read: {unread} bytes waiting, over the "
                          f"{UNREAD_REPLY_MAX_BYTES}-byte limit")
                return
            cur.cap_task = asyncio.get_running_loop().create_task(
                self._serve_cap(cur, msg, _waited_since(msg.sent, cur.handed_at)))
        elif isinstance(msg, wire.Log):
            self._log(msg)
        elif isinstance(msg, wire.Blocked):
            self._blocked += 1
            if self._blocked <= MAX_BLOCKED_EVENTS:
                details: dict[str, Any] = {"capability": "import", "module": msg.module,
                                           "permission": msg.permission}
                task = asyncio.get_running_loop().create_task(
                    self.caps.record(self.spec, "permission_denied", details)
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(msg, wire.Ready):
            if self.ready.done():
                self.fail("protocol violation: a second ready message")
                return
            self.ready.set_result(msg)

    async def _serve_cap(self, cur: InFlight, msg: wire.CapRequest, waiting_since: float) -> None:
        reply = await self.caps.handle(self.spec, cur.info, msg, cur.counters)
        if not msg.cap.startswith(UNCREDITED_CAPS):
            # From the request's send (as it waited for a busy event loop to read it) to now.
            cur.host_s += time.monotonic() - waiting_since
        if self.dead or self.current is not cur or self.transport is None:
            return
        try:
            frame = wire.encode(reply)
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError) as exc:
            frame = wire.encode(wire.CapReply(id=msg.id, ok=False, kind="error",
                                              message=f"{msg.cap}: reply not serializable: {exc}"))
        if len(frame) - wire.HEADER.size > self.reader.max_frame:
            frame = wire.encode(wire.CapReply(id=msg.id, ok=False, kind="error",
                                              message=f"{msg.cap}: reply exceeds the frame cap"))
        self.transport.write(frame)
        cur.handed_at = time.monotonic()

    def _unread_bytes(self) -> int:
        """Bytes written to the worker it has not read: ours in the transport, and the
        kernel's (SIOCOUTQ: what the socket holds that the peer has not received)."""
        pending = self.transport.get_write_buffer_size() if self.transport is not None else 0
        if self._sock_fd >= 0:
            with contextlib.suppress(OSError):
                raw = fcntl.ioctl(self._sock_fd, termios.TIOCOUTQ, b"\0\0\0\0")
                pending += struct.unpack("i", raw)[0]
        return pending

    def _log(self, msg: wire.Log) -> None:
        if not self._log_bucket.take():
            # Dropping costs a decode per line; a worker that does nothing else is a flood.
            if self._log_bucket.dropped > MAX_DROPPED_LOGS:
                self.fail(f"log flood: more than {MAX_DROPPED_LOGS} lines over the rate limit")
            return
        text = msg.msg[:LOG_MSG_MAX_CHARS]
        fields: dict[str, Any] = {}
        size = len(text)
        for key, value in list(msg.fields.items())[:LOG_FIELDS_MAX]:
            shown = _log_value(value)
            size += len(key) + len(shown) if isinstance(shown, str) else len(key) + 8
            if size > LOG_LINE_MAX_BYTES:
                fields["truncated"] = True
                break
            fields[key] = shown
        cur = self.current
        if cur is not None:
            budget = cur.info.budget
            if budget.log_bytes + size > LOG_BYTES_PER_CALL:
                budget.logs_dropped += 1
                self.logs_dropped += 1
                return
            budget.log_bytes += size
        level = msg.level if msg.level in ("debug", "info", "warning", "error") else "info"
        getattr(log, level)(
            text, plugin=self.spec.plugin_id, org=self.spec.org_id, source="plugin",
            fields=fields,
        )

    # -- calls ------------------------------------------------------------------------------------

    def begin(self, info: CallInfo) -> InFlight:
        self._next_call += 1
        cur = InFlight(self._next_call, info, asyncio.get_running_loop().create_future())
        self.current = cur
        if self.dead:
            cur.fut.set_exception(WorkerDied(self.reason))
        return cur

    def end(self, cur: InFlight) -> None:
        if cur.cap_task is not None and not cur.cap_task.done():
            cur.cap_task.cancel()
        if self.current is cur:
            self.current = None

    def send(self, frame: bytes) -> None:
        if self.transport is None or self.dead:
            raise WorkerDied(self.reason)
        self.transport.write(frame)

    # -- death ------------------------------------------------------------------------------------

    def _mark_dead(self, reason: str | None) -> None:
        if reason and self.reason is None:
            self.reason = reason
        if self.dead:
            return
        self.dead = True
        err = WorkerDied(self.reason)
        if not self.ready.done():
            self.ready.set_exception(err)
            self.ready.exception()  # retrieved: nobody may be waiting any more
        cur = self.current
        if cur is not None and not cur.fut.done():
            cur.fut.set_exception(err)
            cur.fut.exception()

    def exited(self) -> bool:
        """The process has exited, whether or not the loop has seen its channel close yet.

        A pidfd polls readable once its process exits; one poll costs about 2 us.
        """
        if self.pidfd < 0:
            return False
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(0))

    def kill(self, reason: str | None = None) -> None:
        """SIGKILL through the pidfd (never a recycled pid), then drop the channel."""
        if reason and self.reason is None:
            self.reason = reason
        if self.pidfd >= 0:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        if self.transport is not None:
            self.transport.abort()
        self._mark_dead(reason)

    def fail(self, reason: str) -> None:
        log.warning("worker failed", plugin=self.spec.plugin_id, pid=self.pid, reason=reason)
        self.kill(reason)

    def on_exit(self, status: int) -> None:
        # Read the OOM counter before the group goes away; the reason is built from it later.
        if self.group is not None:
            self._oom = cgroup.oom_killed(self.group)
            _remove_group_soon(self.group)
        if self.usage is not None:
            self.usage.close()
        if not self.exit_status.done():
            self.exit_status.set_result(status)
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def oom_killed(self) -> bool:
        return self._oom or (self.group is not None and cgroup.oom_killed(self.group))

    def release_group(self) -> None:
        if self.group is not None:
            cgroup.remove(self.group)

    def rss_kb(self) -> int | None:
        if self.dead or not self.pid:
            return None
        try:
            with open(f"/proc/{self.pid}/statm") as fh:
                return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            return None


def _log_value(value: Any) -> Any:
    """A field as the host logs it: scalars kept, strings and anything else cut short."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return value[:LOG_FIELD_MAX_CHARS]
    # Bounded by the frame budget (a log frame is at most 64 KiB), so repr is cheap.
    return repr(value)[:LOG_FIELD_MAX_CHARS]


def _remove_group_soon(group: cgroup.Group) -> None:
    """rmdir on cgroupfs takes about a millisecond: keep it off the event loop when one runs.

    ``remove`` ignores a group already gone, so ``release_group`` at close may race it safely.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        cgroup.remove(group)
        return
    loop.run_in_executor(None, cgroup.remove, group)
