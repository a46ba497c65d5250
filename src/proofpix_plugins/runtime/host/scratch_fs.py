"""A tmpfs capped in bytes and inodes for each plugin's scratch dir (host side, as root).

RLIMIT_FSIZE caps one file; without this layer a plugin could still fill the host's disk with
many files, or its inodes with empty ones. The host mounts the tmpfs itself, at the scratch path,
so the plugin and the host see the same files; its pages are charged to the memory cgroup of the
worker that writes them. ``nosuid,nodev,noexec``: nothing placed there can gain privileges, be a
device, or be executed (exec is denied by seccomp and Landlock as well).
"""

from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from pathlib import Path

from proofpix_plugins.runtime.libc import check, libc

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MNT_DETACH = 0x2

libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.mount.restype = ctypes.c_int
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.umount2.restype = ctypes.c_int


def mount(path: Path, *, size_mb: int, inodes: int, uid: int, gid: int) -> None:
    options = f"size={size_mb}m,nr_inodes={inodes},mode=0700,uid={uid},gid={gid}"
    check(libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     options.encode()), f"mount tmpfs on {path}")


def unmount(path: Path) -> None:
    """Detach whatever is mounted at ``path``, stacked mounts included (their files go with
    them); nothing mounted there is fine."""
    for _ in range(64):
        if libc.umount2(os.fsencode(path), MNT_DETACH) < 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):  # not (or no longer) a mount point
                return
            raise OSError(err, f"umount {path}: {os.strerror(err)}")
    raise OSError(errno.EBUSY, f"umount {path}: still mounted after 64 unmounts")


def mounted_under(base: Path) -> list[Path]:
    """Mount points at or below ``base`` (from /proc/self/mountinfo), deepest first."""
    prefix = os.fsencode(base.resolve())
    found = []
    with open("/proc/self/mountinfo", "rb") as fh:
        for line in fh:
            # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
            point = line.split(b" ")[4]
            point = point.replace(b"\\040", b" ").replace(b"\\011", b"\t")
            point = point.replace(b"\\012", b"\n").replace(b"\\134", b"\\")
            if point == prefix or point.startswith(prefix + b"/"):
                found.append(Path(os.fsdecode(point)))
    return sorted(found, key=lambda p: -len(p.parts))


def probe(base: Path) -> str | None:
    """None when capped scratch dirs can be mounted under ``base``, else why not."""
    if os.geteuid() != 0:
        return "needs root (CAP_SYS_ADMIN) to mount a capped tmpfs per scratch dir"
    try:
        with tempfile.TemporaryDirectory(dir=base, prefix=".probe-") as tmp:
            mount(Path(tmp), size_mb=1, inodes=16, uid=0, gid=0)
            unmount(Path(tmp))
    except OSError as exc:
        return f"cannot mount a tmpfs: {exc.strerror or exc}"
    return None
