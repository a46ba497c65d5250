"""Download and search-term counters: counted in memory, written in batches.

A public GET must not cost a database write: each request adds to an in-process buffer, and a
background task (``DiscoveryCounters``) flushes every few seconds and on shutdown. A flush is a
constant number of statements whatever the batch holds: one multi-row upsert into the per-day
table and, for downloads, one ``UPDATE ... CASE`` of the listings' totals. A failed flush puts
its counts back, so a database hiccup delays counts instead of losing them. Each tick also moves
the featured list's 30-day download window to today (``recent_window.roll_window``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime

import structlog
from sqlalchemy import Table, case, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.kit.upsert import insert_for
from proofpix_plugins.marketplace import recent_window
from proofpix_plugins.models.marketplace import (
    MarketplaceDownload,
    MarketplaceListing,
    SearchTermCount,
)

log = structlog.get_logger(__name__)

DownloadKey = tuple[uuid.UUID, str, date]
TermKey = tuple[str, date]


def today() -> date:
    return datetime.now(UTC).date()


class DownloadCounter:
    def __init__(self, clock: Callable[[], date] = today) -> None:
        self._counts: Counter[DownloadKey] = Counter()
        self._clock = clock

    def add(self, listing_id: uuid.UUID, version: str) -> None:
        self._counts[(listing_id, version, self._clock())] += 1

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    async def flush(self, factory: async_sessionmaker[AsyncSession]) -> int:
        batch, self._counts = self._counts, Counter()
        if not batch:
            return 0
        # Rows in key order: the recent-downloads trigger (migration 0017) locks each row's
        # listing, and every process taking them in one order cannot deadlock another.
        batch = Counter(dict(sorted(batch.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:]))))
        try:
            async with session_scope(factory) as session:
                await _write_downloads(session, batch)
        except BaseException:
            self._counts.update(batch)
            raise
        return sum(batch.values())


async def _write_downloads(session: AsyncSession, batch: Counter[DownloadKey]) -> None:
    table = MarketplaceDownload.__table__
    stmt = insert_for(session, table).values([
        {"listing_id": lid, "version": version, "day": day, "downloads": n, "installs": 0}
        for (lid, version, day), n in batch.items()
    ])
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["listing_id", "version", "day"],
        set_={"downloads": table.c.downloads + stmt.excluded.downloads},
    ))
    per_listing: Counter[uuid.UUID] = Counter()
    for (lid, _version, _day), n in batch.items():
        per_listing[lid] += n
    listings = MarketplaceListing.__table__
    assert isinstance(listings, Table)
    # Core update, and updated_at set to itself: a download is not an edit of the listing, so
    # it neither reorders the "updated" sort nor invalidates the discovery caches.
    await session.execute(
        update(listings)
        .where(listings.c.id.in_(list(per_listing)))
        .values(
            downloads_total=listings.c.downloads_total
            + case(per_listing, value=listings.c.id, else_=0),
            updated_at=listings.c.updated_at,
        )
    )


class SearchTermCounter:
    def __init__(self, clock: Callable[[], date] = today) -> None:
        self._counts: Counter[TermKey] = Counter()
        self._clock = clock

    def add(self, term: str) -> None:
        if term:
            self._counts[(term, self._clock())] += 1

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    async def flush(self, factory: async_sessionmaker[AsyncSession]) -> int:
        batch, self._counts = self._counts, Counter()
        if not batch:
            return 0
        try:
            async with session_scope(factory) as session:
                table = SearchTermCount.__table__
                stmt = insert_for(session, table).values([
                    {"term": term, "day": day, "count": n} for (term, day), n in batch.items()
                ])
                await session.execute(stmt.on_conflict_do_update(
                    index_elements=["term", "day"],
                    set_={"count": table.c.count + stmt.excluded.count},
                ))
        except BaseException:
            self._counts.update(batch)
            raise
        return sum(batch.values())


class DiscoveryCounters:
    """Both buffers and the task that flushes them every ``interval`` seconds."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], *, interval: float,
        clock: Callable[[], date] = today,
    ) -> None:
        self.factory = factory
        self.interval = interval
        self._clock = clock
        self.downloads = DownloadCounter(clock)
        self.terms = SearchTermCounter(clock)
        self._task: asyncio.Task[None] | None = None

    async def flush(self) -> None:
        try:
            async with session_scope(self.factory) as session:
                await recent_window.roll_window(session, self._clock())
        except Exception:
            log.exception("marketplace.recent_window_roll_failed")
        for counter in (self.downloads, self.terms):
            try:
                await counter.flush(self.factory)
            except Exception:
                log.exception("marketplace.counter_flush_failed",
                              counter=type(counter).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="marketplace-counters")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()
