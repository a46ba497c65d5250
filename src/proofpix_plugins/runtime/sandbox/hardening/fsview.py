"""The worker's filesystem view: a root holding only the trees Landlock lets it read.

Landlock decides what may be opened, but not what may be looked up: ``stat()`` of the server's
data directory would still show the sizes and times of its database, keys and log. So, in a
mount namespace of its own (``namespaces.unshare``), the worker pivots into an empty read-only
tmpfs where only the stdlib, site-packages, the SDK and the plugin's own tree are bind-mounted
read-only, and its scratch dir read-write, each at its usual path (module ``__file__``s, the
scratch cwd and tracebacks stay valid). Everything else (the data dir, other plugins' trees and
scratch dirs, ``/proc``, ``/dev/shm``, ``/etc``) does not exist in its view.

Sources are opened (``O_PATH``) before anything is mounted and bound through ``/proc/self/fd``,
so the tmpfs may be mounted over any directory, here the parent of the scratch dir.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence

from proofpix_plugins.runtime.libc import check, libc

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
#: statvfs f_flag bits that carry over to a read-only remount (same values as the MS_ flags).
_KEPT_FLAGS = 0x1 | 0x2 | 0x4 | 0x8 | 0x400 | 0x800 | 0x1000

_mount = libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                   ctypes.c_char_p]
_mount.restype = ctypes.c_int
_umount2 = libc.umount2
_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_umount2.restype = ctypes.c_int


def _pivot_root_nr() -> int:
    """glibc has no pivot_root wrapper; ask libseccomp for this machine's number."""
    try:
        import pyseccomp

        return int(pyseccomp.resolve_syscall(pyseccomp.system_arch(), "pivot_root"))
    except (ImportError, OSError, ValueError):
        return {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, -1)


#: Resolved when the template imports this module, never in a worker.
SYS_PIVOT_ROOT = _pivot_root_nr()


def _do_mount(source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
    check(_mount(source.encode() if source else None, target.encode(),
                 fstype.encode() if fstype else None, flags,
                 data.encode() if data else None), f"mount {target}")


def confine(read_only: Sequence[str], read_write: Sequence[str], *, mount_at: str) -> None:
    """Pivot into a view holding only these trees; needs root in a fresh mount namespace."""
    if SYS_PIVOT_ROOT < 0:
        raise OSError(38, "pivot_root: syscall number unknown on this machine")
    wanted = [(p, False) for p in read_only] + [(p, True) for p in read_write]
    # Shortest first: a tree inside an already bound one needs no directory of its own.
    wanted.sort(key=lambda item: len(item[0]))
    sources = [(path, rw, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path, rw in wanted]
    try:
        # Nothing we mount may propagate back into the host's namespace.
        _do_mount(None, "/", None, MS_REC | MS_PRIVATE)
        _do_mount("tmpfs", mount_at, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=1m,nr_inodes=1024,mode=0755")
        for path, rw, fd in sources:
            target = mount_at + path
            if not os.path.lexists(target):
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.makedirs(target, mode=0o755)
                else:
                    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
            _do_mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
            if not rw:
                kept = os.statvfs(target).f_flag & _KEPT_FLAGS
                _do_mount(None, target, None,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)
    finally:
        for _, _, fd in sources:
            os.close(fd)
    os.chdir(mount_at)
    # pivot_root(".", "."): the old root ends up stacked on the new one and is detached next.
    check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    check(_umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _do_mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
