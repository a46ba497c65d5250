"""Yank and suspend (issue #13), in one process: rules, the public log, the kill switch."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import publog
from proofpix_plugins.models.marketplace import MarketplaceListing
from tests.fixtures.app import TestUser, create_test_user
from tests.marketplace.test_marketplace_install import PID, market_install, seed
from tests.waiting import eventually

ADMIN_BASE = f"/api/admin/marketplace/{PID}"


@pytest.fixture
async def staff(platform: FastAPI) -> TestUser:
    return await create_test_user(platform, platform_admin=True, tier="free")


async def log_actions(platform: FastAPI) -> list[tuple[str, str, dict[str, object]]]:
    async with session_scope(platform.state.session_factory) as session:
        return [(e.action.value, e.version, e.detail) for e in await publog.entries(session)]


async def listing(platform: FastAPI) -> MarketplaceListing:
    async with session_scope(platform.state.session_factory) as session:
        return (await session.execute(select(MarketplaceListing))).scalar_one()


async def test_yank_hides_a_version_from_default_installs_but_not_exact_ones(
    api: httpx.AsyncClient, admin: TestUser, staff: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0", "1.1.0")
    before = (await listing(platform)).updated_at

    r = await api.post(f"{ADMIN_BASE}/versions/1.1.0/yank", headers=staff.headers,
                       json={"reason": "corrupts EXIF"})

    assert r.status_code == 200, r.text
    assert r.json() == {"pluginId": PID, "version": "1.1.0", "yanked": True,
                        "yankedReason": "corrupts EXIF", "latestVersion": "1.0.0"}
    assert (await listing(platform)).updated_at > before
    assert await log_actions(platform) == [("yank", "1.1.0", {"reason": "corrupts EXIF"})]
    assert (await market_install(api, admin)).json()["plugin"]["version"] == "1.0.0"
    again = await api.post(f"{ADMIN_BASE}/versions/1.1.0/yank", headers=staff.headers,
                           json={"reason": "x"})
    assert again.status_code == 409
    r = await api.post(f"{ADMIN_BASE}/versions/1.1.0/unyank", headers=staff.headers, json={})
    assert r.status_code == 200
    assert r.json()["latestVersion"] == "1.1.0"
    assert [a for a, _, _ in await log_actions(platform)] == ["yank", "unyank"]


async def test_yank_and_unyank_of_the_only_version_keep_listed_right(
    api: httpx.AsyncClient, admin: TestUser, staff: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")
    assert (await listing(platform)).listed is True

    r = await api.post(f"{ADMIN_BASE}/versions/1.0.0/yank", headers=staff.headers,
                       json={"reason": "broken"})
    assert r.status_code == 200, r.text
    assert (await listing(platform)).listed is False
    found = await api.get("/api/plugins/marketplace/search", params={"q": "mcount"})
    assert PID not in [i["pluginId"] for i in found.json().get("items", [])]

    r = await api.post(f"{ADMIN_BASE}/versions/1.0.0/unyank", headers=staff.headers, json={})
    assert r.status_code == 200, r.text
    assert (await listing(platform)).listed is True


async def test_only_platform_admins_moderate_and_bad_input_is_refused(
    api: httpx.AsyncClient, admin: TestUser, staff: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")

    assert (await api.post(f"{ADMIN_BASE}/suspend", headers=admin.headers,
                           json={"reason": "x"})).status_code == 403
    assert (await api.post(f"{ADMIN_BASE}/suspend", json={"reason": "x"})).status_code == 401
    empty = await api.post(f"{ADMIN_BASE}/suspend", headers=staff.headers, json={"reason": ""})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "reason"
    assert (await api.post("/api/admin/marketplace/acme.nope/suspend", headers=staff.headers,
                           json={"reason": "x"})).status_code == 404
    assert (await api.post(f"{ADMIN_BASE}/versions/9.9.9/yank", headers=staff.headers,
                           json={"reason": "x"})).status_code == 404
    assert await log_actions(platform) == []
    assert (await listing(platform)).status == "active"


async def test_suspend_disables_every_installation_and_refuses_loads_until_lifted(
    api: httpx.AsyncClient, admin: TestUser, staff: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await seed(platform, admin, ppx_dir, "1.0.0")
    other = await create_test_user(platform, tier="enterprise", role="admin")
    for user in (admin, other):
        assert (await market_install(api, user)).status_code == 201
        assert (await api.post(f"/api/plugins/{PID}/load", headers=user.headers)
                ).status_code == 200

    r = await api.post(f"{ADMIN_BASE}/suspend", headers=staff.headers,
                       json={"reason": "exfiltrates photos"})

    assert r.status_code == 200, r.text
    assert r.json()["installations"] == 2
    for user in (admin, other):
        detail = (await api.get(f"/api/plugins/{PID}", headers=user.headers)).json()
        assert detail["status"] == "disabled"
        assert detail["statusReason"] == "suspended by the marketplace: exfiltrates photos"
        events = (await api.get(f"/api/plugins/{PID}/events", headers=user.headers)).json()
        assert events["items"][0]["type"] == "disabled"

        async def silent(u: TestUser = user) -> bool:
            call = await api.post("/api/plugins/hooks/custom:mcount", headers=u.headers,
                                  json={})
            # Gone from the bus, or reported skipped while a process catches up: never "ok".
            return all(r["status"] == "skipped" for r in call.json()["results"])

        await eventually(silent, what="the suspended plugin stops answering", seconds=2.0)
        load = await api.post(f"/api/plugins/{PID}/load", headers=user.headers)
        assert load.status_code == 409
        assert load.json()["errors"][0]["rule"] == "suspended"
    assert (await market_install(api, await create_test_user(platform))).status_code == 409
    assert [a for a, _, _ in await log_actions(platform)] == ["suspend"]
    assert (await listing(platform)).listed is False

    r = await api.post(f"{ADMIN_BASE}/unsuspend", headers=staff.headers, json={})

    assert r.status_code == 200
    assert r.json()["installations"] == 2
    assert (await listing(platform)).listed is True
    detail = (await api.get(f"/api/plugins/{PID}", headers=admin.headers)).json()
    assert detail["status"] == "disabled"
    assert "lifted" in detail["statusReason"]
    assert (await api.post(f"/api/plugins/{PID}/load", headers=admin.headers)).status_code == 200
    call = await api.post("/api/plugins/hooks/custom:mcount", headers=admin.headers, json={})
    assert call.json()["results"][0]["status"] == "ok"
