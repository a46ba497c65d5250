"""An empty network namespace: no interface but a down loopback, so no route anywhere."""

from __future__ import annotations

from proofpix_plugins.runtime.libc import check, libc

CLONE_NEWNET = 0x40000000


def enter_empty_netns() -> None:
    """Move this process (the template; workers inherit it) into a fresh netns. Needs root."""
    check(libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")

