"""The seccomp filter: compiled once in the template, loaded by each worker as raw BPF.

Denying ``socket`` entirely is load-bearing: Landlock ABI 7 controls neither UDP nor pathname
UNIX sockets, and the worker needs no new sockets because its channel is inherited. Threads
keep working: ``clone`` is allowed only with CLONE_THREAD, and ``clone3`` answers ENOSYS so
glibc falls back to ``clone``.

System V and POSIX IPC are denied too: a message queue or shared-memory segment is a channel
between workers (of different organizations) that Landlock does not mediate and that outlives
them; each worker also has its own IPC namespace, but this holds where namespaces are missing.
The calls that take a target pid are confined to the caller by a second, per-worker filter
(``self_only``).
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass

from proofpix_plugins.runtime.libc import prctl
from proofpix_plugins.runtime.sandbox.hardening import self_only

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_THREAD = 0x00010000
#: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NEW_FLAGS: tuple[int, ...] = (
    0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
)

#: Denied with EPERM. Grouped by what they would give an attacker.
DENIED: tuple[str, ...] = (
    # new programs and processes
    "execve", "execveat", "fork", "vfork",
    # looking into or writing other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # kernel attack surface a photo plugin never needs
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key",
    # namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount",
    "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    # host administration
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "settimeofday", "clock_settime",
    "adjtimex", "syslog", "open_by_handle_at", "name_to_handle_at", "personality",
    # System V and POSIX IPC: channels between workers that no other layer sees ("ipc" is the
    # multiplexer some architectures use instead)
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
    "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "ipc",
    # acting on other processes' memory through a pidfd
    "process_madvise", "process_mrelease",
)  # fmt: skip

#: Denied with EACCES: every way to get a new socket.
NO_SOCKETS: tuple[str, ...] = ("socket", "socketpair")


def compile_bpf() -> bytes:
    """Build the filter with libseccomp and return it as raw BPF (runs in the template)."""
    import pyseccomp

    flt = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    for name in DENIED:
        try:
            flt.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):
            continue  # a syscall this kernel/libseccomp does not know cannot be called either
    for name in NO_SOCKETS:
        flt.add_rule(pyseccomp.ERRNO(errno.EACCES), name)
    # Processes, not threads: a clone without CLONE_THREAD is a fork.
    flt.add_rule(
        pyseccomp.ERRNO(errno.EPERM),
        "clone",
        pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_THREAD, 0),
    )
    # Threads, but never into new namespaces (matters when the uid layer is off and the
    # worker still holds capabilities).
    for flag in CLONE_NEW_FLAGS:
        flt.add_rule(
            pyseccomp.ERRNO(errno.EPERM), "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag)
        )
    # BPF cannot inspect clone3's struct argument, so refuse it and let glibc use clone.
    flt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb", closefd=True) as out:
            flt.export_bpf(out)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "libseccomp exported an empty or truncated BPF program")
    return program


@dataclass(frozen=True)
class Filters:
    """What the template prepares once: the main program, and the table the per-worker
    self-only program is built from after the fork (it needs the worker's pid)."""

    program: bytes
    self_only: self_only.Table


def compile_filters() -> Filters:
    return Filters(program=compile_bpf(), self_only=self_only.resolve())


def load(filters: Filters, pid: int) -> None:
    """Attach both programs to this (single-threaded) worker."""
    load_bpf(filters.program)
    load_bpf(self_only.build(filters.self_only, pid))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_bpf(program: bytes) -> None:
    """Attach a precompiled filter to this thread (needs no_new_privs unless root)."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def available() -> bool:
    """libseccomp loads and the kernel has seccomp filtering."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError):
        return False
    try:
        with open("/proc/self/status") as fh:
            return any(line.startswith("Seccomp:") for line in fh)
    except OSError:
        return False
