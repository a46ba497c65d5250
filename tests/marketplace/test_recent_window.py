"""The featured list's stored 30-day downloads (migration 0017): the triggers keep them through
inserts, upserts, updates and deletes of download rows; moving the window adjusts exactly the
days that leave and enter; the list read from the index equals the list computed from the
per-day rows, and a window left behind today falls back to that computation."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import featured, recent_window
from proofpix_plugins.marketplace.catalog import L
from proofpix_plugins.marketplace.counters import DownloadCounter, today
from proofpix_plugins.models.marketplace import MarketplaceDownload
from tests.marketplace.listing_seed import Seeder

D = MarketplaceDownload


async def _stored(seed: Seeder) -> dict[uuid.UUID, int]:
    async with session_scope(seed.factory) as session:
        rows = await session.execute(select(L.id, recent_window.RECENT))
        return {lid: int(n) for lid, n in rows}


async def _summed(seed: Seeder, end: date) -> dict[uuid.UUID, int]:
    async with session_scope(seed.factory) as session:
        rows = await session.execute(
            select(D.listing_id, func.sum(D.downloads))
            .where(D.day > end - timedelta(days=recent_window.DAYS), D.day <= end)
            .group_by(D.listing_id))
        lids = (await session.scalars(select(L.id))).all()
        sums = {lid: int(n) for lid, n in rows}
    return {lid: sums.get(lid, 0) for lid in lids}


async def _seed_days(seed: Seeder, rng: random.Random, listings: int) -> list[uuid.UUID]:
    ids = []
    for i in range(listings):
        ids.append(await seed.listing(
            f"pub{i}.plugin{i}", rating_avg=round(rng.uniform(1, 5), 2),
            rating_count=rng.randint(0, 40)))
    async with session_scope(seed.factory) as session:
        for lid in ids:
            for back in rng.sample(range(70), 12):
                session.add(D(listing_id=lid, version="1.0.0",
                              day=today() - timedelta(days=back),
                              downloads=rng.randint(0, 900)))
    return ids


async def _both(seed: Seeder) -> tuple[list[Any], list[Any]]:
    def shape(items: list[featured.FeaturedItem]) -> list[Any]:
        return [(i.listing.plugin_id, i.source, i.score, i.recent_downloads) for i in items]

    async with session_scope(seed.factory) as session:
        fast = await featured.featured(session)
        slow = await featured._compute_from_days(session)
    return shape(fast), shape(slow)


async def test_triggers_keep_the_window_through_every_kind_of_write(seed: Seeder) -> None:
    rng = random.Random(3)  # noqa: S311 -- reproducible test data
    ids = await _seed_days(seed, rng, 8)
    assert await _stored(seed) == await _summed(seed, today())
    async with session_scope(seed.factory) as session:
        # Move a row into the window, grow one, delete some, move one to another listing.
        old = await session.scalar(select(D.id).where(D.day < today() - timedelta(days=40)))
        await session.execute(update(D).where(D.id == old).values(day=today()))
        await session.execute(update(D).where(D.listing_id == ids[1])
                              .values(downloads=D.downloads + 7))
        await session.execute(delete(D).where(D.listing_id == ids[2],
                                              D.day > today() - timedelta(days=10)))
        one = await session.scalar(select(D.id).where(D.listing_id == ids[3],
                                                      D.day == today() - timedelta(days=50)))
        await session.execute(update(D).where(D.id == one).values(listing_id=ids[4]))
    # And the counters' upsert: a new row, then the same key again (ON CONFLICT DO UPDATE).
    counter = DownloadCounter()
    for _ in range(3):
        counter.add(ids[5], "9.9.9")
    await counter.flush(seed.factory)
    counter.add(ids[5], "9.9.9")
    await counter.flush(seed.factory)
    assert await _stored(seed) == await _summed(seed, today())
    fast, slow = await _both(seed)
    assert fast == slow


async def test_moving_the_window_adjusts_the_days_that_leave_and_enter(seed: Seeder) -> None:
    rng = random.Random(5)  # noqa: S311 -- reproducible test data
    ids = await _seed_days(seed, rng, 6)
    async with session_scope(seed.factory) as session:  # days ahead of today, to roll into
        for lid in ids:
            for ahead in (1, 2, 5, 31):
                session.add(D(listing_id=lid, version="1.0.0",
                              day=today() + timedelta(days=ahead), downloads=ahead * 10))
    for ahead in (1, 4, 5, 45):  # one day, three days, none past a gap, past the whole window
        end = today() + timedelta(days=ahead)
        async with session_scope(seed.factory) as session:
            assert await recent_window.roll_window(session, end)
        assert await _stored(seed) == await _summed(seed, end), ahead
        async with session_scope(seed.factory) as session:
            # A second process's roll finds it done (and an older day is never rolled back to).
            assert not await recent_window.roll_window(session, end)
            assert not await recent_window.roll_window(session, today())


async def test_the_index_read_equals_the_per_day_computation(seed: Seeder) -> None:
    rng = random.Random(11)  # noqa: S311 -- reproducible test data
    await _seed_days(seed, rng, 30)
    fast, slow = await _both(seed)
    assert len(fast) == 30
    assert fast == slow
    # With a curated head the top skips the curated listings, as before.
    async with session_scope(seed.factory) as session:
        await featured.set_curated(session, ["pub7.plugin7", "pub3.plugin3"])
    fast, slow = await _both(seed)
    assert [f[:2] for f in fast[:2]] == [("pub7.plugin7", "curated"), ("pub3.plugin3", "curated")]
    assert fast == slow


async def test_a_window_behind_today_is_not_read(seed: Seeder) -> None:
    rng = random.Random(13)  # noqa: S311 -- reproducible test data
    ids = await _seed_days(seed, rng, 5)
    async with session_scope(seed.factory) as session:
        await session.execute(text("UPDATE marketplace_recent_window SET through = :d")
                              .bindparams(d=today() - timedelta(days=2)))
        # Today's rows are outside the stored window now, so the stored numbers are stale...
        session.add(D(listing_id=ids[0], version="2.0.0", day=today(), downloads=100_000))
    fast, slow = await _both(seed)
    # ... and the list does not use them.
    assert fast == slow
    assert {f[0]: f[3] for f in fast}["pub0.plugin0"] >= 100_000
