"""``/console/updates``: the marketplace updates of the organization with their permission
diff, and the consent action that installs the new version; org admins only."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.web.conftest import browser_client
from tests.web.console_client import scripts_of, sign_in

PID = "acme.mcounter"


async def test_an_admin_sees_the_diff_and_updates_with_consent(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    dev = await developer(console_app, admin_user.principal.user_id, "acme")
    await publish(console_app, tmp_path, counter_manifest(PID, "1.0.0", permissions=["storage"]),
                  developer_id=dev)
    csrf = await sign_in(web, admin_user.email)
    assert 'href="/console/updates"' in (await web.get("/")).text
    await web.post(f"/marketplace/{PID}/install", data={"csrf_token": csrf, "version": "1.0.0",
                                                        "grant": "storage"})
    empty = await web.get("/console/updates")
    assert empty.status_code == 200
    assert "up to date" in empty.text
    await publish(console_app, tmp_path, counter_manifest(
        PID, "2.0.0", permissions=["storage", "http"], network={"allow": ["api.example.com"]}),
        developer_id=dev)
    page = await web.get("/console/updates")
    assert "1.0.0 → 2.0.0" in page.text
    assert PLAIN_PERMISSIONS["http"] in page.text
    assert "api.example.com" in page.text
    assert "stays unloaded" in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers) == (0, [])
    link = f"/marketplace/{PID}/install?version=2.0.0"
    assert link in page.text
    consent = await web.get(link)
    assert consent.status_code == 200
    assert 'name="version" value="2.0.0"' in consent.text
    done = await web.post(f"/marketplace/{PID}/install", data={
        "csrf_token": csrf, "version": "2.0.0", "grant": ["storage", "http"]})
    assert done.status_code == 303, done.text
    assert "up to date" in (await web.get("/console/updates")).text


async def test_only_org_admins_see_updates(
    console_app: FastAPI, web: httpx.AsyncClient,
) -> None:
    assert (await web.get("/console/updates")).status_code == 303
    member = await create_test_user(console_app, tier="enterprise", role="member")
    async with browser_client(console_app) as client:
        await sign_in(client, member.email)
        assert 'href="/console/updates"' not in (await client.get("/")).text
        assert (await client.get("/console/updates")).status_code == 403
