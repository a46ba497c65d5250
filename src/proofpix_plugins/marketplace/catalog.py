"""What discovery shows: the visibility rule, compatibility, and a listing's summary.

A listing is discoverable when it is ``active`` and has a visible version (``published`` and not
yanked). Search, featured and the listing detail all read these pieces, so the rule lives once.
The rule is stored on the listing as ``listed`` (indexed); :func:`refresh_listed` recomputes it and
every writer that changes a listing's status or a version's status or yank calls it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins import PLATFORM_VERSION
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    Developer,
    ListingStatus,
    MarketplaceListing,
    MarketplaceVersion,
    VersionStatus,
)
from proofpix_plugins.packages.compat import satisfies

#: A select of any columns (SQLAlchemy 2.1 types a select's row as a variadic tuple).
AnySelect = Select[*tuple[Any, ...]]

L = MarketplaceListing
V = MarketplaceVersion


def visible_version() -> ColumnElement[bool]:
    """A version anyone may see and install: published (not sent back to review), not yanked."""
    return and_(V.status == VersionStatus.published, V.yanked.is_(False))


def has_visible_version(ranges: list[str] | None = None) -> ColumnElement[bool]:
    """The listing has a visible version (whose platform range is one of ``ranges``, if given)."""
    condition = and_(V.listing_id == L.id, visible_version())
    if ranges is not None:
        condition = and_(condition, V.platform_range.in_(ranges))
    return exists().where(condition)


def discoverable() -> ColumnElement[bool]:
    """The stored rule (``listed``), kept by :func:`refresh_listed`."""
    return L.listed.is_(True)


async def refresh_listed(session: AsyncSession, listing: MarketplaceListing) -> bool:
    """Recompute ``listing.listed`` (active, with a visible version) in this transaction.

    The one place the denormalized rule is written: publishing, yank/unyank, suspend/unsuspend,
    a re-scan sending a version back to review and an approval restoring it all call it after
    their change. A change moves ``updated_at`` too, so the discovery caches' token moves.
    """
    await session.flush()
    visible = bool(await session.scalar(
        select(exists().where(V.listing_id == listing.id, visible_version()))))
    listed = listing.status is ListingStatus.active and visible
    if listing.listed is not listed:
        listing.listed = listed
        listing.updated_at = utcnow()
        await session.flush()
    return listed


def is_compatible(platform_range: str, platform_version: str = PLATFORM_VERSION) -> bool:
    """Whether a version's ``engines.proofpix`` range admits this platform ("" admits all)."""
    return not platform_range.strip() or satisfies(platform_version, platform_range)


async def compatible_ranges(session: AsyncSession) -> list[str]:
    """The distinct platform ranges of visible versions that admit this platform.

    Ranges are PEP 440 specifiers SQL cannot evaluate; there are few distinct ones, so they are
    judged here and the search filters on ``platform_range IN (...)``.
    """
    rows = await session.scalars(select(V.platform_range).where(visible_version()).distinct())
    return sorted(r for r in rows if is_compatible(r))


@dataclass(frozen=True, slots=True)
class Publisher:
    namespace: str
    display_name: str
    verified: bool


@dataclass(frozen=True, slots=True)
class ListingSummary:
    """One listing as lists show it."""

    id: uuid.UUID
    plugin_id: str
    name: str
    description: str
    type: str
    category: str
    tags: list[str]
    permissions: list[str]
    verified: bool
    latest_version: str | None
    downloads_total: int
    installs_total: int
    rating_avg: float
    rating_count: int
    updated_at: datetime
    publisher: Publisher


def summary_select(*extra: Any) -> AnySelect:
    """The columns of :class:`ListingSummary` (listing joined to its developer), plus ``extra``."""
    stmt: AnySelect = select(
        L.id, L.plugin_id, L.name, L.description, L.type, L.category, L.tags, L.permissions,
        L.verified, L.latest_version, L.downloads_total, L.installs_total, L.rating_avg,
        L.rating_count, L.updated_at, Developer.namespace, Developer.display_name,
        Developer.verified.label("developer_verified"), *extra,
    ).join(Developer, Developer.id == L.developer_id)
    return stmt


def summary_of(row: Any) -> ListingSummary:
    return ListingSummary(
        id=row.id, plugin_id=row.plugin_id, name=row.name, description=row.description,
        type=row.type, category=row.category, tags=list(row.tags or []),
        permissions=list(row.permissions or []), verified=bool(row.verified),
        latest_version=row.latest_version, downloads_total=int(row.downloads_total),
        installs_total=int(row.installs_total), rating_avg=float(row.rating_avg),
        rating_count=int(row.rating_count), updated_at=row.updated_at,
        publisher=Publisher(row.namespace, row.display_name, bool(row.developer_verified)),
    )
