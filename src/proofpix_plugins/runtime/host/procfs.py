"""What ``/proc/<pid>/stat`` says about a process: whether it still runs, and since when.

The start time tells a live process from a later one that reused its pid. ``process_instance``
names what a process owns on disk or in a machine-wide table (its scratch root, upload spool,
staging dir, uid-table holds), and ``instance_alive`` tells whether that owner still runs, so a
starting process sweeps only what dead ones left.
"""

from __future__ import annotations

import itertools


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; empty when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    fields = stat_fields(pid)
    return fields[19] if len(fields) > 19 else None  # field 22: start time


def pid_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


_instances_made = itertools.count()


def process_instance(pid: int) -> str:
    """``<pid>-<start time>-<n>``: unique among the owners named by every process of this boot."""
    return f"{pid}-{start_ticks(pid)}-{next(_instances_made)}"


def instance_alive(name: str) -> bool:
    """Whether the process that took this ``process_instance`` name still runs: its pid exists,
    is no zombie, and started at that time (a reused pid does not count)."""
    pid, _, rest = name.partition("-")
    if not pid.isdigit():
        return False
    fields = stat_fields(int(pid))
    return len(fields) > 19 and fields[0] != "Z" and fields[19] == rest.partition("-")[0]
