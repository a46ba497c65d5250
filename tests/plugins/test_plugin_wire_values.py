"""Values the worker protocol cannot carry never get in, and stored state never stops start-up.

msgpack carries integers within int64/uint64 only. Such a value in a config or in hook ``data``
is refused at the API with the field named; a plugin whose stored state cannot load at start
becomes ``error`` with the reason while the server serves.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import Plugin, PluginConfiguration
from tests.fixtures.app import StartApp, TestUser, client_for, create_test_user
from tests.plugins.builders import COUNTER, build_ppx
from tests.plugins.builders import manifest as mk
from tests.plugins.test_plugin_api import counter_ppx, install

HUGE = 100_000_000_000_000_000_000_000


def plain_ppx(ppx_dir: Path) -> Path:
    """A plugin without a config_schema: any JSON object is a valid config."""
    meta = mk("acme.plain", type="utility", category="workflow",
              hooks=[{"name": "custom:count", "handler": "count"}], permissions=["storage"])
    return build_ppx(ppx_dir, meta, COUNTER)


async def _loaded(api: httpx.AsyncClient, admin: TestUser, ppx: Path, plugin_id: str) -> None:
    assert (await install(api, admin, ppx)).status_code == 201
    r = await api.post(f"/api/plugins/{plugin_id}/load", headers=admin.headers)
    assert r.status_code == 200, r.text


async def test_config_integer_beyond_64_bits_is_refused_naming_the_field(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _loaded(api, admin, plain_ppx(ppx_dir), "acme.plain")
    before = (await api.get("/api/plugins/acme.plain/config", headers=admin.headers)).json()
    for values, field in [({"x": HUGE}, "config.x"), ({"x": [1, {"y": -(2**63) - 1}]},
                                                      "config.x.1.y"),
                          ({"x": 2**64}, "config.x")]:
        r = await api.put("/api/plugins/acme.plain/config", headers=admin.headers,
                          json={"values": values})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
            (field, "wire-int-range")]
    # Nothing was written, and the plugin still answers.
    after = (await api.get("/api/plugins/acme.plain/config", headers=admin.headers)).json()
    assert after == before
    r = await api.put("/api/plugins/acme.plain/config", headers=admin.headers,
                      json={"values": {"x": 2**64 - 1, "y": -(2**63)}})
    assert r.status_code == 200, r.text
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    assert r.json()["results"][0]["status"] == "ok", r.text


async def test_hook_data_integer_beyond_64_bits_is_a_422_not_a_crashed_plugin(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    await _loaded(api, admin, plain_ppx(ppx_dir), "acme.plain")
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers,
                       json={"data": {"a": [0, {"b": HUGE}]}})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
        ("data.a.1.b", "wire-int-range")]
    r = await api.get("/api/plugins/acme.plain/events?type=crashed", headers=admin.headers)
    assert r.json()["total"] == 0
    # The runtime itself reports such data as the caller's error, never as a crash.
    result = await platform.state.plugin_service.execute_hook(
        admin.principal.org_id, "custom:count", {"a": HUGE})
    assert [(x.status, "not serializable" in (x.error or "")) for x in result.results] == [
        ("error", True)]


async def test_stored_state_that_cannot_load_marks_the_plugin_error_and_start_up_goes_on(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    async with start_app(platform_settings, platform=True) as app, client_for(app) as api:
        admin = await create_test_user(app, tier="enterprise", role="admin")
        await _loaded(api, admin, plain_ppx(ppx_dir), "acme.plain")
        await _loaded(api, admin, counter_ppx(ppx_dir), "acme.counter")
        # Written behind the API's back: a config no worker can receive, and a secret that no
        # longer decrypts (a rotated key).
        async with session_scope(app.state.session_factory) as session:
            rows = await session.execute(
                select(PluginConfiguration, Plugin.plugin_id).join(Plugin))
            for cfg, plugin_id in rows.all():
                cfg.values = ({"x": HUGE} if plugin_id == "acme.plain"
                              else {**cfg.values, "token": "fernet:not-a-token"})
    async with start_app(platform_settings, platform=True) as app, client_for(app) as api:
        assert (await api.get("/api/health")).status_code == 200
        for plugin_id, why in [("acme.plain", "not serializable"),
                               ("acme.counter", "cannot be decrypted")]:
            detail = (await api.get(f"/api/plugins/{plugin_id}", headers=admin.headers)).json()
            assert detail["status"] == "error", detail
            assert why in detail["statusReason"], detail
            events = (await api.get(f"/api/plugins/{plugin_id}/events?type=load_failed",
                                    headers=admin.headers)).json()
            assert events["total"] == 1
        # The admin repairs the config and loads it again.
        r = await api.put("/api/plugins/acme.plain/config", headers=admin.headers,
                          json={"values": {"x": 1}})
        assert r.status_code == 200, r.text
        r = await api.post("/api/plugins/acme.plain/load", headers=admin.headers)
        assert r.status_code == 200, r.text
