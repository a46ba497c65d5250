"""Serving a version's ``.ppx``: which version, integrity before bytes, then counting.

``?version=`` absent: the newest visible version (published, not yanked). Present: exactly that
version, yanked or not (a pinned install must keep working; the listing shows the reason), but
never one sent back to review. A suspended listing serves nothing (410 with the reason). The
blob's sha256 is recomputed before a byte leaves: a store that returns other bytes than were
published is a 503 problem, never a corrupted (or substituted) artifact.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import NotFound, ProofPixError, ServiceUnavailable
from proofpix_plugins.marketplace.catalog import L, V
from proofpix_plugins.marketplace.listing_detail import newest_first
from proofpix_plugins.models.marketplace import (
    ListingStatus,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.storage.blobstore import BlobStore

log = structlog.get_logger(__name__)


class Gone(ProofPixError):
    """The listing was suspended (the marketplace's kill switch); ``detail`` says why."""

    status = 410
    title = "Gone"
    slug = "gone"


@dataclass(frozen=True, slots=True)
class Artifact:
    listing_id: uuid.UUID
    plugin_id: str
    version: str
    sha256: str
    signature: str
    signing_key_id: str
    size_bytes: int


async def resolve(session: AsyncSession, plugin_id: str, version: str | None) -> Artifact:
    listing = (await session.execute(
        select(L.id, L.status, L.status_reason).where(L.plugin_id == plugin_id))).first()
    if listing is None:
        raise NotFound(f"no marketplace listing {plugin_id}")
    if listing.status is ListingStatus.suspended:
        raise Gone(f"{plugin_id} was suspended: {listing.status_reason or 'no reason given'}",
                   extensions={"reason": listing.status_reason})
    stmt = select(V).where(V.listing_id == listing.id, V.status == VersionStatus.published)
    if version is not None:
        chosen = (await session.scalars(stmt.where(V.version == version))).first()
        if chosen is None:
            raise NotFound(f"{plugin_id} has no published version {version}")
    else:
        visible = newest_first(list(await session.scalars(stmt.where(V.yanked.is_(False)))))
        if not visible:
            raise NotFound(f"{plugin_id} has no downloadable version")
        chosen = visible[0]
    return _artifact(plugin_id, chosen)


def _artifact(plugin_id: str, v: MarketplaceVersion) -> Artifact:
    return Artifact(v.listing_id, plugin_id, v.version, v.artifact_sha256, v.signature,
                    v.signing_key_id, int(v.size_bytes))


async def read_verified(blobs: BlobStore, artifact: Artifact) -> bytes:
    """The artifact's bytes, only if they still hash to the published digest."""
    try:
        data = await blobs.get_bytes(artifact.sha256)
    except NotFound:
        log.error("marketplace.artifact_missing", plugin_id=artifact.plugin_id,
                  version=artifact.version, sha256=artifact.sha256)
        raise ServiceUnavailable("the artifact is missing from the blob store; "
                                 "the operators have been alerted") from None
    if hashlib.sha256(data).hexdigest() != artifact.sha256:
        log.error("marketplace.artifact_corrupted", plugin_id=artifact.plugin_id,
                  version=artifact.version, sha256=artifact.sha256)
        raise ServiceUnavailable("the stored artifact fails its integrity check and is not "
                                 "served; the operators have been alerted")
    return data
