"""Where installed plugin trees live on disk, and how a crashed install is cleaned up.

A tree is extracted into ``<plugins>/.staging/<random>`` and renamed to its final place
``<plugins>/<org>/<plugin id>/<version>-<sha12>`` only after the archive passed every check;
rows pointing at it are committed after that. At start-up anything in ``.staging`` and any
final tree no row points at is the remains of an interrupted install and is removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

# World-traversable, not listable: a plugin's uid can reach its own tree by path only.
DIR_MODE = 0o711


class PluginLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"

    def ensure(self) -> None:
        for path in (self.root, self.staging):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, DIR_MODE)

    def new_staging_dir(self) -> Path:
        self.ensure()
        return self.staging / uuid.uuid4().hex

    def final_dir(self, org_id: str, plugin_id: str, version: str, sha256: str) -> Path:
        return self.root / org_id / plugin_id / f"{version}-{sha256[:12]}"

    def publish(self, staged: Path, final: Path) -> None:
        """Move an extracted tree into place (atomic rename on one file system)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        for parent in (final.parent, final.parent.parent):
            os.chmod(parent, DIR_MODE)
        if final.exists():
            # Same org, plugin, version and artifact: a retry after a crash; replace it.
            shutil.rmtree(final)
        os.replace(staged, final)

    @staticmethod
    def remove(path: Path | str | None) -> None:
        if path:
            shutil.rmtree(path, ignore_errors=True)

    def clean_orphans(self, referenced: set[str]) -> list[Path]:
        """Remove staging leftovers and trees no plugin row references; return what went."""
        removed: list[Path] = []
        if self.staging.exists():
            for entry in self.staging.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        if not self.root.exists():
            return removed
        keep = {str(Path(p).resolve()) for p in referenced}
        for org_dir in self.root.iterdir():
            if org_dir == self.staging or not org_dir.is_dir():
                continue
            for plugin_dir in org_dir.iterdir():
                for version_dir in plugin_dir.iterdir():
                    if str(version_dir.resolve()) not in keep:
                        shutil.rmtree(version_dir, ignore_errors=True)
                        removed.append(version_dir)
                if plugin_dir.is_dir() and not any(plugin_dir.iterdir()):
                    plugin_dir.rmdir()
            if org_dir.is_dir() and not any(org_dir.iterdir()):
                org_dir.rmdir()
        return removed
