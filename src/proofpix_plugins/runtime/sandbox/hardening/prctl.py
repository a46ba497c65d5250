"""prctl-based layers: no_new_privs, parent-death signal, dumpability."""

from __future__ import annotations

import signal

from proofpix_plugins.runtime.libc import prctl

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


def set_no_new_privs() -> None:
    """Needed before Landlock and seccomp as non-root; execve can never gain privileges."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def no_new_privs() -> bool:
    return prctl(PR_GET_NO_NEW_PRIVS) == 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """The kernel kills us when our parent exits, so nothing outlives the host."""
    prctl(PR_SET_PDEATHSIG, sig)


def set_dumpable(flag: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if flag else 0)
