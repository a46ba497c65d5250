"""Marketplace installs: the verified artifact of a version, install counting, the load gate.

Nothing is written before the artifact is proven to be the one the platform published: its
bytes must hash to the version row's ``artifact_sha256`` *and* that digest must carry the
platform key's signature (``PlatformKey.verify_artifact``). A blob changed on disk or in the
bucket fails the first check; a row whose digest and signature were swapped by someone without
the platform key fails the second. Only then does the package reach the install pipeline, which
also requires the manifest's id, version and publisher to be the row's
(``PluginService.install_plugin``), since the signature covers the digest alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.errors import Conflict, FieldError, NotFound, ProofPixError
from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.marketplace.versions import compatible, newest, versions_of, visible
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    Developer,
    ListingStatus,
    MarketplaceDownload,
    MarketplaceListing,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.packages.platform_key import PlatformKey
from proofpix_plugins.plugins.marketplace_source import MarketplaceArtifact
from proofpix_plugins.storage.blobstore import BlobStore


class ArtifactUnverified(ProofPixError):
    """The stored artifact is not the one the platform signed: nothing is installed."""

    status = 422
    title = "Artifact Verification Failed"
    slug = "artifact-unverified"


class ListingUnavailable(Conflict):
    """The listing or version exists but may not be installed (suspended, in review)."""

    slug: ClassVar[str] = "marketplace-unavailable"


def suspended_problem(listing: MarketplaceListing) -> ListingUnavailable:
    reason = listing.status_reason or "no reason given"
    return ListingUnavailable(
        f"plugin {listing.plugin_id} is suspended by the marketplace: {reason}",
        errors=(FieldError("pluginId", f"suspended: {reason}", "suspended", listing.plugin_id),),
        extensions={"statusReason": reason},
    )


async def listing_by_plugin_id(
    session: AsyncSession, plugin_id: str, *, lock: bool = False
) -> MarketplaceListing | None:
    stmt = select(MarketplaceListing).where(MarketplaceListing.plugin_id == plugin_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


class MarketplaceArtifacts:
    """``MarketplaceSource`` and ``LoadGate`` (plugins/marketplace_source.py) over the database,
    the blob store and the platform key."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        platform_key: PlatformKey,
        spool_dir: Path,
    ) -> None:
        self._sf = session_factory
        self._blobs = blobs
        self._key = platform_key
        self._spool = spool_dir

    async def _pick(
        self, plugin_id: str, version: str | None
    ) -> tuple[MarketplaceVersion, str, list[str]]:
        async with session_scope(self._sf) as session:
            listing = await listing_by_plugin_id(session, plugin_id)
            if listing is None:
                raise NotFound(f"plugin {plugin_id} is not in the marketplace",
                               errors=(FieldError("pluginId", "not in the marketplace",
                                                  "not-found", plugin_id),))
            if listing.status == ListingStatus.suspended:
                raise suspended_problem(listing)
            namespace = (await session.execute(
                select(Developer.namespace).where(Developer.id == listing.developer_id)
            )).scalar_one()
            rows = await versions_of(session, listing.id)
        notices: list[str] = []
        if version is None:
            row = newest(r for r in rows if visible(r) and compatible(r))
            if row is None:
                raise NotFound(f"plugin {plugin_id} has no installable version for this "
                               "platform", errors=(FieldError("version", "no visible "
                                                   "compatible version", "not-found"),))
        else:
            found = [r for r in rows if r.version == version]
            if not found:
                raise NotFound(f"plugin {plugin_id} has no version {version}",
                               errors=(FieldError("version", "no such version", "not-found",
                                                  version),))
            row = found[0]
            if row.status == VersionStatus.in_review:
                raise ListingUnavailable(
                    f"{plugin_id} {version} is in review and cannot be installed",
                    errors=(FieldError("version", "in review", "in-review", version),))
            if row.yanked:
                notices.append(f"version {version} is yanked: {row.yanked_reason or ''}".strip())
        return row, namespace, notices

    @asynccontextmanager
    async def checkout(
        self, plugin_id: str, version: str | None
    ) -> AsyncIterator[MarketplaceArtifact]:
        row, namespace, notices = await self._pick(plugin_id, version)
        try:
            data = await self._blobs.get_bytes(row.artifact_sha256)
        except (NotFound, ValueError):
            raise self._unverified(row, "the artifact is missing from the blob store",
                                   "missing") from None
        if hashlib.sha256(data).hexdigest() != row.artifact_sha256:
            raise self._unverified(row, "the artifact's sha256 does not match the published "
                                   "digest", "sha256")
        if not self._key.verify_artifact(row.artifact_sha256, row.signature):
            raise self._unverified(row, "the artifact's signature does not verify with the "
                                   "marketplace key", "signature")
        path = await asyncio.to_thread(self._write, data)
        try:
            yield MarketplaceArtifact(path=path, plugin_id=plugin_id, version=row.version,
                                      publisher=namespace, notices=tuple(notices))
        finally:
            with suppress(FileNotFoundError):
                path.unlink()

    def _write(self, data: bytes) -> Path:
        self._spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="marketplace-", suffix=".ppx", dir=self._spool)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return Path(name)

    @staticmethod
    def _unverified(row: MarketplaceVersion, why: str, rule: str) -> ArtifactUnverified:
        return ArtifactUnverified(
            f"refused: {why}; nothing was installed (report it to the platform operators)",
            errors=(FieldError("artifact", why, rule, row.version),),
            extensions={"artifactSha256": row.artifact_sha256},
        )

    async def record_install(self, plugin_id: str, version: str) -> None:
        async with session_scope(self._sf) as session:
            await count_install(session, plugin_id, version)

    async def check_loadable(self, plugin_id: str) -> None:
        async with session_scope(self._sf) as session:
            listing = await listing_by_plugin_id(session, plugin_id)
        if listing is not None and listing.status == ListingStatus.suspended:
            raise suspended_problem(listing)


async def count_install(session: AsyncSession, plugin_id: str, version: str) -> None:
    """One more install of ``version`` today, and on the listing (its ``updated_at`` too)."""
    now = utcnow()
    listing_id: uuid.UUID | None = (await session.execute(
        update(MarketplaceListing).where(MarketplaceListing.plugin_id == plugin_id)
        .values(installs_total=MarketplaceListing.installs_total + 1, updated_at=now)
        .returning(MarketplaceListing.id)
    )).scalar_one_or_none()
    if listing_id is None:
        return
    stmt = insert_for(session, MarketplaceDownload).values(
        listing_id=listing_id, version=version, day=now.date(), downloads=0, installs=1)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["listing_id", "version", "day"],
        set_={"installs": MarketplaceDownload.installs + 1}))
