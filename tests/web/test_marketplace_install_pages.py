"""Installing from a listing page: the consent screen (permissions and hosts, a checkbox each),
then the same install as `POST /api/plugins/install` with `source: marketplace`: only an
enterprise admin, CSRF required, the ticked permissions granted, the install counted."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.marketplace import MarketplaceListing
from proofpix_plugins.models.plugins import PermissionKind, Plugin, PluginPermission
from proofpix_plugins.web.permissions_text import PLAIN_PERMISSIONS
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.web.conftest import browser_client
from tests.web.console_client import csrf_of, scripts_of, sign_in

PID = "acme.mcounter"


async def _publish(app: FastAPI, owner: TestUser, out: Path) -> None:
    dev = await developer(app, owner.principal.user_id, "acme")
    meta = counter_manifest(PID, "1.0.0", permissions=["storage", "http"],
                            network={"allow": ["api.example.com"]})
    await publish(app, out, meta, developer_id=dev)


async def test_an_admin_installs_with_consent_granting_the_ticked_permissions(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    csrf = await sign_in(web, admin_user.email)
    listing = await web.get(f"/marketplace/{PID}")
    assert f'href="/marketplace/{PID}/install"' in listing.text
    page = await web.get(f"/marketplace/{PID}/install")
    assert page.status_code == 200
    assert PLAIN_PERMISSIONS["storage"] in page.text
    assert "api.example.com" in page.text
    assert 'name="grant" value="http"' in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers) == (0, [])
    assert csrf_of(page.text) == csrf

    refused = await web.post(f"/marketplace/{PID}/install",
                             data={"version": "1.0.0", "grant": "storage"})
    assert refused.status_code == 403
    done = await web.post(f"/marketplace/{PID}/install", data={
        "csrf_token": csrf, "version": "1.0.0", "grant": "storage", "decision": "install"})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/console/plugins/")
    async with session_scope(console_app.state.session_factory) as session:
        row = (await session.execute(select(Plugin).where(Plugin.plugin_id == PID))).scalar_one()
        granted = (await session.execute(select(PluginPermission.value).where(
            PluginPermission.plugin_row_id == row.id, PluginPermission.granted,
            PluginPermission.kind == PermissionKind.permission))).scalars().all()
        total = (await session.execute(select(MarketplaceListing.installs_total).where(
            MarketplaceListing.plugin_id == PID))).scalar_one()
    assert sorted(granted) == ["storage"]
    assert total == 1
    again = await web.post(f"/marketplace/{PID}/install", data={
        "csrf_token": csrf, "version": "1.0.0", "grant": "storage"})
    assert again.status_code == 409


async def test_who_sees_and_may_use_the_install(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    anonymous = await web.get(f"/marketplace/{PID}")
    assert anonymous.status_code == 200
    assert f"/marketplace/{PID}/install" not in anonymous.text
    assert (await web.get(f"/marketplace/{PID}/install")).status_code == 303  # to sign-in
    member = await create_test_user(console_app, tier="enterprise", role="member")
    free = await create_test_user(console_app, tier="free", role="admin")
    for user in (member, free):
        async with browser_client(console_app) as client:
            csrf = await sign_in(client, user.email)
            shown = await client.get(f"/marketplace/{PID}")
            assert f"/marketplace/{PID}/install" not in shown.text
            assert (await client.get(f"/marketplace/{PID}/install")).status_code == 403
            posted = await client.post(f"/marketplace/{PID}/install",
                                       data={"csrf_token": csrf, "version": "1.0.0"})
            assert posted.status_code == 403
    csrf = await sign_in(web, admin_user.email)
    for version in ("9.9.9", "<x>"):
        response = await web.post(f"/marketplace/{PID}/install",
                                  data={"csrf_token": csrf, "version": version})
        assert response.status_code in (404, 422), version
    assert (await web.get("/marketplace/acme.nothing/install")).status_code == 404


async def test_members_of_an_installing_organization_review_and_the_text_is_inert(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser, tmp_path: Path,
) -> None:
    await _publish(console_app, admin_user, tmp_path)
    csrf = await sign_in(web, admin_user.email)
    before = await web.get(f"/marketplace/{PID}")
    assert 'action="/marketplace/acme.mcounter/reviews"' not in before.text
    refused = await web.post(f"/marketplace/{PID}/reviews",
                             data={"csrf_token": csrf, "rating": "5", "text": "early"})
    assert refused.status_code == 403
    await web.post(f"/marketplace/{PID}/install", data={"csrf_token": csrf, "version": "1.0.0"})
    page = await web.get(f"/marketplace/{PID}")
    assert 'action="/marketplace/acme.mcounter/reviews"' in page.text
    assert 'for="rating"' in page.text
    assert (await web.post(f"/marketplace/{PID}/reviews",
                           data={"rating": "4", "text": "no token"})).status_code == 403
    bad = await web.post(f"/marketplace/{PID}/reviews",
                         data={"csrf_token": csrf, "rating": "9", "text": "x"})
    assert bad.status_code == 422
    done = await web.post(f"/marketplace/{PID}/reviews", data={
        "csrf_token": csrf, "rating": "4", "text": "Works <script>alert(1)</script>"})
    assert done.status_code == 303
    shown = await web.get(f"/marketplace/{PID}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    assert "<script>alert(1)" not in shown.text
    assert "4.0 out of 5 from 1 review" in shown.text
    found = scripts_of(shown.text)
    assert (found.inline, found.handlers) == (0, [])
