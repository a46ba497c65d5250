"""Per-worker namespaces: its own IPC namespace, and a mount namespace that shows only what the
worker may read (the filesystem view is built by :mod:`fsview`).

The template stays in the host's mount namespace so that a worker forked later still sees the
scratch tmpfs the host mounted at load; each worker unshares for itself, as root, before the uid
drop. An IPC namespace of its own means a System V queue or segment, or a POSIX message queue,
reaches no other worker and dies with it (seccomp denies those calls as well).
"""

from __future__ import annotations

from proofpix_plugins.runtime.libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000


def unshare(*, ipc: bool, mount: bool) -> None:
    flags = (CLONE_NEWIPC if ipc else 0) | (CLONE_NEWNS if mount else 0)
    if flags:
        check(libc.unshare(flags), f"unshare({flags:#x})")
