"""Analytics (issue #14): the developer dashboard across organizations, with the < 3
organizations suppression, and the platform admin's marketplace analytics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import SearchTermCount, Submission, SubmissionStatus
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.market_seed import api_key, counter_manifest, developer, publish
from tests.marketplace.test_marketplace_install import market_install

WIDE, NARROW = "acme.mwide", "acme.mnarrow"


async def _install_and_call(api: httpx.AsyncClient, user: TestUser, plugin_id: str) -> None:
    assert (await market_install(api, user, plugin_id)).status_code == 201
    assert (await api.post(f"/api/plugins/{plugin_id}/load", headers=user.headers)
            ).status_code == 200
    r = await api.post("/api/plugins/hooks/custom:mcount", headers=user.headers, json={})
    assert all(x["status"] == "ok" for x in r.json()["results"])


async def test_dashboard_aggregates_orgs_and_suppresses_small_groups(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    dev = await developer(platform, admin.principal.user_id, "acme")
    for pid in (WIDE, NARROW):
        await publish(platform, ppx_dir, counter_manifest(pid, "1.0.0"), developer_id=dev)
    orgs = [admin] + [await create_test_user(platform) for _ in range(2)]
    for user in orgs:
        await _install_and_call(api, user, WIDE)
    for user in orgs[:2]:
        await _install_and_call(api, user, NARROW)
    await platform.state.plugin_service.flush_metrics()
    key = await api_key(platform, dev, "read")

    r = await api.get("/api/developers/dashboard?days=7", headers={"X-API-Key": key})

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["minOrganizations"] == 3
    plugins = {p["pluginId"]: p for p in body["plugins"]}
    wide, narrow = plugins[WIDE], plugins[NARROW]
    assert wide["activeInstalls"] == 3
    assert wide["installsTotal"] == 3
    [v] = wide["versions"]
    assert v["version"] == "1.0.0"
    assert v["activeInstalls"] == 3
    assert sum(d["installs"] for d in v["daily"]) == 3
    [day] = wide["usage"]
    assert day["suppressed"] is False
    assert day["calls"] == 5  # the narrow plugin's calls ran the wide one again
    assert day["errorRate"] == 0.0
    assert day["p95LatencyMs"] is not None
    [small] = narrow["usage"]
    assert small == {"day": small["day"], "suppressed": True, "calls": None, "errors": None,
                     "errorRate": None, "p95LatencyMs": None}
    text = r.text
    for user in orgs:
        assert str(user.principal.org_id) not in text
        assert user.org_slug not in text


async def test_dashboard_needs_a_read_key_and_shows_only_own_listings(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    dev = await developer(platform, admin.principal.user_id, "acme")
    await publish(platform, ppx_dir, counter_manifest(WIDE, "1.0.0"), developer_id=dev)
    rival_user = await create_test_user(platform)
    rival = await api_key(platform, await developer(platform, rival_user.principal.user_id,
                                                    "rival"), "read")
    publish_only = await api_key(platform, dev, "publish")

    assert (await api.get("/api/developers/dashboard")).status_code == 401
    assert (await api.get("/api/developers/dashboard",
                          headers={"X-API-Key": publish_only})).status_code == 403
    assert (await api.get("/api/developers/dashboard", headers=admin.headers)).status_code == 401
    r = await api.get("/api/developers/dashboard", headers={"X-API-Key": rival})
    assert r.json()["plugins"] == []
    bad = await api.get("/api/developers/dashboard?days=0", headers={"X-API-Key": rival})
    assert bad.status_code == 422


async def test_admin_analytics_counts_installs_terms_and_review_times(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    dev = await developer(platform, admin.principal.user_id, "acme")
    await publish(platform, ppx_dir, counter_manifest(WIDE, "1.0.0", category="privacy"),
                  developer_id=dev)
    assert (await market_install(api, admin, WIDE)).status_code == 201
    now = utcnow()
    async with session_scope(platform.state.session_factory) as session:
        session.add_all([SearchTermCount(term="gps", day=now.date(), count=5),
                         SearchTermCount(term="exif", day=now.date(), count=2)])
        for status, hours in ((SubmissionStatus.published, 1), (SubmissionStatus.rejected, 3),
                              (SubmissionStatus.in_review, None)):
            session.add(Submission(
                developer_id=dev, plugin_id=WIDE, version="1.0.0", artifact_sha256="0" * 64,
                status=status, created_at=now - timedelta(hours=4),
                decided_at=now - timedelta(hours=4) + timedelta(hours=hours) if hours else None))
    staff = await create_test_user(platform, platform_admin=True)

    assert (await api.get("/api/admin/analytics", headers=admin.headers)).status_code == 403
    r = await api.get("/api/admin/analytics", headers=staff.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["installs"] for d in body["daily"]] == [1]
    assert body["searchTerms"] == [{"term": "gps", "count": 5}, {"term": "exif", "count": 2}]
    assert body["categories"] == [{"category": "privacy", "listings": 1, "installs": 1}]
    subs = body["submissions"]
    assert subs["byStatus"] == {"published": 1, "rejected": 1, "in_review": 1}
    assert subs["decided"] == 2
    assert subs["decisionSecondsP50"] == 3600.0
    assert subs["decisionSecondsP95"] == 10800.0
