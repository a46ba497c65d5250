"""Updates (issue #14): a newer version is offered with its permission diff, and installing it
goes through the upgrade consent path when it asks for more."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from proofpix_plugins.models.marketplace import VersionStatus
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.market_seed import counter_manifest, developer, publish
from tests.marketplace.test_marketplace_install import PID, market_install

SCHEMA_V1 = {"type": "object", "properties": {"token": {"type": "string", "x-secret": True}}}
SCHEMA_V2 = {"type": "object", "properties": {"token": {"type": "string"}}}


async def test_update_shows_the_diff_and_needs_consent_for_more(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    dev = await developer(platform, admin.principal.user_id, "acme")
    await publish(platform, ppx_dir, counter_manifest(
        PID, "1.0.0", permissions=["storage"], config_schema=SCHEMA_V1), developer_id=dev)
    assert (await market_install(api, admin)).status_code == 201
    assert (await api.post(f"/api/plugins/{PID}/load", headers=admin.headers)).status_code == 200
    none = await api.get("/api/plugins/updates", headers=admin.headers)
    assert none.json() == {"items": [], "total": 0, "page": 1, "limit": 20}

    v2 = counter_manifest(PID, "2.0.0", permissions=["http"], config_schema=SCHEMA_V2,
                          network={"allow": ["hooks.example.com"]})
    await publish(platform, ppx_dir, v2, developer_id=dev)
    # Neither a yanked, an in-review nor an incompatible version is offered.
    await publish(platform, ppx_dir, counter_manifest(PID, "3.0.0"), developer_id=dev,
                  yanked=True)
    await publish(platform, ppx_dir, counter_manifest(PID, "4.0.0"), developer_id=dev,
                  status=VersionStatus.in_review)
    await publish(platform, ppx_dir, counter_manifest(
        PID, "5.0.0", engines={"proofpix": ">=99"}), developer_id=dev)

    r = await api.get("/api/plugins/updates", headers=admin.headers)

    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["installedVersion"] == "1.0.0"
    assert item["latestVersion"] == "2.0.0"
    assert item["needsConsent"] is True
    assert item["permissionDiff"] == {
        "addedPermissions": ["http"], "removedPermissions": ["storage"],
        "addedHosts": ["hooks.example.com"], "removedHosts": [],
        "addedSecretKeys": [], "removedSecretKeys": ["token"],
        "pending": ["http", "network:hooks.example.com", "secret:token"]}

    up = await market_install(api, admin, version="2.0.0")

    assert up.status_code == 201, up.text
    body = up.json()
    assert body["upgraded"] is True
    assert body["plugin"]["status"] == "unloaded"
    assert body["plugin"]["pendingConsent"] == ["http", "network:hooks.example.com",
                                                "secret:token"]
    load = await api.post(f"/api/plugins/{PID}/load", headers=admin.headers)
    assert load.status_code == 409
    assert load.json()["pendingConsent"] == body["plugin"]["pendingConsent"]

    grant = await api.post(f"/api/plugins/{PID}/permissions", headers=admin.headers,
                           json={"grantPermissions": ["http", "secret:token"]})
    assert grant.status_code == 200, grant.text
    assert grant.json()["pendingConsent"] == []
    assert (await api.post(f"/api/plugins/{PID}/load", headers=admin.headers)).status_code == 200
    call = await api.post("/api/plugins/hooks/custom:mcount", headers=admin.headers, json={})
    assert call.json()["results"][0]["result"] == {"version": "2.0.0"}
    after = await api.get("/api/plugins/updates", headers=admin.headers)
    assert after.json()["total"] == 0


async def test_updates_are_for_enterprise_admins(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    member = await create_test_user(platform, org=admin.org_slug, role="member")
    free = await create_test_user(platform, tier="free")

    assert (await api.get("/api/plugins/updates", headers=member.headers)).status_code == 403
    assert (await api.get("/api/plugins/updates", headers=free.headers)).status_code == 403
    assert (await api.get("/api/plugins/updates")).status_code == 401
    bad = await api.get("/api/plugins/updates?limit=1000", headers=admin.headers)
    assert bad.status_code == 422
