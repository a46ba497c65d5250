"""Failing plugins over the API: timeouts, crashes and the circuit breaker become events and
state, and never fail the host or the other plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, TestUser, client_for, create_test_user
from tests.plugins.builders import build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk
from tests.plugins.test_plugin_api import counter_ppx, install
from tests.waiting import eventually

FAILING = """
import os
import time


def boom(event, ctx):
    raise ValueError("always fails")


def slow(event, ctx):
    time.sleep(5)
    return {}


def die(event, ctx):
    os._exit(3)
"""


def failing_ppx(ppx_dir: Path, plugin_id: str, handler: str, **fields: Any) -> Path:
    meta = mk(plugin_id, hooks=[{"name": "custom:go", "handler": handler}], **fields)
    return build_ppx(ppx_dir, meta, FAILING)


async def events_of(api: httpx.AsyncClient, user: TestUser, plugin_id: str) -> list[str]:
    r = await api.get(f"/api/plugins/{plugin_id}/events?limit=100", headers=user.headers)
    assert r.status_code == 200, r.text
    return [e["type"] for e in r.json()["items"]]


async def test_timeout_and_crash_are_reported_and_others_still_run(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    for pid, handler in (("acme.slow", "slow"), ("acme.dies", "die")):
        ppx = failing_ppx(ppx_dir, pid, handler, resources={"timeout_ms": 300})
        assert (await install(api, admin, ppx)).status_code == 201
        assert (await api.post(f"/api/plugins/{pid}/load", headers=admin.headers)
                ).status_code == 200
    ok = build_ppx(ppx_dir, mk("acme.fine", hooks=[{"name": "custom:go", "handler": "fine"}]),
                   "def fine(event, ctx):\n    return {'fine': True}\n")
    assert (await install(api, admin, ok)).status_code == 201
    await api.post("/api/plugins/acme.fine/load", headers=admin.headers)

    r = await api.post("/api/plugins/hooks/custom:go", headers=admin.headers, json={})
    assert r.status_code == 200, r.text
    by_id = {x["pluginId"]: x for x in r.json()["results"]}
    assert by_id["acme.slow"]["status"] == "timeout"
    assert by_id["acme.dies"]["status"] == "crashed"
    assert by_id["acme.fine"] == {"pluginId": "acme.fine", "status": "ok",
                                  "durationMs": by_id["acme.fine"]["durationMs"],
                                  "result": {"fine": True}}
    assert "timed_out" in await events_of(api, admin, "acme.slow")
    assert "crashed" in await events_of(api, admin, "acme.dies")
    metrics = (await api.get("/api/plugins/acme.slow/metrics", headers=admin.headers)).json()
    assert metrics["timeouts"] == 1
    # The worker was killed; the next call gets a fresh one.
    r = await api.post("/api/plugins/hooks/custom:go", headers=admin.headers, json={})
    assert {x["pluginId"]: x["status"] for x in r.json()["results"]}["acme.fine"] == "ok"


async def test_circuit_breaker_disables_the_plugin_with_an_event(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    settings = platform_settings.model_copy(update={"circuit_breaker_threshold": 3})
    async with start_app(settings, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app)
        assert (await install(api, user, failing_ppx(ppx_dir, "acme.boom", "boom"))
                ).status_code == 201
        await api.post("/api/plugins/acme.boom/load", headers=user.headers)
        for _ in range(3):
            r = await api.post("/api/plugins/hooks/custom:go", headers=user.headers, json={})
            assert r.json()["results"][0]["status"] == "error"
        detail = await _wait_status(api, user, "acme.boom", "disabled")
        assert "consecutive" in (detail["statusReason"] or "")
        assert "disabled" in await events_of(api, user, "acme.boom")
        r = await api.post("/api/plugins/hooks/custom:go", headers=user.headers, json={})
        # No longer called, but reported as skipped with the reason (SPEC §4).
        [skipped] = r.json()["results"]
        assert (skipped["pluginId"], skipped["status"]) == ("acme.boom", "skipped")
        assert "disabled" in skipped["error"]
        # An admin re-enables it explicitly.
        r = await api.post("/api/plugins/acme.boom/load", headers=user.headers)
        assert r.status_code == 200
        assert r.json()["status"] == "loaded"


async def _wait_status(
    api: httpx.AsyncClient, user: TestUser, plugin_id: str, status: str
) -> dict[str, Any]:
    async def detail_once_there() -> dict[str, Any] | None:
        detail: dict[str, Any] = (
            await api.get(f"/api/plugins/{plugin_id}", headers=user.headers)).json()
        return detail if detail["status"] == status else None

    found = await eventually(detail_once_there, what=f"{plugin_id} is {status}", interval=0.05)
    assert found is not None
    return found


async def test_uninstall_removes_storage_and_garbage_collects_the_artifact(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI,
    platform_settings: Settings,
) -> None:
    r = await install(api, admin, counter_ppx(ppx_dir))
    sha = r.json()["plugin"]["artifactSha256"]
    assert await platform.state.blob_store.exists(sha)
    await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    assert (await api.delete("/api/plugins/acme.counter", headers=admin.headers)
            ).status_code == 204
    # Collected by the blob sweep, not inline: past its grace period (none here), it goes.
    assert await platform.state.blob_store.exists(sha)
    assert await platform.state.blob_collector.sweep(grace_seconds=0) == [sha]
    assert not await platform.state.blob_store.exists(sha)
    # Reinstalling starts from an empty store: the counter restarts at 1.
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    assert r.json()["results"][0]["result"]["n"] == 1
    events = await events_of(api, admin, "acme.counter")
    assert "uninstalled" in events


async def test_a_member_cannot_trip_the_circuit_breaker_but_host_fired_failures_do(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    """Review M2: disabling a plugin is an admin's power (unload); a member's hook calls that
    fail are reported and metered, but do not count (docs/decisions.md)."""
    settings = platform_settings.model_copy(update={"circuit_breaker_threshold": 3})
    async with start_app(settings, platform=True) as app, client_for(app) as api:
        admin = await create_test_user(app, tier="enterprise", role="admin")
        member = await create_test_user(app, org=admin.org_slug, role="member")
        ppx = build_ppx(ppx_dir, mk("acme.boom", permissions=["files"], hooks=[
            {"name": "custom:go", "handler": "boom"},
            {"name": "file:uploaded", "handler": "boom"}]), FAILING)
        assert (await install(api, admin, ppx)).status_code == 201
        assert (await api.post("/api/plugins/acme.boom/load", headers=admin.headers)
                ).status_code == 200
        for hook in ("custom:go", "file:uploaded"):
            for _ in range(5):
                r = await api.post(f"/api/plugins/hooks/{hook}", headers=member.headers,
                                   json={"data": {}})
                assert r.status_code == 200, r.text
                assert r.json()["results"][0]["status"] == "error"
        detail = (await api.get("/api/plugins/acme.boom", headers=member.headers)).json()
        assert detail["status"] == "loaded"
        assert "disabled" not in await events_of(api, admin, "acme.boom")
        metrics = (await api.get("/api/plugins/acme.boom/metrics", headers=admin.headers)).json()
        assert metrics["errors"] == 10

        # The host's own hook calls (a photo upload, here by the member) still count.
        photo = gps_jpeg(ppx_dir / "photo.jpg").read_bytes()
        for _ in range(3):
            r = await api.post("/api/files", files={"file": ("p.jpg", photo, "image/jpeg")},
                               headers=member.headers)
            assert r.status_code == 201, r.text
        detail = await _wait_status(api, admin, "acme.boom", "disabled")
        assert "consecutive" in (detail["statusReason"] or "")
