"""POST /api/admin/developers/{namespace}/verify: the badge, and its copy on listings."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.marketplace import Developer, MarketplaceListing
from tests.developers.helpers import new_developer
from tests.fixtures.app import MakeUser


async def _listing(app: FastAPI, namespace: str, plugin_id: str) -> None:
    async with session_scope(app.state.session_factory) as session:
        developer = (await session.execute(
            select(Developer).where(Developer.namespace == namespace))).scalar_one()
        session.add(MarketplaceListing(plugin_id=plugin_id, developer_id=developer.id,
                                       name="Tool", type="utility", category="other"))


async def _listings(app: FastAPI) -> dict[str, bool]:
    async with session_scope(app.state.session_factory) as session:
        rows = (await session.execute(select(MarketplaceListing))).scalars().all()
    return {r.plugin_id: r.verified for r in rows}


async def test_verify_and_unverify_update_the_listings(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    dev_headers, _ = await new_developer(client, make_user, "acme")
    await new_developer(client, make_user, "other")
    await _listing(app, "acme", "acme.one")
    await _listing(app, "acme", "acme.two")
    await _listing(app, "other", "other.one")
    _, admin = await make_user(platform_admin=True)

    response = await client.post("/api/admin/developers/acme/verify", headers=admin,
                                 json={"verified": True, "reason": "domain checked"})
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True
    assert response.json()["verifiedAt"]
    assert await _listings(app) == {"acme.one": True, "acme.two": True, "other.one": False}
    me = (await client.get("/api/developers/me", headers=dev_headers)).json()
    assert me["verified"] is True
    async with session_scope(app.state.session_factory) as session:
        row = (await session.execute(
            select(Developer).where(Developer.namespace == "acme"))).scalar_one()
    assert row.verified_reason == "domain checked"

    response = await client.post("/api/admin/developers/acme/verify", headers=admin,
                                 json={"verified": False, "reason": "domain lapsed"})
    assert response.status_code == 200
    assert response.json()["verified"] is False
    assert await _listings(app) == {"acme.one": False, "acme.two": False, "other.one": False}


async def test_only_platform_admins_verify(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, body = await new_developer(client, make_user, "acme")
    payload = {"verified": True, "reason": "me"}
    assert (await client.post("/api/admin/developers/acme/verify", headers=headers,
                              json=payload)).status_code == 403
    key = {"X-API-Key": body["apiKey"]["secret"]}
    assert (await client.post("/api/admin/developers/acme/verify", headers=key,
                              json=payload)).status_code == 401
    assert (await client.post("/api/admin/developers/acme/verify",
                              json=payload)).status_code == 401
    me = (await client.get("/api/developers/me", headers=headers)).json()
    assert me["verified"] is False


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/admin/developers/nobody/verify", {"verified": True, "reason": "x"}, 404),
    ("/api/admin/developers/Bad_Name/verify", {"verified": True, "reason": "x"}, 404),
    ("/api/admin/developers/acme/verify", {"verified": True}, 422),
    ("/api/admin/developers/acme/verify", {"verified": True, "reason": "  "}, 422),
    ("/api/admin/developers/acme/verify", {"verified": "yes", "reason": "x"}, 422),
    ("/api/admin/developers/acme/verify", {"verified": 1, "reason": "x"}, 422),
    ("/api/admin/developers/acme/verify", {"verified": True, "reason": "x" * 501}, 422),
])
async def test_bad_verifications(
    client: httpx.AsyncClient, make_user: MakeUser, path: str, body: dict, status: int
) -> None:
    await new_developer(client, make_user, "acme")
    _, admin = await make_user(platform_admin=True)
    response = await client.post(path, headers=admin, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
