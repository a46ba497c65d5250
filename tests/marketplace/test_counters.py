"""Downloads and search terms are counted in memory and written in O(1)-statement batches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace.counters import DiscoveryCounters
from proofpix_plugins.models.marketplace import (
    MarketplaceDownload,
    MarketplaceListing,
    SearchTermCount,
)
from tests.fixtures.app import StartApp, client_for
from tests.marketplace.listing_seed import Seeder

BASE = "/api/plugins/marketplace"


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _writes(sql: list[str]) -> list[str]:
    return [s for s in sql if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]


async def _rows(app: FastAPI) -> tuple[dict[str, int], dict[str, int]]:
    async with session_scope(app.state.session_factory) as session:
        per_version = {f"{p}@{v}": int(n) for p, v, n in await session.execute(
            select(MarketplaceListing.plugin_id, MarketplaceDownload.version,
                   MarketplaceDownload.downloads)
            .join(MarketplaceListing, MarketplaceListing.id == MarketplaceDownload.listing_id))}
        totals = {p: int(n) for p, n in await session.execute(
            select(MarketplaceListing.plugin_id, MarketplaceListing.downloads_total))}
    return per_version, totals


async def test_n_downloads_become_n_counted_in_one_batch(
    app: FastAPI, client: httpx.AsyncClient, seed: Seeder,
) -> None:
    await seed.listing("acme.tool", versions=("1.0.0", "1.1.0"), downloads=7)
    await seed.listing("beta.tool")
    before = (await _rows(app))[1]
    with statements(app.state.engine) as during_requests:
        for _ in range(25):
            assert (await client.get(f"{BASE}/acme.tool/download")).status_code == 200
        for _ in range(5):
            assert (await client.get(f"{BASE}/acme.tool/download",
                                     params={"version": "1.0.0"})).status_code == 200
        for _ in range(3):
            assert (await client.get(f"{BASE}/beta.tool/download")).status_code == 200
    # No request wrote anything.
    assert _writes(during_requests) == []
    counters: DiscoveryCounters = app.state.discovery_counters
    assert counters.downloads.pending == 33
    with statements(app.state.engine) as flushed:
        await counters.flush()
    # One upsert for the day rows, one UPDATE for the listing totals: O(1) per batch.
    assert len(_writes(flushed)) == 2
    per_version, totals = await _rows(app)
    assert per_version == {"acme.tool@1.1.0": 25, "acme.tool@1.0.0": 5, "beta.tool@1.0.0": 3}
    assert totals == {"acme.tool": before["acme.tool"] + 30, "beta.tool": 3}
    # A second batch adds to the same day rows.
    await client.get(f"{BASE}/acme.tool/download")
    await counters.flush()
    assert (await _rows(app))[1]["acme.tool"] == 7 + 31
    assert counters.downloads.pending == 0


async def test_a_download_flush_keeps_updated_at(
    app: FastAPI, client: httpx.AsyncClient, seed: Seeder,
) -> None:
    await seed.listing("acme.tool")
    async with session_scope(app.state.session_factory) as session:
        before = await session.scalar(select(MarketplaceListing.updated_at))
    await client.get(f"{BASE}/acme.tool/download")
    await app.state.discovery_counters.flush()
    async with session_scope(app.state.session_factory) as session:
        assert await session.scalar(select(MarketplaceListing.updated_at)) == before


async def test_search_terms_are_counted_normalized_and_first_pages_only(
    app: FastAPI, client: httpx.AsyncClient,
) -> None:
    url = f"{BASE}/search"
    for q in ("EXIF  cleaner", "exif cleaner", " exif\tcleaner ", "GPS"):
        assert (await client.get(url, params={"q": q})).status_code == 200
    await client.get(url, params={"q": "exif cleaner", "page": 2})
    await client.get(url)  # no q: nothing to count
    with statements(app.state.engine) as flushed:
        await app.state.discovery_counters.flush()
    assert len(_writes(flushed)) == 1
    async with session_scope(app.state.session_factory) as session:
        rows = {term: n for term, n in await session.execute(
            select(SearchTermCount.term, SearchTermCount.count))}
    assert rows == {"exif cleaner": 3, "gps": 1}


async def test_the_buffers_are_flushed_on_shutdown(
    settings: Settings, start_app: StartApp, tmp_path: Path,
) -> None:
    # A long interval: only the shutdown flush can write these.
    slow = settings.model_copy(update={"marketplace_counter_flush_seconds": 300.0})
    async with start_app(slow) as app:
        seed = Seeder(app, tmp_path)
        await seed.listing("acme.tool")
        async with client_for(app) as client:
            for _ in range(4):
                await client.get(f"{BASE}/acme.tool/download")
            await client.get(f"{BASE}/search", params={"q": "tool"})
    async with start_app(slow) as app:
        per_version, totals = await _rows(app)
        assert per_version == {"acme.tool@1.0.0": 4}
        assert totals == {"acme.tool": 4}
        async with session_scope(app.state.session_factory) as session:
            assert await session.scalar(select(SearchTermCount.count)) == 1


async def test_a_failed_flush_keeps_the_counts(app: FastAPI, seed: Seeder) -> None:
    lid = await seed.listing("acme.tool")
    counters: DiscoveryCounters = app.state.discovery_counters
    counters.downloads.add(lid, "1.0.0")
    counters.downloads.add(lid, "1.0.0")
    broken = DiscoveryCounters(_refusing_factory(), interval=60)
    broken.downloads.add(lid, "1.0.0")
    await broken.flush()  # logged, not raised
    assert broken.downloads.pending == 1
    await counters.flush()
    assert (await _rows(app))[1] == {"acme.tool": 2}


def _refusing_factory() -> Any:
    class Refusing:
        def __call__(self) -> Any:
            raise ConnectionError("database down")

    return Refusing()
