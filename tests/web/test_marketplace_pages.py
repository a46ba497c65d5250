"""The public marketplace pages: `/` (search, facets, sorts, featured) and a listing page.
Anyone reads them; hostile query strings never answer 500; plugin text renders inert."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.kit.security_headers import CONSOLE_CSP
from proofpix_plugins.packages.permissions import PERMISSION_DESCRIPTIONS
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from tests.marketplace.catalogue import seed_catalogue
from tests.marketplace.listing_seed import Seeder
from tests.web.console_client import scripts_of, sign_in

HOSTILE = ["?q=%00%ff", "?q=" + "a" * 5000, "?page=-1", "?page=99999999999999999999",
           "?sort=drop", "?category=<script>", "?permission=root&permission=files",
           "?verified=maybe", "?q=%27%22%3E%3Cscript%3E", "?q=((()))", "?type=x&page=abc",
           "?q=exif&page=500"]


@pytest.fixture
async def seeded(console_app: FastAPI, tmp_path: Path) -> Seeder:
    seed = Seeder(console_app, tmp_path)
    await seed_catalogue(seed)
    await seed.listing(
        "mallory.evil", name="Evil <b>bold</b>",
        description="Hi <script>alert(1)</script> <img src=x onerror=alert(2)> "
                    "[click](javascript:alert(3))", permissions=["http"])
    return seed


def test_one_plain_explanation_per_permission() -> None:
    assert set(PLAIN_PERMISSIONS) == set(PERMISSION_DESCRIPTIONS)


async def test_home_lists_search_results_and_featured_for_anyone(
    web: httpx.AsyncClient, seeded: Seeder,
) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert "EXIF Cleaner" in page.text
    assert "Watermark" in page.text
    assert 'id="featured-heading"' in page.text
    for hidden in ("Exif Suspended", "Exif Yanked", "Exif In Review"):
        assert hidden not in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers, found.javascript_urls) == (0, [], [])
    assert 'for="q"' in page.text
    assert 'for="category"' in page.text


async def test_search_filters_and_the_htmx_fragment(
    web: httpx.AsyncClient, seeded: Seeder,
) -> None:
    page = await web.get("/", params={"q": "exif"})
    assert "EXIF Cleaner" in page.text
    assert "EXIF Viewer" in page.text
    assert "Watermark</strong>" not in page.text
    privacy = await web.get("/", params={"q": "exif", "category": "privacy"})
    assert "EXIF Cleaner" in privacy.text
    assert "EXIF Viewer" not in privacy.text
    verified = await web.get("/", params={"verified": "true", "permission": "images"})
    assert "Watermark" in verified.text
    assert "EXIF Cleaner" not in verified.text
    fragment = await web.get("/", params={"q": "water"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="market-results"')
    assert "Watermark" in fragment.text
    assert "<html" not in fragment.text
    by_name = await web.get("/", params={"sort": "name"})
    text = by_name.text
    assert text.index("EXIF Cleaner") < text.index("EXIF Viewer") < text.index(">Watermark<")


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_query_strings_never_fail(
    web: httpx.AsyncClient, seeded: Seeder, query: str,
) -> None:
    response = await web.get("/" + query)
    # NUL is refused by the app's input guard (422) before any page runs; the rest render.
    assert response.status_code == (422 if "%00" in query else 200), response.text[:300]
    assert "<script>alert" not in response.text


async def test_listing_page_explains_permissions_and_renders_text_inert(
    web: httpx.AsyncClient, seeded: Seeder,
) -> None:
    page = await web.get("/marketplace/acme.exif-cleaner")
    assert page.status_code == 200
    assert PLAIN_PERMISSIONS["files"] in page.text
    assert PLAIN_PERMISSIONS["metadata"] in page.text
    assert "release 1.0.0" in page.text
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    evil = await web.get("/marketplace/mallory.evil")
    assert evil.status_code == 200
    found = scripts_of(evil.text)
    assert (found.inline, found.handlers, found.javascript_urls) == (0, [], [])
    assert "<script>alert" not in evil.text
    assert "<b>bold</b>" not in evil.text
    assert "It names no host" in evil.text
    assert (await web.get("/marketplace/echo.suspended")).text.count("malware") >= 1


@pytest.mark.parametrize("path", ["/marketplace/nobody.here", "/marketplace/..%2f..",
                                  "/marketplace/%3Cscript%3E", "/marketplace/A.B"])
async def test_unknown_listings_answer_404(web: httpx.AsyncClient, path: str) -> None:
    assert (await web.get(path)).status_code == 404


async def test_signed_in_members_see_the_same_marketplace(
    web: httpx.AsyncClient, seeded: Seeder, admin_user: object,
) -> None:
    from tests.fixtures.app import TestUser

    assert isinstance(admin_user, TestUser)
    await sign_in(web, admin_user.email)
    page = await web.get("/")
    assert "EXIF Cleaner" in page.text
    assert "Sign out" in page.text
