"""Which tree on this machine holds a plugin version, fetching it from the artifact blob if none.

A row's ``install_path`` is a path on the machine that installed it (``layout.py``); another
machine (its own data dir, the same database and blob store) has nothing there. Every row also
names its artifact by sha256, and the artifact is in the blob store every machine shares. So a
process about to run a version (a load, the reconcile, the start-up reload) asks
:meth:`TreeSource.tree_for`:

1. ``install_path``, if it is a directory under this machine's plugin dir: this machine
   installed the version. A path outside it is another machine's (or another data dir's on
   the same host) and is never read, even when it happens to be visible;
2. else this machine's fetched tree for (org, plugin, version, sha256):
   ``<plugins>/.fetched/<org>/<plugin id>/<version>-<sha256>``, a deterministic path derived
   from the row and never written into it, so the shared row holds no other machine's path;
3. else it fetches the blob by ``artifact_sha256``, checks its sha256 before writing anything,
   extracts it with the package extractor (``extract_archive``, the one that validates every
   entry) into this process's staging dir, checks the digest the extractor read, and publishes
   the tree at that path with an atomic rename. Two processes of this machine fetching at once
   both extract; the second rename finds the tree in place and discards its own copy.

A missing blob, a digest mismatch or an archive the extractor refuses raises
:class:`TreeUnavailable` (logged as ``plugins.artifact_*``); nothing is loaded and no tree is
published, and the caller retries (the reconcile) or answers 503 (a load through the API).
Fetched trees no row describes any more are removed when a process starts
(:meth:`TreeSource.remove_stale`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path

import structlog

from proofpix_plugins.errors import NotFound, ProofPixError, ServiceUnavailable
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.packages.archive import extract_archive
from proofpix_plugins.plugins.layout import DIR_MODE, PluginLayout
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)

#: Under the plugin dir, next to the org dirs; no org id starts with a dot.
FETCHED = ".fetched"

#: (org id, plugin id, version, artifact sha256): what identifies a fetched tree.
TreeKey = tuple[str, str, str, str]


class TreeUnavailable(ServiceUnavailable):
    """This machine has no tree for the version and cannot build a verified one now."""


class TreeSource:
    def __init__(self, layout: PluginLayout, blobs: BlobStore) -> None:
        self._layout = layout
        self._blobs = blobs

    @property
    def fetched_root(self) -> Path:
        return self._layout.root / FETCHED

    def fetched_dir(self, org_id: str, plugin_id: str, version: str, sha256: str) -> Path:
        return self.fetched_root / org_id / plugin_id / f"{version}-{sha256}"

    async def tree_for(self, row: Plugin) -> Path:
        """The tree this machine runs ``row``'s version from (see the module doc)."""
        installed = Path(row.install_path)
        here: bool = (installed.is_relative_to(self._layout.root)
                      and await asyncio.to_thread(installed.is_dir))
        if here:
            return installed
        sha = row.artifact_sha256
        final = self.fetched_dir(str(row.organization_id), row.plugin_id, row.version, sha)
        if await asyncio.to_thread(final.is_dir):
            return final
        fields = {"org": str(row.organization_id), "plugin": row.plugin_id,
                  "version": row.version, "sha256": sha}
        try:
            data = await self._blobs.get_bytes(sha)
        except NotFound:
            log.error("plugins.artifact_missing", **fields)
            raise TreeUnavailable(f"the artifact of {row.plugin_id} {row.version} is not in "
                                  "the blob store") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            log.error("plugins.artifact_digest_mismatch", actual=actual, **fields)
            raise TreeUnavailable(f"the artifact of {row.plugin_id} {row.version} does not "
                                  "match its sha256; it was not loaded")
        try:
            await asyncio.to_thread(self._materialise, data, sha, final)
        except TreeUnavailable:
            log.error("plugins.artifact_digest_mismatch", **fields)
            raise
        except ProofPixError as exc:
            log.error("plugins.artifact_refused", reason=exc.detail, **fields)
            raise TreeUnavailable(f"the artifact of {row.plugin_id} {row.version} could not "
                                  f"be extracted: {exc.detail}") from None
        log.info("plugins.tree_fetched", path=str(final), **fields)
        return final

    def _materialise(self, data: bytes, sha: str, final: Path) -> None:
        work = self._layout.new_staging_dir()
        work.mkdir(mode=0o700)
        try:
            package = work / "artifact.ppx"
            package.write_bytes(data)
            tree = work / "tree"
            if extract_archive(package, tree).sha256 != sha:  # the bytes it read, once more
                raise TreeUnavailable("the extracted artifact does not match its sha256")
            final.parent.mkdir(parents=True, exist_ok=True)
            parent = final.parent
            while parent != self._layout.root:
                os.chmod(parent, DIR_MODE)
                parent = parent.parent
            try:
                os.rename(tree, final)
            except OSError:
                if not final.is_dir():  # a sibling of this machine published it first
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def remove_stale(self, wanted: set[TreeKey]) -> list[Path]:
        """Remove fetched trees whose (org, plugin, version, sha256) no row has (start-up)."""
        removed: list[Path] = []
        root = self.fetched_root
        if not root.is_dir():
            return removed
        for org_dir in _dirs(root):
            for plugin_dir in _dirs(org_dir):
                for tree in _dirs(plugin_dir):
                    version, _, sha = tree.name.rpartition("-")
                    if (org_dir.name, plugin_dir.name, version, sha) not in wanted:
                        shutil.rmtree(tree, ignore_errors=True)
                        removed.append(tree)
        return removed


def _dirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
