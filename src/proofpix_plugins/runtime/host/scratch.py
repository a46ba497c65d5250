"""Each plugin's scratch dir: where it lives, who owns it, how large it may grow, when it goes.

Layout: ``<base_dir>/scratch/<pid>-<start>-<n>/<hash of org and plugin>/``. Each pool keeps its
dirs under a root of its own, named for its process's pid and start time, so API processes
sharing a data dir never unmount or empty each other's dirs, and the root of a process that died
is recognisable (a reused pid has another start time) and swept at the next start. Where the
host can mount, each dir is a tmpfs capped in bytes and inodes (``scratch_fs`` mounts it), owned
by the plugin's uid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError, PoolClosed
from proofpix_plugins.runtime.host import scratch_fs
from proofpix_plugins.runtime.host.fs_access import untraversable_ancestor
from proofpix_plugins.runtime.host.procfs import instance_alive, process_instance
from proofpix_plugins.runtime.spec import PluginSpec


class ScratchDirs:
    """One pool's scratch root and the plugins' dirs under it."""

    def __init__(self, config: RuntimeConfig, *, drops_uid: bool) -> None:
        self.config = config
        self._drops_uid = drops_uid
        #: This process's scratch dirs: API processes sharing a data dir never touch each
        #: other's (pid and start time name it, so a dead process's dir is recognisable).
        self.root = config.base_dir / "scratch" / process_instance(os.getpid())
        #: Why scratch dirs cannot be capped tmpfs mounts here, or None when they are.
        self.gap: str | None = "not probed"

    def prepare(self) -> None:
        """Create the base dir and this pool's root, sweep dead processes' roots, probe tmpfs."""
        base = self.config.base_dir
        base.mkdir(parents=True, exist_ok=True)
        scratch = base / "scratch"
        scratch.mkdir(exist_ok=True)
        for other in scratch.iterdir():
            if other.name != self.root.name and not instance_alive(other.name):
                # Left by a server that died without cleaning up: nothing uses it any more.
                drop(other)
        self.root.mkdir(mode=0o711, exist_ok=True)
        if self._drops_uid:
            for d in (base, scratch, self.root):
                d.chmod(d.stat().st_mode | 0o711)
            blocked = untraversable_ancestor(scratch)
            if blocked is not None:
                raise PoolClosed(
                    f"base_dir {base}: {blocked} (mode {stat.filemode(blocked.stat().st_mode)}) "
                    "is not traversable by plugin uids; choose a base dir whose ancestors are "
                    "o+x, e.g. under /srv or /tmp"
                )
        # In our own root: another process starting on this base dir sweeps anything else.
        self.gap = scratch_fs.probe(self.root)

    def make(self, spec: PluginSpec, uid: int | None) -> Path:
        """A fresh, empty scratch dir for the plugin, owned by ``uid`` (the uid its worker runs
        as, from the pool's uid table; None where uids are not dropped) and capped where we can."""
        name = hashlib.sha256(f"{spec.org_id}\0{spec.plugin_id}".encode()).hexdigest()[:32]
        path = self.root / name
        drop(path)
        path.mkdir(mode=0o700)
        if uid is None:
            uid = os.geteuid()
        else:
            os.chown(path, uid, uid)
        if self.gap is None and "scratch_quota" not in self.config.disabled_layers:
            try:
                scratch_fs.mount(path, size_mb=scratch_mb(self.config, spec),
                                 inodes=self.config.scratch_inodes, uid=uid, gid=uid)
            except OSError as exc:
                drop(path)
                raise LoadError(f"could not mount the plugin's scratch dir: {exc}") from None
        return path

    def close(self) -> None:
        """Unmount and delete every scratch dir of this pool, and its root."""
        drop(self.root)


def scratch_mb(config: RuntimeConfig, spec: PluginSpec) -> int:
    """A plugin's scratch cap. tmpfs pages count against its memory cgroup, so scratch gets
    at most half of ``memory_mb``: a full scratch dir is ENOSPC, never an OOM kill."""
    return max(1, min(config.scratch_mb, spec.memory_mb // 2))


def drop(path: Path) -> None:
    """Unmount every tmpfs at or below ``path``, then delete it."""
    with contextlib.suppress(OSError):
        for mounted in scratch_fs.mounted_under(path):
            scratch_fs.unmount(mounted)
    shutil.rmtree(path, ignore_errors=True)
