"""A worker's CPU time and peak memory as the kernel counts them, never as the worker says.

A plugin shares its process with the worker's own code, so it can replace ``time`` or
``resource`` and report whatever it likes. The host reads the figures instead, through
descriptors opened once per worker (one ``pread`` each, well under 10 us):

* CPU: the worker's cgroup (v1 ``cpuacct.usage``, v2 ``cpu.stat`` ``usage_usec``: every thread,
  live or exited, in ns/us), else ``/proc/<pid>/stat`` utime + stime (every thread, in clock
  ticks) and the main thread's ``/proc/<pid>/schedstat`` (ns), the larger of the two;
* peak memory: the cgroup's high-water mark (v1 ``memory.max_usage_in_bytes``, v2
  ``memory.peak``), else ``VmHWM`` from ``/proc/<pid>/status``;
* time spent runnable but waiting for a CPU: the main thread's ``/proc/<pid>/schedstat``
  (its second field, ns), which the pool credits back to a call's deadline (``host/pool.py``).

The CPU of one call is the difference between two readings taken after consecutive calls (and
the first after start-up), so CPU a plugin burns between calls in a thread of its own is charged
to its next call.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from proofpix_plugins.runtime.host import cgroup

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _open(path: Path | str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def _read(fd: int) -> bytes:
    if fd < 0:
        return b""
    try:
        return os.pread(fd, 4096, 0)
    except OSError:
        return b""


class Usage:
    """Kernel-side readings of one worker; ``close`` releases the descriptors."""

    def __init__(self, pid: int, group: cgroup.Group | None) -> None:
        self.cpu_v2 = False
        self._cpu = self._peak = -1
        if group is not None and group.cpu is not None:
            v2 = group.hierarchy.version == 2
            self.cpu_v2 = v2
            self._cpu = _open(group.cpu / ("cpu.stat" if v2 else "cpuacct.usage"))
        if group is not None:
            v2 = group.hierarchy.version == 2
            self._peak = _open(group.memory / ("memory.peak" if v2
                                               else "memory.max_usage_in_bytes"))
        self._stat = self._status = -1
        # Always open: its second field (run-queue wait) is read whatever measures the CPU.
        self._sched = _open(f"/proc/{pid}/schedstat")
        if self._cpu < 0:
            self._stat = _open(f"/proc/{pid}/stat")
        if self._peak < 0:
            self._status = _open(f"/proc/{pid}/status")
        self.last_cpu_ns = self.cpu_ns()

    def cpu_ns(self) -> int | None:
        """CPU time of the whole worker so far, in ns; None when nothing can be read."""
        if self._cpu >= 0:
            raw = _read(self._cpu)
            if self.cpu_v2:
                for line in raw.splitlines():
                    if line.startswith(b"usage_usec "):
                        return int(line.split()[1]) * 1000
                return None
            return int(raw) if raw.strip() else None
        stat = _read(self._stat)
        if not stat:
            return None
        fields = stat.rsplit(b")", 1)[1].split()
        ticks = (int(fields[11]) + int(fields[12])) * _TICK_NS  # utime, stime
        sched = _read(self._sched)
        main = int(sched.split()[0]) if sched else 0
        return max(ticks, main)

    def run_delay_s(self) -> float:
        """Seconds the worker's main thread has been runnable but not running, so far (0 when
        the kernel does not say: no schedstat, or no CONFIG_SCHED_INFO)."""
        fields = _read(self._sched).split()
        return int(fields[1]) / 1e9 if len(fields) > 1 else 0.0

    def call_cpu_ms(self) -> float | None:
        """CPU used since the previous reading, in ms."""
        now = self.cpu_ns()
        if now is None:
            return None
        used = max(0, now - self.last_cpu_ns) if self.last_cpu_ns is not None else 0
        self.last_cpu_ns = now
        return used / 1e6

    def peak_kb(self) -> int | None:
        """The worker's memory high-water mark so far, in KiB."""
        if self._peak >= 0:
            raw = _read(self._peak)
            return int(raw) // 1024 if raw.strip() else None
        for line in _read(self._status).splitlines():
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1])
        return None

    def close(self) -> None:
        for fd in (self._cpu, self._peak, self._stat, self._sched, self._status):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._cpu = self._peak = self._stat = self._sched = self._status = -1
