"""Garbage collection of blobs: the only place a blob is deleted.

A blob is garbage when no row names it (a plugin's artifact, a file's original or processed
variant) and it was last put more than ``grace_seconds`` ago. Deleting inline (when an uninstall
or a failed install thinks it held the last reference) raced other writers: another
organization's install of the same package could have stored the blob and not yet committed its
row. The grace period covers every writer between its put and its commit (an install, an upload,
a pipeline run's derived images), and putting an existing blob refreshes its time
(``storage/blobstore.py``), so a sweep never takes a blob someone is about to reference.

Runs once at start and then every ``interval_seconds`` in each API process; sweeps of several
processes may overlap harmlessly (a blob deleted twice is deleted once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import CompoundSelect, delete, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.files import Blob, File
from proofpix_plugins.models.marketplace import MarketplaceVersion, Submission
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)

# IN lists stay well under every engine's bound-parameter limit.
_BATCH = 500


async def referenced(session: AsyncSession, shas: Sequence[str]) -> set[str]:
    """The digests among ``shas`` that some row names."""
    found: set[str] = set()
    for i in range(0, len(shas), _BATCH):
        chunk = list(shas[i:i + _BATCH])
        stmt: CompoundSelect[Any] = union(
            select(Plugin.artifact_sha256).where(Plugin.artifact_sha256.in_(chunk)),
            select(File.sha256).where(File.sha256.in_(chunk)),
            select(File.processed_sha256).where(File.processed_sha256.in_(chunk)),
            # Marketplace artifacts: every published version and every submission's upload
            # (a rejected one stays for the developer's report until the submission is gone).
            select(MarketplaceVersion.artifact_sha256).where(
                MarketplaceVersion.artifact_sha256.in_(chunk)
            ),
            select(Submission.artifact_sha256).where(Submission.artifact_sha256.in_(chunk)),
        )
        found.update(str(sha) for sha in (await session.execute(stmt)).scalars() if sha)
    return found


class BlobCollector:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        *,
        grace_seconds: float,
        interval_seconds: float,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self.grace_seconds = grace_seconds
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, *, grace_seconds: float | None = None) -> list[str]:
        """Delete unreferenced blobs last put more than the grace period ago; returns them."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        cutoff = time.time() - grace
        candidates = await self._blobs.list_older_than(cutoff)
        if not candidates:
            return []
        async with session_scope(self._sf) as session:
            keep = await referenced(session, candidates)
        deleted = [sha for sha in candidates
                   if sha not in keep and await self._blobs.delete_if_older(sha, cutoff)]
        if deleted:
            async with session_scope(self._sf) as session:
                for i in range(0, len(deleted), _BATCH):
                    await session.execute(
                        delete(Blob).where(Blob.sha256.in_(deleted[i:i + _BATCH])))
            log.info("blobs.collected", count=len(deleted))
        return deleted

    async def start(self) -> None:
        await self._sweep_logged()
        self._task = asyncio.create_task(self._loop(), name="blob-gc")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._sweep_logged()

    async def _sweep_logged(self) -> None:
        try:
            await self.sweep()
        except Exception:  # a failed sweep is retried at the next interval
            log.exception("blobs.collect_failed")
