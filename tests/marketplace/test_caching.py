"""ETags and 304s on every public GET; caches invalid in every process once the DB changes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from proofpix_plugins.config import Settings
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache
from tests.fixtures.app import StartApp, client_for, create_test_user
from tests.marketplace.listing_seed import Seeder

BASE = "/api/plugins/marketplace"


@pytest.mark.parametrize("path", [
    f"{BASE}/search?q=tool", f"{BASE}/search", f"{BASE}/featured", f"{BASE}/acme.tool",
    f"{BASE}/acme.tool/download",
])
async def test_unchanged_answers_are_304(
    client: httpx.AsyncClient, seed: Seeder, path: str,
) -> None:
    await seed.listing("acme.tool", description="a tool")
    first = await client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (await client.get(path, headers={"If-None-Match": f'W/{etag}, "other"'})
            ).status_code == 304
    assert (await client.get(path, headers={"If-None-Match": '"stale"'})).status_code == 200


async def test_a_change_changes_the_etag(client: httpx.AsyncClient, seed: Seeder) -> None:
    await seed.listing("acme.tool")
    path = f"{BASE}/acme.tool"
    etag = (await client.get(path)).headers["etag"]
    await seed.set("acme.tool", description="now described")
    r = await client.get(path, headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert r.headers["etag"] != etag


async def test_caches_are_invalid_in_every_process_once_the_database_changes(
    settings: Settings, start_app: StartApp, tmp_path: Path,
) -> None:
    # Two app instances on one database, as two API processes; a long TTL, so only the
    # validity token can make the first one see the second one's writes.
    long = settings.model_copy(update={"marketplace_cache_seconds": 3600.0,
                                       "marketplace_page_cache_seconds": 3600.0})
    async with start_app(long) as one, start_app(long) as two:
        seed_two = Seeder(two, tmp_path)
        await seed_two.listing("acme.alpha", category="privacy")
        await seed_two.listing("beta.bravo", category="image")
        async with client_for(one) as c1, client_for(two) as c2:
            facets = (await c1.get(f"{BASE}/search")).json()["facets"]["category"]
            assert facets == {"image": 1, "privacy": 1}
            assert [i["pluginId"] for i in (await c1.get(f"{BASE}/featured")).json()["items"]
                    ] == ["acme.alpha", "beta.bravo"]
            cache: DiscoveryCache = one.state.discovery_cache
            pages: DiscoveryCache = one.state.discovery_pages
            hits, page_hits = cache.hits, pages.hits
            await c1.get(f"{BASE}/search")
            await c1.get(f"{BASE}/featured")
            # Both whole answers from the page cache, so the value cache is not even asked.
            assert (pages.hits, cache.hits) == (page_hits + 2, hits)
            await c1.get(f"{BASE}/search", params={"page": 2})
            assert cache.hits == hits + 2  # a page not rendered yet: ranges + counts cached

            # A publish elsewhere (a new listing), then an edit (category) elsewhere.
            await seed_two.listing("gamma.charlie", category="image")
            await seed_two.set("acme.alpha", category="image")
            facets = (await c1.get(f"{BASE}/search")).json()["facets"]["category"]
            assert facets == {"image": 3}

            # A suspension elsewhere drops it from process one's featured list.
            await seed_two.set("beta.bravo", status="suspended", status_reason="malware")
            ids = [i["pluginId"] for i in (await c1.get(f"{BASE}/featured")).json()["items"]]
            assert "beta.bravo" not in ids

            # Curation in process two is process one's featured head at once.
            admin = await create_test_user(two, platform_admin=True)
            r = await c2.put("/api/admin/featured", json={"pluginIds": ["gamma.charlie"]},
                             headers=admin.headers)
            assert r.status_code == 200
            items = (await c1.get(f"{BASE}/featured")).json()["items"]
            assert (items[0]["pluginId"], items[0]["source"]) == ("gamma.charlie", "curated")


async def test_the_ttl_bounds_what_the_token_cannot_see() -> None:
    cache = DiscoveryCache(ttl_seconds=0)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await cache.get("k", ("t",), compute) == 1
    assert await cache.get("k", ("t",), compute) == 2  # TTL 0: never kept
    kept = DiscoveryCache(ttl_seconds=60, max_entries=2)
    for key in ("a", "b", "c"):
        await kept.get(key, ("t",), compute)
    assert await kept.get("c", ("t",), compute) == 5  # cached
    assert await kept.get("a", ("t",), compute) == 6  # evicted (LRU), recomputed
    assert await kept.get("c", ("u",), compute) == 7  # another token: recomputed


@pytest.mark.parametrize("page_ttl", [0.0, 3600.0])
async def test_a_rendered_page_shows_flushed_downloads_when_its_ttl_runs_out(
    settings: Settings, start_app: StartApp, tmp_path: Path, page_ttl: float,
) -> None:
    # Download counts are flushed without moving the validity token, so a rendered page keeps
    # the old figure for its TTL (0: never kept); a write to the listing drops it at once.
    tuned = settings.model_copy(update={"marketplace_page_cache_seconds": page_ttl})
    async with start_app(tuned) as app:
        seed = Seeder(app, tmp_path)
        await seed.listing("acme.tool", downloads=7)
        async with client_for(app) as client:
            def downloads(r: httpx.Response) -> int:
                return int(r.json()["items"][0]["downloads"])

            assert downloads(await client.get(f"{BASE}/search")) == 7
            assert (await client.get(f"{BASE}/acme.tool/download")).status_code == 200
            await app.state.discovery_counters.flush()
            shown = downloads(await client.get(f"{BASE}/search"))
            assert shown == (8 if page_ttl == 0 else 7)
            await seed.set("acme.tool", description="edited")
            assert downloads(await client.get(f"{BASE}/search")) == 8
