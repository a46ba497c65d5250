"""Landlock via raw syscalls: filesystem, TCP bind/connect (ABI 4) and scopes (ABI 6).

The ``landlock`` PyPI package covers only the filesystem, so we speak the syscalls directly.
Rules are opened (``O_PATH``) in :func:`prepare` while the process can still read everything,
because after the uid drop the Python prefix under a 0700 home is no longer reachable.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from proofpix_plugins.runtime.libc import check, libc

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ_ONLY = READ_FILE | READ_DIR
READ_WRITE = READ_ONLY | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | TRUNCATE
FILE_RIGHTS = READ_FILE | WRITE_FILE | TRUNCATE | EXECUTE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """0 when the kernel has no Landlock (or it is disabled at boot)."""
    res = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(int(res), 0)


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass
class Prepared:
    """An open ruleset with its rules added, waiting for :func:`restrict`."""

    fd: int
    abi: int
    paths: list[str] = field(default_factory=list)


def prepare(
    read_only: Iterable[Path], read_write: Iterable[Path], *, abi: int | None = None
) -> Prepared:
    """Build the ruleset: everything handled, only these trees allowed; no TCP; scoped."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise OSError(95, "Landlock is not available on this kernel")
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    fd = check(
        libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    prepared = Prepared(fd=fd, abi=abi)
    try:
        for paths, access in ((read_only, READ_ONLY), (read_write, READ_WRITE)):
            for path in paths:
                _add_path(prepared, path, access & handled)
    except BaseException:
        os.close(fd)
        raise
    return prepared


def _add_path(prepared: Prepared, path: Path, access: int) -> None:
    pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not os.path.isdir(path):
            # Directory rights on a file rule are EINVAL.
            access &= FILE_RIGHTS
        rule = _PathBeneathAttr(access, pfd)
        check(
            libc.syscall(SYS_ADD_RULE, prepared.fd, RULE_PATH_BENEATH, ctypes.byref(rule), 0),
            f"landlock_add_rule({path})",
        )
        prepared.paths.append(str(path))
    finally:
        os.close(pfd)


def restrict(prepared: Prepared) -> None:
    """Enforce on this thread and every future child; needs no_new_privs unless root."""
    try:
        check(libc.syscall(SYS_RESTRICT_SELF, prepared.fd, 0), "landlock_restrict_self")
    finally:
        os.close(prepared.fd)
