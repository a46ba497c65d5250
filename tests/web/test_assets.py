"""The console's static assets: pinned vendored releases with their licences and checksums,
a year of caching, the JavaScript budget, and the test-only axe-core never shipped to a page."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from proofpix_plugins.web.assets import (
    CHART_PAGE_SCRIPTS,
    JS_BUDGET_BYTES,
    PAGE_SCRIPTS,
    STATIC_DIR,
)
from tests.fixtures.app import TestUser
from tests.web.console_client import scripts_of, sign_in

VENDOR = STATIC_DIR / "vendor"


def test_every_vendored_release_has_its_licence_and_matches_its_checksum() -> None:
    sums = (Path(__file__).parents[2] / "scripts" / "console-assets.sha256").read_text(
    ).splitlines()
    assert len(sums) >= 9
    for line in sums:
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    for release in ("htmx.org-2.0.11", "pico-2.1.1", "uplot-1.6.32", "axe-core-4.14.1"):
        assert (VENDOR / release / "LICENSE").is_file(), release


async def test_pages_load_at_most_the_budget_of_javascript_and_never_axe(
    frame: httpx.AsyncClient, frame_user: TestUser,
) -> None:
    for bundle in (PAGE_SCRIPTS, CHART_PAGE_SCRIPTS):
        assert sum((STATIC_DIR / s).stat().st_size for s in bundle) <= JS_BUDGET_BYTES
    await sign_in(frame, frame_user.email)
    for path in ("/", "/console/photos"):
        page = await frame.get(path)
        srcs = scripts_of(page.text).srcs
        total = 0
        for src in srcs:
            asset = await frame.get(src)
            assert asset.status_code == 200, src
            total += len(asset.content)
        assert total <= JS_BUDGET_BYTES
        assert not any("axe" in s for s in srcs)


async def test_static_files_are_cached_for_a_year(frame: httpx.AsyncClient) -> None:
    page = await frame.get("/login")
    hrefs = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert any("?v=" in h for h in hrefs), "own assets carry a content hash"
    for href in hrefs:
        response = await frame.get(href)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
