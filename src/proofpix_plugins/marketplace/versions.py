"""Which marketplace versions are visible, installable and compatible, and which is newest."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.models.marketplace import MarketplaceVersion, VersionStatus
from proofpix_plugins.packages.compat import satisfies
from proofpix_plugins.packages.manifest import compare_versions


def visible(row: MarketplaceVersion) -> bool:
    """Shown in search and offered by default: published and not yanked."""
    return row.status == VersionStatus.published and not row.yanked


def compatible(row: MarketplaceVersion, platform_version: str = PLATFORM_VERSION) -> bool:
    """Whether this platform is inside the version's ``engines.proofpix`` range (none: any)."""
    return not row.platform_range or satisfies(platform_version, row.platform_range)


def newer(candidate: str, than: str) -> bool:
    """Whether ``candidate`` is a higher semantic version (an unparsable one never is)."""
    try:
        return compare_versions(candidate, than) > 0
    except ValueError:
        return False


def _order(a: MarketplaceVersion, b: MarketplaceVersion) -> int:
    try:
        return compare_versions(a.version, b.version)
    except ValueError:  # rows are written by the pipeline, which parses them; never a 500
        return (a.version > b.version) - (a.version < b.version)


def newest(rows: Iterable[MarketplaceVersion]) -> MarketplaceVersion | None:
    """The highest semantic version of ``rows`` (pre-releases order below their release)."""
    ordered = sorted(rows, key=functools.cmp_to_key(_order))
    return ordered[-1] if ordered else None


async def versions_of(session: AsyncSession, listing_id: uuid.UUID) -> Sequence[MarketplaceVersion]:
    stmt = select(MarketplaceVersion).where(MarketplaceVersion.listing_id == listing_id)
    return (await session.execute(stmt)).scalars().all()
