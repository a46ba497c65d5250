"""Per-process resource limits: address space, CPU backstop, files, file size, no cores.

RLIMIT_NPROC is deliberately not used: it counts threads and is not enforced for root;
seccomp stops fork and the cgroup's pids.max counts tasks.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    #: Address space on top of what the forked worker already maps (the template's libraries).
    memory_mb: int
    #: Lifetime CPU budget of the worker (hard); the worker lowers the soft limit per call.
    cpu_seconds_hard: int
    #: The next two come with the spawn request; their values are ``runtime/limits.py``'s.
    open_files: int
    file_size_mb: int


def current_vm_bytes() -> int:
    """VmSize of this process: the baseline the memory limit is added to."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def apply(limits: Limits, baseline: int | None = None) -> None:
    """``baseline``: VmSize measured earlier, when ``/proc`` is no longer in the worker's view."""
    base = current_vm_bytes() if baseline is None else baseline
    as_bytes = base + limits.memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    cpu = limits.cpu_seconds_hard
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    fsize = limits.file_size_mb * MIB
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))


def arm_cpu_budget(seconds: float) -> None:
    """Soft CPU limit = CPU used so far + this call's budget (SIGXCPU when exceeded)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    want = int(spent + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want != soft:
        resource.setrlimit(resource.RLIMIT_CPU, (want, hard))
