"""Relevance: listings whose name matches a query word come first, then the rest, each by the
text score (migration 0016's name index); pages stay one order across the tier boundary."""

from __future__ import annotations

import httpx

from tests.marketplace.catalogue import search_ids
from tests.marketplace.listing_seed import Seeder

URL = "/api/plugins/marketplace/search"


_ids = search_ids


async def test_a_name_match_outranks_a_higher_text_score_elsewhere(
    client: httpx.AsyncClient, seed: Seeder,
) -> None:
    # SQLite's bm25 scores "exif" higher in exif.exif-exif (id, tags and a description of
    # nothing else) than in acme.tool, whose one match is its name and whose description is
    # long; PostgreSQL's ts_rank does the same for the two words (both in the B-weighted id
    # and tags against one A-weighted name word).
    await seed.listing("acme.tool", name="Exif", description="tool " + "word " * 200)
    await seed.listing("exif.exif-exif", name="Other", description="exif " * 10 + "tool",
                       tags=["exif", "tool"], downloads=1_000_000)
    assert await _ids(client, q="exif") == ["acme.tool", "exif.exif-exif"]
    assert await _ids(client, q="exif tool") == ["acme.tool", "exif.exif-exif"]
    # Other sorts ignore the tiers.
    assert await _ids(client, q="exif", sort="downloads") == ["exif.exif-exif", "acme.tool"]


async def test_pages_cross_the_tier_boundary_without_gap_or_overlap(
    client: httpx.AsyncClient, seed: Seeder,
) -> None:
    for i in range(3):
        await seed.listing(f"name{i}.zeta", name=f"Zeta {i}", downloads=i)
    for i in range(4):
        await seed.listing(f"desc{i}.other", name=f"Other {i}", description="zeta " * (i + 1),
                           downloads=10 + i)
    whole = await _ids(client, q="zeta", limit=100)
    assert len(whole) == 7
    assert {w.split(".")[0][:4] for w in whole[:3]} == {"name"}
    assert {w.split(".")[0][:4] for w in whole[3:]} == {"desc"}
    for limit in (1, 2, 3, 4):
        paged: list[str] = []
        for page in range(1, 9):
            paged += await _ids(client, q="zeta", limit=limit, page=page)
        assert paged == whole, limit
    # A page wholly past the name matches (offset 6: the first tier is counted, not ranked).
    assert await _ids(client, q="zeta", limit=3, page=3) == whole[6:]
    body = (await client.get(URL, params={"q": "zeta", "limit": 2, "page": 4})).json()
    assert body["total"] == 7
    assert [i["pluginId"] for i in body["items"]] == whole[6:]


async def test_a_renamed_listing_changes_tier(client: httpx.AsyncClient, seed: Seeder) -> None:
    await seed.listing("alpha.one", name="Plain", description="gizmo gizmo gizmo")
    await seed.listing("bravo.two", name="Gizmo", description="")
    assert await _ids(client, q="gizmo") == ["bravo.two", "alpha.one"]
    await seed.set("alpha.one", name="Gizmo Deluxe")
    await seed.set("bravo.two", name="Plain Two", description="gizmo")
    assert await _ids(client, q="gizmo") == ["alpha.one", "bravo.two"]
    assert await _ids(client, q="deluxe") == ["alpha.one"]
    assert await _ids(client, q="plain") == ["bravo.two"]
