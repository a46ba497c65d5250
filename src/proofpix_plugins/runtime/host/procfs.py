"""What ``/proc/<pid>/stat`` says about a process: whether it still runs, and since when.

The start time tells a live process from a later one that reused its pid, which is how a pool
recognises the scratch root of a process that died (see ``scratch.py``).
"""

from __future__ import annotations


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
