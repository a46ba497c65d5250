"""Per-worker cgroups (memory and process count) where the host has a writable hierarchy.

Supports cgroup v2 with the memory and pids controllers enabled for our subtree, and the v1
``memory`` and ``pids`` hierarchies. Groups are created by the host (root) under the cgroup the
host itself runs in; the worker joins by writing its pid before dropping privileges.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Hierarchy:
    """Where to create groups: one dir (v2) or one per controller (v1)."""

    version: int
    memory: Path
    pids: Path
    #: Where CPU time is counted: v2's own dir (cpu.stat), v1's cpuacct hierarchy; None: no
    #: writable one (the host then reads /proc, see usage.py).
    cpu: Path | None = None


@dataclass(frozen=True)
class Group:
    hierarchy: Hierarchy
    memory: Path
    pids: Path
    cpu: Path | None = None

    @property
    def dirs(self) -> set[Path]:
        return {self.memory, self.pids} | ({self.cpu} if self.cpu is not None else set())

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in sorted(self.dirs)]


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ('' key for v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controller == "" and controllers == ""):
            return path
    return None


def _writable_parent(base: Path, own: str | None) -> Path | None:
    candidates = []
    if own is not None:
        candidates.append(base / own.lstrip("/"))
    candidates.append(base)
    for cand in candidates:
        if cand.is_dir() and os.access(cand, os.W_OK):
            probe = cand / f"proofpix-probe-{os.getpid()}"
            try:
                probe.mkdir()
            except OSError:
                continue
            with contextlib.suppress(OSError):
                probe.rmdir()
            return cand
    return None


def detect() -> Hierarchy | None:
    """A hierarchy we can create groups in, or None (the layer is then reported missing)."""
    v2 = ROOT / "cgroup.controllers"
    if v2.exists():
        controllers = v2.read_text().split()
        if "memory" in controllers and "pids" in controllers:
            parent = _writable_parent(ROOT, _own_path(""))
            if parent is not None:
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                if "memory" in enabled and "pids" in enabled:
                    return Hierarchy(2, parent, parent, parent)
    mem = _writable_parent(ROOT / "memory", _own_path("memory"))
    pids = _writable_parent(ROOT / "pids", _own_path("pids"))
    if mem is not None and pids is not None:
        cpu = _writable_parent(ROOT / "cpuacct", _own_path("cpuacct"))
        return Hierarchy(1, mem, pids, cpu)
    return None


def create(hierarchy: Hierarchy, name: str, *, memory_mb: int, pids_max: int) -> Group:
    """A fresh group named ``name`` with the limits written; removes a stale one first."""
    mem = hierarchy.memory / name
    pids = hierarchy.pids / name
    cpu = hierarchy.cpu / name if hierarchy.cpu is not None else None
    for d in {mem, pids} | ({cpu} if cpu is not None else set()):
        with contextlib.suppress(OSError):
            d.rmdir()
        d.mkdir()
    limit = str(memory_mb * 1024 * 1024)
    if hierarchy.version == 2:
        (mem / "memory.max").write_text(limit)
        with contextlib.suppress(OSError):
            (mem / "memory.swap.max").write_text("0")
    else:
        (mem / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):
            (mem / "memory.memsw.limit_in_bytes").write_text(limit)
    (pids / "pids.max").write_text(str(pids_max))
    return Group(hierarchy, mem, pids, cpu)


def join(group: Group, pid: int = 0) -> None:
    """Move ``pid`` (0: the caller) into the group; must run before the uid drop."""
    for procs in group.procs_files:
        with open(procs, "w") as fh:
            fh.write(str(pid or os.getpid()))


def oom_killed(group: Group) -> bool:
    """Whether the kernel's OOM killer fired inside this group."""
    try:
        if group.hierarchy.version == 2:
            events = (group.memory / "memory.events").read_text()
        else:
            events = (group.memory / "memory.oom_control").read_text()
    except OSError:
        return False
    for line in events.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip() not in ("", "0"):
            return True
    return False


def remove(group: Group) -> None:
    """Delete the group once its tasks are gone (rmdir fails while any remain)."""
    for d in group.dirs:
        with contextlib.suppress(OSError):
            d.rmdir()
