"""GET /api/plugins/marketplace/search: text, filters, sorts, facets, pages, visibility."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.marketplace.catalogue import HIDDEN, VISIBLE, search_ids, seed_catalogue
from tests.marketplace.listing_seed import Seeder

URL = "/api/plugins/marketplace/search"


@pytest.fixture
async def catalogue(seed: Seeder) -> Seeder:
    await seed_catalogue(seed)
    return seed


_ids = search_ids


async def test_only_active_listings_with_a_visible_version_appear(
    client: httpx.AsyncClient, catalogue: Seeder,
) -> None:
    r = await client.get(URL)
    assert r.json()["total"] == len(VISIBLE)
    assert sorted(i["pluginId"] for i in r.json()["items"]) == sorted(VISIBLE)
    # Even a query naming them finds none of the hidden kinds.
    assert not set(await _ids(client, q="exif")) & set(HIDDEN)


@pytest.mark.parametrize(("q", "expected"), [
    ("watermark", ["gamma.watermark"]),            # name
    ("coordinates", ["acme.exif-cleaner"]),        # description
    ("gps", ["acme.exif-cleaner"]),                # tags (and description)
    ("gamma", ["gamma.watermark"]),                # publisher namespace
    ("wat", ["gamma.watermark"]),                  # prefix of a word
    ("exif fields", ["beta.exif-viewer"]),         # every word must match
    ("EXIF  VIEWER", ["beta.exif-viewer"]),        # case and spacing
    ("nothing-like-this", []),
])
async def test_text_matches_name_description_tags_and_namespace(
    client: httpx.AsyncClient, catalogue: Seeder, q: str, expected: list[str],
) -> None:
    assert await _ids(client, q=q) == expected


async def test_filters(client: httpx.AsyncClient, catalogue: Seeder) -> None:
    assert await _ids(client, category="image") == ["gamma.watermark"]
    assert sorted(await _ids(client, type="processor")) == ["acme.exif-cleaner",
                                                            "gamma.watermark"]
    assert sorted(await _ids(client, permission="files")) == sorted(VISIBLE)
    assert await _ids(client, permission=["files", "metadata"]) == ["acme.exif-cleaner"]
    assert await _ids(client, permission="secrets") == []
    assert sorted(await _ids(client, verified="true")) == ["acme.exif-cleaner",
                                                           "gamma.watermark"]
    assert await _ids(client, verified="false") == ["beta.exif-viewer"]
    # beta's only version needs platform >=99; the others accept this one.
    assert sorted(await _ids(client, compatible="true")) == ["acme.exif-cleaner",
                                                             "gamma.watermark"]
    assert await _ids(client, compatible="false") == ["beta.exif-viewer"]
    assert await _ids(client, q="exif", category="privacy") == ["acme.exif-cleaner"]


async def test_sorts(client: httpx.AsyncClient, catalogue: Seeder) -> None:
    downloads = ["beta.exif-viewer", "acme.exif-cleaner", "gamma.watermark"]
    assert await _ids(client) == downloads  # default without q
    assert await _ids(client, sort="downloads") == downloads
    assert await _ids(client, sort="rating") == ["gamma.watermark", "acme.exif-cleaner",
                                                 "beta.exif-viewer"]
    assert await _ids(client, sort="name") == ["acme.exif-cleaner", "beta.exif-viewer",
                                               "gamma.watermark"]
    assert await _ids(client, sort="updated") == ["beta.exif-viewer", "gamma.watermark",
                                                  "acme.exif-cleaner"]
    # With q the default is relevance: a name match outranks a description-only match.
    await catalogue.listing("hotel.notes", name="Notes", description="a watermark helper",
                            downloads=10_000)
    assert await _ids(client, q="watermark") == ["gamma.watermark", "hotel.notes"]
    assert await _ids(client, q="watermark", sort="downloads") == ["hotel.notes",
                                                                   "gamma.watermark"]


async def test_verified_publishers_rank_first_at_equal_relevance(
    client: httpx.AsyncClient, seed: Seeder,
) -> None:
    text = {"name": "Twin Tool", "description": "twin", "tags": ["twin"]}
    await seed.listing("unve.twin", verified=False, downloads=1_000, **text)  # type: ignore[arg-type]
    await seed.listing("vera.twin", verified=True, downloads=1, **text)  # type: ignore[arg-type]
    assert await _ids(client, q="twin") == ["vera.twin", "unve.twin"]


async def test_facets_count_under_the_query_and_the_other_filters(
    client: httpx.AsyncClient, catalogue: Seeder,
) -> None:
    body = (await client.get(URL)).json()
    assert body["facets"] == {
        "category": {"image": 1, "metadata": 1, "privacy": 1},
        "type": {"processor": 2, "analyzer": 1},
        "permission": {"files": 3, "images": 1, "metadata": 1},
    }
    body = (await client.get(URL, params={"category": "privacy"})).json()
    # The category facet ignores the category filter; the others honour it.
    assert body["facets"]["category"] == {"image": 1, "metadata": 1, "privacy": 1}
    assert body["facets"]["type"] == {"processor": 1}
    assert body["facets"]["permission"] == {"files": 1, "metadata": 1}
    body = (await client.get(URL, params={"q": "exif", "permission": "metadata"})).json()
    assert body["facets"]["permission"] == {"files": 2, "metadata": 1}
    assert body["facets"]["category"] == {"privacy": 1}
    assert body["total"] == 1


async def test_pages(client: httpx.AsyncClient, catalogue: Seeder) -> None:
    first = (await client.get(URL, params={"limit": 2})).json()
    second = (await client.get(URL, params={"limit": 2, "page": 2})).json()
    assert (first["total"], first["page"], first["limit"]) == (3, 1, 2)
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    ids = [i["pluginId"] for i in first["items"] + second["items"]]
    assert sorted(ids) == sorted(VISIBLE)
    beyond = (await client.get(URL, params={"page": 9})).json()
    assert beyond["items"] == []
    assert beyond["total"] == 3


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"page": 0}, "page"),
    ({"page": "x"}, "page"), ({"q": "x" * 201}, "q"), ({"q": "é" * 10_000}, "q"),
    ({"category": "nope"}, "category"), ({"type": "nope"}, "type"),
    ({"permission": "root"}, "permission"), ({"sort": "random"}, "sort"),
    ({"verified": "maybe"}, "verified"), ({"compatible": "2"}, "compatible"),
])
async def test_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str,
) -> None:
    r = await client.get(URL, params=params)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f == f"query.{field}" or f.startswith(f"query.{field}.") for f in fields)


HOSTILE = [
    '"', '""', "'", "' OR 1=1 --", "%", "%%", "_", "*", "**", "^", "^exif", "exif*",
    "NEAR(exif gps)", "exif AND gps", "exif OR watermark", "NOT exif", "name:exif",
    "{name description}:exif", "(", ")", "(exif", "exif)", "-exif", "+exif", ":", "\\",
    "exif NEAR/2 gps", "e\u0301xif", "\u202eexif\u202c", "שלום עולם",
    "مرحبا", "数据", "\u0300\u0301\u0302", "😀", "\ufeff", "exif" + "\u0301" * 150,
    "a" * 200, " ", "\t\n",
]


@pytest.mark.parametrize("q", HOSTILE)
async def test_hostile_queries_never_fail_nor_list_the_catalogue(
    client: httpx.AsyncClient, catalogue: Seeder, q: str,
) -> None:
    r = await client.get(URL, params={"q": q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] < len(VISIBLE)
    assert set(body["facets"]) == {"category", "type", "permission"}


@pytest.mark.parametrize("q", ["\0", "ex\0if"])
async def test_a_nul_in_the_query_is_a_422_on_q(client: httpx.AsyncClient, q: str) -> None:
    # The platform refuses NUL in every query parameter (kit/problem.py's no-nul rule).
    r = await client.get(URL, params={"q": q})
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("query.q", "no-nul")]
