"""Platform administration: the review queue, a submission's diff and findings, approve
(publishes: the listing appears in the marketplace) and reject with a reason; platform
administrators only; CSRF on the decision."""

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


async def _queued(app: FastAPI, developer: TestUser, tmp_path: Path, version: str) -> str:
    """An unverified developer's submission, scanned and waiting in the queue: its path."""
    async with browser_client(app) as client:
        csrf = await sign_in(client, developer.email)
        await client.post("/console/developer/register", data={
            "csrf_token": csrf, "namespace": "queued", "display_name": "Queued"})
        package = build_ppx(tmp_path / version, manifest("queued.tool", version), SOURCE)
        with package.open("rb") as fh:
            done = await client.post("/console/developer/submissions",
                                     data={"csrf_token": csrf},
                                     files={"file": ("q.ppx", fh, "application/zip")})
        assert done.status_code == 303, done.text
        path = done.headers["location"]
        for _ in range(100):
            if "in review" in (await client.get(path)).text:
                break
            await asyncio.sleep(0.2)
    return "/console/admin/review/" + path.rsplit("/", 1)[1]


async def test_a_platform_admin_approves_a_queued_submission(
    console_app: FastAPI, web: httpx.AsyncClient, tmp_path: Path,
) -> None:
    developer = await create_test_user(console_app, tier="free", role="member")
    review_path = await _queued(console_app, developer, tmp_path, "1.0.0")
    root = await create_test_user(console_app, tier="enterprise", platform_admin=True)
    csrf = await sign_in(web, root.email)
    assert 'href="/console/admin/review"' in (await web.get("/")).text
    listed = await web.get("/console/admin/review")
    assert listed.status_code == 200
    assert review_path in listed.text
    page = await web.get(review_path)
    assert page.status_code == 200
    assert 'id="diff-heading"' in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers) == (0, [])
    assert (await web.post(review_path, data={"decision": "approve"})).status_code == 403
    blank = await web.post(review_path, data={"csrf_token": csrf, "decision": "reject"})
    assert blank.status_code == 422  # a rejection needs its reason
    done = await web.post(review_path, data={"csrf_token": csrf, "decision": "approve",
                                             "reason": "looks fine"})
    assert done.status_code == 303, done.text
    assert (await web.get("/marketplace/queued.tool")).status_code == 200
    assert review_path not in (await web.get("/console/admin/review")).text
    again = await web.post(review_path, data={"csrf_token": csrf, "decision": "approve"})
    assert again.status_code == 409


async def test_a_rejection_carries_its_reason_and_only_admins_get_in(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    developer = await create_test_user(console_app, tier="free", role="member")
    review_path = await _queued(console_app, developer, tmp_path, "1.0.0")
    assert (await web.get("/console/admin/review")).status_code == 303
    csrf = await sign_in(web, admin_user.email)  # an org admin, not a platform admin
    assert 'href="/console/admin/review"' not in (await web.get("/")).text
    assert (await web.get("/console/admin/review")).status_code == 403
    assert (await web.get(review_path)).status_code == 403
    assert (await web.post(review_path, data={"csrf_token": csrf, "decision": "reject",
                                              "reason": "x"})).status_code == 403
    root = await create_test_user(console_app, tier="enterprise", platform_admin=True)
    async with browser_client(console_app) as client:
        root_csrf = await sign_in(client, root.email)
        done = await client.post(review_path, data={
            "csrf_token": root_csrf, "decision": "reject", "reason": "host <b>unexplained</b>"})
        assert done.status_code == 303
        shown = await client.get(review_path)
        assert "host &lt;b&gt;unexplained&lt;/b&gt;" in shown.text
        assert (await client.get("/console/admin/review/not-a-uuid")).status_code == 404
