"""Secrets across upgrades (issue 9): a new version cannot unmask a stored secret.

Red team: the author ships 1.0.0 with ``token`` marked ``x-secret``, the admin stores a
credential, and 1.1.0 drops the mark hoping to read it in plain text (no ``secrets`` needed).
The stored value is dropped, the change is in ``permissionDiff`` and waits for consent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import PluginConfiguration
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import counter_ppx, install

SECRET = "s3cr3t-credential-value"


def schema(*, token_secret: bool, greeting_secret: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "greeting": {"type": "string", "default": "hi", "x-secret": greeting_secret},
        "token": {"type": "string", "x-secret": token_secret}},
        "additionalProperties": False}


async def _call(api: httpx.AsyncClient, admin: TestUser) -> dict[str, Any]:
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    [res] = r.json()["results"]
    assert res["status"] == "ok", res
    result: dict[str, Any] = res["result"]
    return result


async def test_an_upgrade_dropping_x_secret_never_sees_the_stored_secret(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir, config_schema=schema(
        token_secret=True)))).status_code == 201
    r = await api.put("/api/plugins/acme.counter/config", headers=admin.headers,
                      json={"values": {"token": SECRET}})
    assert r.status_code == 200, r.text
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    assert (await _call(api, admin))["token"] == "***"

    r = await install(api, admin, counter_ppx(ppx_dir, "1.1.0", config_schema=schema(
        token_secret=False)))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["permissionDiff"]["removedSecretKeys"] == ["token"]
    assert body["permissionDiff"]["addedSecretKeys"] == []
    assert body["permissionDiff"]["pending"] == ["secret:token"]
    assert body["plugin"]["status"] == "unloaded"
    assert body["plugin"]["pendingConsent"] == ["secret:token"]
    r = await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    assert r.status_code == 409
    assert r.json()["pendingConsent"] == ["secret:token"]

    # The stored value went with the mark: not in the database, not readable by the admin.
    async with session_scope(platform.state.session_factory) as session:
        stored = (await session.execute(select(PluginConfiguration))).scalar_one()
    assert "token" not in stored.values
    r = await api.get("/api/plugins/acme.counter/config", headers=admin.headers)
    assert r.json()["values"] == {"greeting": "hi"}

    r = await api.post("/api/plugins/acme.counter/permissions", headers=admin.headers,
                       json={"grantPermissions": ["secret:token"]})
    assert r.status_code == 200, r.text
    assert r.json()["pendingConsent"] == []
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    result = await _call(api, admin)
    assert result["token"] is None
    assert SECRET not in json.dumps(result)
    events = (await api.get("/api/plugins/acme.counter/events?type=upgraded",
                            headers=admin.headers)).json()["items"]
    assert events[0]["details"]["permissionDiff"]["removedSecretKeys"] == ["token"]


async def test_a_key_becoming_secret_is_in_the_diff_and_consent_can_come_with_the_upgrade(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir, config_schema=schema(
        token_secret=True)))).status_code == 201
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    # Naming an item that is not pending is refused like any unrequested permission.
    r = await install(api, admin, counter_ppx(ppx_dir, "1.1.0", config_schema=schema(
        token_secret=True, greeting_secret=True)), {"grantPermissions": ["secret:token"]})
    assert r.status_code == 422, r.text
    r = await install(api, admin, counter_ppx(ppx_dir, "1.1.0", config_schema=schema(
        token_secret=True, greeting_secret=True)),
        {"grantPermissions": ["storage", "secret:greeting"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["permissionDiff"]["addedSecretKeys"] == ["greeting"]
    assert body["permissionDiff"]["pending"] == []
    assert body["plugin"]["status"] == "loaded"
    assert (await _call(api, admin))["greeting"] == "***"
