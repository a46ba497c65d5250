"""The developer portal's submissions: upload a .ppx from the page (CSRF in the multipart
body), the list with status, one submission with its scan report; another developer's
submission is a 404; a user without a developer profile is sent nowhere near them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.listing_seed import SOURCE
from tests.plugins.builders import build_ppx, manifest
from tests.web.conftest import browser_client
from tests.web.console_client import scripts_of, sign_in


async def _register(client: httpx.AsyncClient, csrf: str, namespace: str) -> None:
    done = await client.post("/console/developer/register", data={
        "csrf_token": csrf, "namespace": namespace, "display_name": namespace.title()})
    assert done.status_code == 201, done.text


async def test_a_developer_uploads_and_follows_a_submission(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    assert (await web.get("/console/developer/submissions")).status_code == 404  # no profile
    await _register(web, csrf, "subdev")
    page = await web.get("/console/developer/submissions")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers) == (0, [])
    package = build_ppx(tmp_path, manifest("subdev.counter", "1.0.0"), SOURCE)
    with package.open("rb") as fh:
        refused = await web.post("/console/developer/submissions",
                                 files={"file": ("c.ppx", fh, "application/zip")})
    assert refused.status_code == 403
    with package.open("rb") as fh:
        done = await web.post("/console/developer/submissions",
                              data={"csrf_token": csrf, "release_notes": "first"},
                              files={"file": ("c.ppx", fh, "application/zip")})
    assert done.status_code == 303, done.text
    detail_path = done.headers["location"]
    listed = await web.get("/console/developer/submissions")
    assert "subdev.counter" in listed.text
    assert detail_path in listed.text
    for _ in range(100):  # the scan runs in the app's job runner
        detail = await web.get(detail_path)
        assert detail.status_code == 200
        if "Scan report" in detail.text and "has not finished" not in detail.text:
            break
        await asyncio.sleep(0.2)
    assert "has not finished" not in detail.text
    assert 'id="scan-heading"' in detail.text
    outside = build_ppx(tmp_path / "o", manifest("other.counter", "1.0.0"), SOURCE)
    with outside.open("rb") as fh:
        foreign = await web.post("/console/developer/submissions", data={"csrf_token": csrf},
                                 files={"file": ("o.ppx", fh, "application/zip")})
    assert foreign.status_code == 403
    other = await create_test_user(console_app, tier="free", role="member")
    async with browser_client(console_app) as client:
        other_csrf = await sign_in(client, other.email)
        await _register(client, other_csrf, "someoneelse")
        assert (await client.get(detail_path)).status_code == 404
    for bad in ("/console/developer/submissions/nope", "/console/developer/submissions/%00"):
        assert (await web.get(bad)).status_code in (404, 422)
