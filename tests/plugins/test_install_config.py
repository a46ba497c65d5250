"""Initial config at install (SPEC §7): ``metadata.config``, validated, secrets sealed; an
incomplete config installs as ``needs_configuration`` and ``load`` answers 409 until PUT /config
completes it. The webhook-notifier example installs through the API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import PluginConfiguration
from proofpix_plugins.packages.pack import write_archive
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import install, plugin_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEBHOOK = "proofpix.webhook-notifier"
KEY = "0123456789abcdef0123"
URL = "https://hooks.acme.example/in"


def webhook_ppx(ppx_dir: Path) -> Path:
    out = ppx_dir / "webhook-notifier.ppx"
    write_archive(EXAMPLES / "webhook-notifier", out)
    return out


async def test_webhook_example_installs_with_its_config_and_the_secret_is_sealed(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    r = await install(api, admin, webhook_ppx(ppx_dir),
                      {"config": {"url": URL, "signingKey": KEY}})
    assert r.status_code == 201, r.text
    assert r.json()["plugin"]["status"] == "installed"
    r = await api.get(f"/api/plugins/{WEBHOOK}/config", headers=admin.headers)
    assert r.json()["values"] == {"url": URL, "signingKey": "***"}
    async with session_scope(platform.state.session_factory) as session:
        stored = (await session.execute(select(PluginConfiguration))).scalar_one()
    assert KEY not in json.dumps(stored.values)
    assert stored.values["signingKey"].startswith("fernet:")
    r = await api.post(f"/api/plugins/{WEBHOOK}/load", headers=admin.headers)
    assert r.status_code == 200, r.text


async def test_incomplete_config_installs_as_needs_configuration_until_put_completes_it(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    r = await install(api, admin, webhook_ppx(ppx_dir), {"config": {"url": URL}})
    assert r.status_code == 201, r.text
    plugin = r.json()["plugin"]
    assert plugin["status"] == "needs_configuration"
    assert plugin["statusReason"] == "needs configuration: signingKey"
    r = await api.get("/api/plugins?status=needs_configuration", headers=admin.headers)
    assert [p["id"] for p in r.json()["items"]] == [WEBHOOK]

    r = await api.post(f"/api/plugins/{WEBHOOK}/load", headers=admin.headers)
    assert r.status_code == 409, r.text
    assert r.json()["missingConfig"] == ["signingKey"]
    assert [e["field"] for e in r.json()["errors"]] == ["config.signingKey"]

    r = await api.put(f"/api/plugins/{WEBHOOK}/config", headers=admin.headers,
                      json={"values": {"url": URL}})
    assert r.status_code == 422
    assert (await api.get(f"/api/plugins/{WEBHOOK}", headers=admin.headers)
            ).json()["status"] == "needs_configuration"
    r = await api.put(f"/api/plugins/{WEBHOOK}/config", headers=admin.headers,
                      json={"values": {"url": URL, "signingKey": KEY}})
    assert r.status_code == 200, r.text
    detail = (await api.get(f"/api/plugins/{WEBHOOK}", headers=admin.headers)).json()
    assert (detail["status"], detail["statusReason"]) == ("installed", None)
    r = await api.post(f"/api/plugins/{WEBHOOK}/load", headers=admin.headers)
    assert r.status_code == 200, r.text


async def test_no_config_at_all_names_every_missing_key(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    r = await install(api, admin, webhook_ppx(ppx_dir))
    assert r.status_code == 201, r.text
    assert r.json()["plugin"]["status"] == "needs_configuration"
    r = await api.post(f"/api/plugins/{WEBHOOK}/load", headers=admin.headers)
    assert r.status_code == 409
    assert r.json()["missingConfig"] == ["signingKey", "url"]


async def test_invalid_install_config_is_refused_and_leaves_nothing_behind(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform_settings: Settings
) -> None:
    for config, field, rule in [
        ({"url": URL, "signingKey": "short"}, "config.signingKey", "minLength"),
        ({"url": URL, "signingKey": KEY, "n": 10**30}, "config.n", "wire-int-range"),
        ([1, 2], "metadata.config", "dict_type"),
    ]:
        r = await install(api, admin, webhook_ppx(ppx_dir), {"config": config})
        assert r.status_code == 422, r.text
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, rule)], r.text
    assert (await api.get(f"/api/plugins/{WEBHOOK}", headers=admin.headers)).status_code == 404
    assert plugin_files(platform_settings) == []
