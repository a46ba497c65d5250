"""prctl-based layers: no_new_privs and the parent-death signal.

Dumpability is not set here: the uid drop already clears it (the kernel resets it to
``fs.suid_dumpable``, 0 by default, when the uid changes), and the seccomp layer refuses
``ptrace`` and ``process_vm_*`` to every worker whatever its uid.
"""

from __future__ import annotations

import signal

from proofpix_plugins.runtime.libc import prctl

PR_SET_PDEATHSIG = 1
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

