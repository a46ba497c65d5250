"""What a worker may read of the host's file system, and whether its plugin uid can reach it.

Landlock lets a worker read its plugin tree and :func:`runtime_read_only_paths`, nothing else.
When the host runs as root the worker also drops to a per-plugin uid and reads as "other", so
the pool checks the mode bits up front and names the path that blocks it, rather than letting
the plugin's import fail inside the sandbox.
"""

from __future__ import annotations

import os
import stat
import sysconfig
from pathlib import Path

import proofpix_sdk
from proofpix_plugins.runtime.errors import LoadError


def runtime_read_only_paths() -> list[str]:
    """What Landlock lets a worker read besides its own tree: the interpreter and libraries."""
    paths = sysconfig.get_paths()
    wanted = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    wanted.append(str(Path(proofpix_sdk.__file__).resolve().parent))
    out: list[str] = []
    for p in wanted:
        if p and os.path.isdir(p) and p not in out:
            out.append(p)
    return out


def untraversable_ancestor(path: Path) -> Path | None:
    """The first of ``path`` and its ancestors that 'other' cannot traverse (no o+x), if any."""
    for d in [path, *path.resolve().parents]:
        if not d.stat().st_mode & stat.S_IXOTH:
            return d
    return None


def check_readable_tree(root: Path) -> None:
    """After the uid drop the worker reads the plugin as 'other': say what blocks it."""
    blocked = untraversable_ancestor(root)
    if blocked is not None:
        raise LoadError(
            f"plugin tree {root}: {blocked} is not traversable by the plugin uid "
            f"(mode {stat.filemode(blocked.stat().st_mode)}; needs o+x)"
        )
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            if p.stat().st_mode & 0o005 != 0o005:
                raise LoadError(f"plugin tree: directory {p} needs o+rx for the plugin uid")
        for name in filenames:
            p = Path(dirpath) / name
            if not p.stat().st_mode & stat.S_IROTH:
                raise LoadError(f"plugin tree: file {p} needs o+r for the plugin uid")
