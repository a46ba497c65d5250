"""Where installed plugin trees live on disk, who owns them, how a crashed install is cleaned up.

Several API processes share one data dir (``serve --workers N``, or several servers on one
machine), so every path an install writes is owned by the process that wrote it, named like the
scratch roots (``runtime/host/scratch.py``) by the owner's pid and start time:

- staging: ``<plugins>/.staging/<pid>-<start>-<n>/<random>``, one root per process;
- trees: ``<plugins>/<org>/<plugin id>/<version>-<sha12>@<pid>-<start>-<n>-<random>``, a new
  path for every install, so two installs of the same package (racing in two processes, or a
  reinstall) never share a path and the loser's clean-up cannot touch the winner's files.

A tree is extracted into staging and renamed to its final path after the archive passed every
check; the rows pointing at it are committed after that. Between the rename and the commit the
tree is referenced by no row, and only its owner knows it is in use. So a starting process
removes (``orphans`` then ``remove_unreferenced``):

- staging roots and trees whose owner process is dead (its pid is gone or now belongs to a
  process with another start time): it was interrupted and can never commit;
- names it cannot attribute (written before this layout, or by hand) only when older than
  ``UNOWNED_MAX_AGE_SECONDS``;

and of those trees only the ones no committed row references. A live sibling's staging and
in-flight trees are never touched. Ownership is decided by pid, which is why the data dir is
per machine (docs/deployment.md): a pid says nothing about another machine's processes.

A version installed through another machine has its tree there only; this machine builds its
own from the artifact blob under ``<plugins>/.fetched`` (``trees.py``), which this clean-up
leaves alone.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from proofpix_plugins.runtime.host.procfs import instance_alive, process_instance

# World-traversable, not listable: a plugin's uid can reach its own tree by path only.
DIR_MODE = 0o711
#: A staging dir or tree whose name names no owner is removed at start-up only when it has not
#: changed for this long: far longer than any install takes (the scan and extraction of a
#: 50 MB package take seconds), so an install in flight is never taken for a leftover.
UNOWNED_MAX_AGE_SECONDS = 3600.0
#: Separates a tree's version and digest from its owner (never part of a semver version).
OWNER_MARK = "@"


class PluginLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"
        #: ``<pid>-<start>-<n>``: this layout's owner name, unique among the processes of a boot.
        self.owner = process_instance(os.getpid())
        self.own_staging = self.staging / self.owner

    def ensure(self) -> None:
        for path in (self.root, self.staging, self.own_staging):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, DIR_MODE)

    def close(self) -> None:
        """Remove this process's staging root (empty unless an install is being cut short)."""
        shutil.rmtree(self.own_staging, ignore_errors=True)

    def new_staging_dir(self) -> Path:
        self.ensure()
        return self.own_staging / uuid.uuid4().hex

    def final_dir(self, org_id: str, plugin_id: str, version: str, sha256: str) -> Path:
        """A path no other install (in any process) ever uses."""
        name = f"{version}-{sha256[:12]}{OWNER_MARK}{self.owner}-{uuid.uuid4().hex[:8]}"
        return self.root / org_id / plugin_id / name

    def publish(self, staged: Path, final: Path) -> None:
        """Move an extracted tree into place (atomic rename on one file system)."""
        if final.exists():
            raise FileExistsError(f"install tree {final} already exists")
        for _ in range(5):
            final.parent.mkdir(parents=True, exist_ok=True)
            for parent in (final.parent, final.parent.parent):
                os.chmod(parent, DIR_MODE)
            try:
                os.replace(staged, final)
                return
            except FileNotFoundError:
                # A starting sibling pruned the (then empty) plugin or org dir between our mkdir
                # and the rename; make it again.
                if not staged.exists():
                    raise
        raise FileNotFoundError(f"could not publish {final}: its parent keeps disappearing")

    @staticmethod
    def remove(path: Path | str | None) -> None:
        if path:
            shutil.rmtree(path, ignore_errors=True)

    # -- start-up clean-up ---------------------------------------------------------------
    def orphans(self) -> list[Path]:
        """Staging roots and trees left by dead processes (or unattributable and old).

        Call this *before* reading which trees the database references: an owner found dead
        here can commit nothing afterwards, so a tree it did commit is in that later read.
        """
        found: list[Path] = []
        now = time.time()
        if self.staging.is_dir():
            for entry in self.staging.iterdir():
                if entry.name != self.owner and _abandoned(entry.name, entry, now):
                    found.append(entry)
        if not self.root.is_dir():
            return found
        for org_dir in _subdirs(self.root):
            if org_dir.name.startswith("."):  # staging, and trees fetched from blobs (trees.py)
                continue
            for plugin_dir in _subdirs(org_dir):
                for tree in _subdirs(plugin_dir):
                    owner = tree.name.rpartition(OWNER_MARK)[2] if OWNER_MARK in tree.name else ""
                    if owner != self.owner and _abandoned(owner, tree, now):
                        found.append(tree)
        return found

    def remove_unreferenced(self, candidates: list[Path], referenced: set[str]) -> list[Path]:
        """Remove the ``candidates`` (from :meth:`orphans`) no row references; return them."""
        keep = {str(Path(p).resolve()) for p in referenced}
        removed: list[Path] = []
        for path in candidates:
            if path.parent == self.staging or str(path.resolve()) not in keep:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
                if path.parent != self.staging:
                    _prune_empty(path.parent, stop=self.root)
        return removed


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:  # removed meanwhile by a sibling's clean-up
        return []


def _abandoned(owner: str, path: Path, now: float) -> bool:
    """Whether ``path``, named for ``owner`` (``<pid>-<start>-...`` or anything else), is left
    over: its owner is dead, or it names none and has not changed for the documented age."""
    pid, _, rest = owner.partition("-")
    if pid.isdigit() and rest.partition("-")[0].isdigit():
        return not instance_alive(owner)
    try:
        return now - path.stat().st_mtime > UNOWNED_MAX_AGE_SECONDS
    except OSError:
        return False


def _prune_empty(directory: Path, *, stop: Path) -> None:
    """Remove ``directory`` and its parents up to ``stop`` while they are empty."""
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty (or gone): a sibling may be publishing into it
            return
        directory = directory.parent
