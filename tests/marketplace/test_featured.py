"""GET /api/plugins/marketplace/featured and PUT /api/admin/featured."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import httpx
import pytest

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import featured
from proofpix_plugins.marketplace.counters import today
from proofpix_plugins.models.marketplace import ListingStatus, MarketplaceDownload
from tests.fixtures.app import MakeUser
from tests.marketplace.listing_seed import Seeder

URL = "/api/plugins/marketplace/featured"
ADMIN = "/api/admin/featured"


async def _recent(seed: Seeder, listing_id: object, n: int, days_back: int = 0) -> None:
    async with session_scope(seed.factory) as session:
        session.add(MarketplaceDownload(listing_id=listing_id, version="1.0.0",
                                        day=today() - timedelta(days=days_back), downloads=n))


def test_score_is_bayesian_rating_times_log_recent_downloads() -> None:
    assert featured.score(0.0, 0, 0) == 0.0
    assert featured.score(5.0, 0, 100) == pytest.approx(3.0 * math.log1p(100))
    assert featured.score(5.0, 5, 100) == pytest.approx(4.0 * math.log1p(100))
    # One 5-star review does not beat a hundred 4.8s at the same downloads.
    assert featured.score(5.0, 1, 50) < featured.score(4.8, 100, 50)


async def test_curated_first_then_top_by_score_never_suspended(
    client: httpx.AsyncClient, seed: Seeder, make_user: MakeUser,
) -> None:
    a = await seed.listing("acme.alpha", rating_avg=4.0, rating_count=20)
    b = await seed.listing("beta.bravo", rating_avg=4.8, rating_count=100)
    c = await seed.listing("gamma.charlie", rating_avg=2.0, rating_count=3)
    s = await seed.listing("echo.pulled", rating_avg=5.0, rating_count=500,
                           status=ListingStatus.active)
    await _recent(seed, a, 1000)
    await _recent(seed, b, 50)
    await _recent(seed, c, 10)
    await _recent(seed, c, 100_000, days_back=45)  # too old to count
    await _recent(seed, s, 10_000)
    await seed.set("echo.pulled", status=ListingStatus.suspended, status_reason="malware")

    admin = await make_user(platform_admin=True)
    r = await client.put(ADMIN, json={"pluginIds": ["gamma.charlie"]}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"pluginIds": ["gamma.charlie"]}

    body = (await client.get(URL)).json()
    items = body["items"]
    assert [(i["pluginId"], i["source"]) for i in items] == [
        ("gamma.charlie", "curated"), ("acme.alpha", "top"), ("beta.bravo", "top")]
    assert items[0]["score"] is None
    assert items[0]["recentDownloads"] == 10
    bayes_a = (4.0 * 20 + 3.0 * 5) / 25
    assert items[1]["score"] == pytest.approx(bayes_a * math.log1p(1000), rel=1e-5)
    assert body["total"] == 3
    assert [i["pluginId"] for i in (await client.get(URL, params={"limit": 1, "page": 2})
                                    ).json()["items"]] == ["acme.alpha"]


async def test_curation_replaces_the_list_and_refuses_bad_ids_by_index(
    client: httpx.AsyncClient, seed: Seeder, make_user: MakeUser,
) -> None:
    await seed.listing("acme.alpha")
    await seed.listing("beta.bravo")
    await seed.listing("echo.pulled", status=ListingStatus.suspended, status_reason="x")
    admin = await make_user(platform_admin=True)
    h = admin.headers
    assert (await client.put(ADMIN, json={"pluginIds": ["acme.alpha", "beta.bravo"]},
                             headers=h)).status_code == 200
    assert (await client.put(ADMIN, json={"pluginIds": ["beta.bravo"]}, headers=h)).json() == {
        "pluginIds": ["beta.bravo"]}
    assert (await client.get(ADMIN, headers=h)).json() == {"pluginIds": ["beta.bravo"]}

    r = await client.put(ADMIN, json={"pluginIds": [
        "beta.bravo", "nobody.here", "beta.bravo", "echo.pulled"]}, headers=h)
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
        ("pluginIds[1]", "exists"), ("pluginIds[2]", "unique"), ("pluginIds[3]", "active")]
    # A refused list changes nothing.
    assert (await client.get(ADMIN, headers=h)).json() == {"pluginIds": ["beta.bravo"]}
    assert (await client.put(ADMIN, json={"pluginIds": []}, headers=h)).json() == {
        "pluginIds": []}


async def test_a_curated_listing_suspended_since_may_stay_while_the_list_is_edited(
    client: httpx.AsyncClient, seed: Seeder, make_user: MakeUser,
) -> None:
    for pid in ("acme.alpha", "beta.bravo", "gamma.charlie"):
        await seed.listing(pid)
    h = (await make_user(platform_admin=True)).headers
    assert (await client.put(ADMIN, json={"pluginIds": ["acme.alpha", "beta.bravo"]},
                             headers=h)).status_code == 200
    await seed.set("beta.bravo", status=ListingStatus.suspended, status_reason="malware")
    await seed.set("gamma.charlie", status=ListingStatus.suspended, status_reason="malware")
    # Reordering the list that holds it, as the console's move buttons do: accepted.
    r = await client.put(ADMIN, json={"pluginIds": ["beta.bravo", "acme.alpha"]}, headers=h)
    assert r.status_code == 200, r.text
    # Never shown while suspended.
    featured = (await client.get(URL)).json()["items"]
    assert "beta.bravo" not in [i["pluginId"] for i in featured]
    # A suspended listing not curated before still cannot be added.
    r = await client.put(ADMIN, json={"pluginIds": ["beta.bravo", "gamma.charlie"]}, headers=h)
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("pluginIds[1]", "active")]


async def test_concurrent_curations_leave_one_whole_list(
    client: httpx.AsyncClient, seed: Seeder, make_user: MakeUser,
) -> None:
    ids = [f"acme.p{i}" for i in range(6)]
    for pid in ids:
        await seed.listing(pid)
    h = (await make_user(platform_admin=True)).headers
    lists = [ids[:3], ids[3:], ids[::2], ids[1::2]] * 2
    answers = await asyncio.gather(*(client.put(ADMIN, json={"pluginIds": one}, headers=h)
                                     for one in lists))
    assert [r.status_code for r in answers] == [200] * len(lists), [r.text for r in answers]
    assert (await client.get(ADMIN, headers=h)).json()["pluginIds"] in lists


@pytest.mark.parametrize("body", [
    {}, {"pluginIds": "acme.alpha"}, {"pluginIds": [1]}, {"pluginIds": ["x" * 101]},
    {"pluginIds": ["a.b"] * 101}, {"pluginIds": [], "extra": 1}, [],
])
async def test_malformed_curation_bodies_are_422(
    client: httpx.AsyncClient, make_user: MakeUser, body: object,
) -> None:
    admin = await make_user(platform_admin=True)
    r = await client.put(ADMIN, json=body, headers=admin.headers)
    assert r.status_code == 422
    assert r.json()["errors"]


async def test_only_platform_admins_curate(client: httpx.AsyncClient,
                                           make_user: MakeUser) -> None:
    assert (await client.put(ADMIN, json={"pluginIds": []})).status_code == 401
    user = await make_user()
    r = await client.put(ADMIN, json={"pluginIds": []}, headers=user.headers)
    assert r.status_code == 403
    assert (await client.get(ADMIN, headers=user.headers)).status_code == 403


async def test_featured_limits(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL, params={"limit": 101})).status_code == 422
    assert (await client.get(URL, params={"page": 0})).status_code == 422
    empty = (await client.get(URL)).json()
    assert empty == {"items": [], "total": 0, "page": 1, "limit": 20}
