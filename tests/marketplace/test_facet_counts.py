"""``marketplace_facet_counts`` (migration 0014) stays equal to a fresh grouped count of the
listed listings through every kind of change, and the unfiltered search reads it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import delete, select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.search import SearchQuery, search
from proofpix_plugins.models.marketplace import ListingStatus, MarketplaceListing, VersionStatus
from proofpix_plugins.models.marketplace_search import MarketplaceFacetCount
from tests.marketplace.catalogue import seed_catalogue
from tests.marketplace.listing_seed import Seeder


async def _summary(seed: Seeder) -> dict[tuple[str, str], int]:
    async with seed.factory() as session:
        rows = await session.execute(select(
            MarketplaceFacetCount.facet, MarketplaceFacetCount.value, MarketplaceFacetCount.n))
        return {(f, v): int(n) for f, v, n in rows if n}


async def _fresh(seed: Seeder) -> dict[tuple[str, str], int]:
    """The same counts grouped afresh from the listings themselves."""
    async with seed.factory() as session:
        rows = (await session.execute(select(
            MarketplaceListing.category, MarketplaceListing.type,
            MarketplaceListing.permissions).where(MarketplaceListing.listed.is_(True)))).all()
    counts: Counter[tuple[str, str]] = Counter()
    for category, type_, permissions in rows:
        held: Any = json.loads(permissions) if isinstance(permissions, str) else permissions
        counts["total", ""] += 1
        counts["category", category] += 1
        counts["type", type_] += 1
        for permission in held or []:
            counts["permission", permission] += 1
    return dict(counts)


async def _check(seed: Seeder) -> None:
    fresh = await _fresh(seed)
    assert await _summary(seed) == fresh
    async with seed.factory() as session:
        result = await search(session, SearchQuery())
    assert result.total == fresh.get(("total", ""), 0)
    for facet in ("category", "type", "permission"):
        assert result.facets[facet] == {v: n for (f, v), n in fresh.items() if f == facet}


async def test_the_summary_follows_every_change_of_visibility_and_facets(seed: Seeder) -> None:
    await _check(seed)  # empty
    await seed_catalogue(seed)  # inserts, publishes, a yanked-only, suspended, in-review
    await _check(seed)
    assert (await _summary(seed))["total", ""] == 3
    # A new version publishes a hidden listing; a yank of its only version hides it again.
    lid = await seed.listing("golf.new", permissions=["files", "files", "network"], versions=())
    await _check(seed)
    await seed.version(lid, "golf.new", "1.0.0", permissions=["files", "files", "network"])
    await _check(seed)
    await seed.yank("golf.new", "1.0.0", "broken")
    await _check(seed)
    await seed.version(lid, "golf.new", "1.0.1", status=VersionStatus.in_review)
    await _check(seed)
    await seed.version(lid, "golf.new", "1.0.2")
    await _check(seed)
    # Suspend and unsuspend.
    await seed.set("acme.exif-cleaner", status=ListingStatus.suspended)
    await _check(seed)
    await seed.set("acme.exif-cleaner", status=ListingStatus.active)
    await _check(seed)
    await seed.set("echo.suspended", status=ListingStatus.active)
    await _check(seed)
    # The facet fields change on a listed and on a hidden listing.
    await seed.set("gamma.watermark", category="privacy", type="analyzer",
                   permissions=["images", "secrets"])
    await _check(seed)
    await seed.set("delta.yanked-only", category="image", permissions=["network"])
    await _check(seed)
    await seed.set("beta.exif-viewer", permissions=[])
    await _check(seed)
    # A bulk update (no ORM object, no refresh_listed) and deletes.
    async with session_scope(seed.factory) as session:
        await session.execute(update(MarketplaceListing).values(type="processor"))
    await _check(seed)
    async with session_scope(seed.factory) as session:
        await session.execute(delete(MarketplaceListing).where(
            MarketplaceListing.plugin_id.in_(["gamma.watermark", "foxtrot.in-review"])))
    await _check(seed)


async def test_a_rolled_back_change_leaves_the_summary_as_it_was(seed: Seeder) -> None:
    await seed_catalogue(seed)
    before = await _summary(seed)
    async with seed.factory() as session:
        await session.execute(update(MarketplaceListing).values(listed=False))
        await session.flush()
        assert await session.scalar(select(MarketplaceFacetCount.n).where(
            MarketplaceFacetCount.facet == "total")) == 0
        await session.rollback()
    assert await _summary(seed) == before
    await _check(seed)


async def test_only_the_unfiltered_search_reads_the_summary(seed: Seeder) -> None:
    await seed_catalogue(seed)
    async with session_scope(seed.factory) as session:
        await session.execute(update(MarketplaceFacetCount).where(
            MarketplaceFacetCount.facet == "total").values(n=1000))
    async with seed.factory() as session:
        assert (await search(session, SearchQuery())).total == 1000
        assert (await search(session, SearchQuery(sort=None, page=2))).total == 1000
        # Any text or filter counts the listings themselves.
        assert (await search(session, SearchQuery(q="exif"))).total == 2
        assert (await search(session, SearchQuery(type="processor"))).total == 2
        assert (await search(session, SearchQuery(verified=True))).total == 2
