"""One listing as its public page shows it: publisher, visible versions, ratings, totals.

A suspended listing is still answered (200, ``status: suspended`` with the reason): the kill
switch must tell the people who installed it why, and a 404 would read as "never existed".
Its versions stay listed for the record but none can be downloaded. Versions sent back to review
(``in_review``) are hidden; yanked ones are shown with their reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import NotFound
from proofpix_plugins.marketplace.catalog import (
    L,
    ListingSummary,
    V,
    is_compatible,
    summary_of,
    summary_select,
)
from proofpix_plugins.models.marketplace import (
    MarketplaceReview,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.packages.manifest import compare_versions


@dataclass(frozen=True, slots=True)
class VersionView:
    version: str
    published_at: datetime
    permissions: list[str]
    network_hosts: list[str]
    secret_keys: list[str]
    changelog: str
    platform_range: str
    compatible: bool
    scan_summary: dict[str, Any]
    size_bytes: int
    artifact_sha256: str
    yanked: bool
    yanked_reason: str | None


@dataclass(frozen=True, slots=True)
class ListingDetail:
    listing: ListingSummary
    status: str
    status_reason: str | None
    created_at: datetime
    versions: list[VersionView]
    histogram: dict[str, int]


def newest_first(versions: list[MarketplaceVersion]) -> list[MarketplaceVersion]:
    def newer(a: MarketplaceVersion, b: MarketplaceVersion) -> int:
        return compare_versions(b.version, a.version)

    return sorted(versions, key=cmp_to_key(newer))


async def listing_row(session: AsyncSession, plugin_id: str) -> Any:
    row = (await session.execute(
        summary_select(L.status, L.status_reason, L.created_at).where(L.plugin_id == plugin_id)
    )).first()
    if row is None:
        raise NotFound(f"no marketplace listing {plugin_id}")
    return row


async def shown_versions(session: AsyncSession, listing_id: uuid.UUID) -> list[MarketplaceVersion]:
    rows = await session.scalars(select(V).where(
        V.listing_id == listing_id, V.status == VersionStatus.published))
    return newest_first(list(rows))


async def listing_detail(session: AsyncSession, plugin_id: str) -> ListingDetail:
    row = await listing_row(session, plugin_id)
    versions = await shown_versions(session, row.id)
    ratings = await session.execute(
        select(MarketplaceReview.rating, func.count())
        .where(MarketplaceReview.listing_id == row.id).group_by(MarketplaceReview.rating))
    histogram = {str(star): 0 for star in range(1, 6)}
    for rating, n in ratings:
        histogram[str(int(rating))] = int(n)
    return ListingDetail(
        listing=summary_of(row), status=str(row.status.value), status_reason=row.status_reason,
        created_at=row.created_at, histogram=histogram,
        versions=[VersionView(
            version=v.version, published_at=v.published_at, permissions=list(v.permissions),
            network_hosts=list(v.network_hosts), secret_keys=list(v.secret_keys),
            changelog=v.changelog, platform_range=v.platform_range,
            compatible=is_compatible(v.platform_range), scan_summary=dict(v.scan_summary),
            size_bytes=int(v.size_bytes), artifact_sha256=v.artifact_sha256, yanked=v.yanked,
            yanked_reason=v.yanked_reason,
        ) for v in versions],
    )
