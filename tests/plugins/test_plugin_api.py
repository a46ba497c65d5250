"""Issue 5 end to end, over HTTP, with real sandboxed plugins, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.config import Settings
from proofpix_plugins.plugins.layout import UNOWNED_MAX_AGE_SECONDS
from proofpix_plugins.runtime.host import procfs
from tests.fixtures.app import StartApp, TestUser, client_for, create_test_user
from tests.packages.builders import writestr_ppx
from tests.plugins.builders import ANALYZER, COUNTER, HTTP_WANTER, PROCESSOR, build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk


async def install(
    api: httpx.AsyncClient, user: TestUser, ppx: Path, metadata: dict[str, Any] | None = None
) -> httpx.Response:
    files = {"file": (ppx.name, ppx.read_bytes(), "application/zip")}
    data = {"metadata": json.dumps(metadata)} if metadata is not None else None
    return await api.post("/api/plugins/install", files=files, data=data, headers=user.headers)


def analyzer_ppx(ppx_dir: Path, plugin_id: str = "proofpix.exif-reader", version: str = "1.0.0"
                 ) -> Path:
    meta = mk(plugin_id, version, hooks=[{"name": "file:uploaded", "handler": "on_upload"}],
              permissions=["files", "metadata"])
    return build_ppx(ppx_dir, meta, ANALYZER)


def counter_ppx(ppx_dir: Path, version: str = "1.0.0", **extra: Any) -> Path:
    fields: dict[str, Any] = {
        "type": "utility", "category": "workflow",
        "hooks": [{"name": "custom:count", "handler": "count"}],
        "permissions": ["storage"],
        "config_schema": {
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "default": "hi", "maxLength": 20},
                "token": {"type": "string", "x-secret": True},
            },
            "additionalProperties": False,
        },
    }
    fields.update(extra)
    return build_ppx(ppx_dir, mk("acme.counter", version, **fields), COUNTER)


def plugin_files(settings: Settings) -> list[Path]:
    root = settings.plugin_dir
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


async def test_full_lifecycle_install_load_call_metrics_events_unload_uninstall(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI,
    platform_settings: Settings,
) -> None:
    r = await install(api, admin, analyzer_ppx(ppx_dir))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["plugin"]["status"] == "installed"
    assert {p["name"]: p["granted"] for p in body["plugin"]["permissions"]} == {
        "files": True, "metadata": True}

    r = await api.post("/api/plugins/proofpix.exif-reader/load", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "loaded"

    jpeg = gps_jpeg(ppx_dir / "photo.jpg")
    r = await api.post("/api/files", files={"file": ("x.bin", jpeg.read_bytes(), "text/plain")},
                       headers=admin.headers)
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["contentType"] == "image/jpeg"
    assert record["exif"]["gps"]["latitude"] == pytest.approx(48.8582, abs=1e-3)
    [result] = [x for x in record["pluginResults"] if x["hook"] == "file:uploaded"]
    assert result["status"] == "ok", result
    assert result["result"]["hasGps"] is True
    assert result["result"]["bytes"] == len(jpeg.read_bytes())
    assert record["metadata"]["plugins"]["proofpix.exif-reader"] == {"hasGps": True}

    r = await api.get(f"/api/files/{record['id']}", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["pluginResults"] == record["pluginResults"]

    r = await api.get("/api/plugins/proofpix.exif-reader/metrics", headers=admin.headers)
    assert r.status_code == 200, r.text
    metrics = r.json()
    assert metrics["calls"] == 1
    assert metrics["errors"] == 0
    assert metrics["latencyMs"]["p50"] is not None

    r = await api.get("/api/plugins/proofpix.exif-reader/events", headers=admin.headers)
    types = [e["type"] for e in r.json()["items"]]
    assert "installed" in types
    assert "loaded" in types

    r = await api.post("/api/plugins/proofpix.exif-reader/unload", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "unloaded"
    assert not platform.state.worker_pool.is_loaded(str(admin.principal.org_id),
                                                      "proofpix.exif-reader")

    r = await api.delete("/api/plugins/proofpix.exif-reader", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert (await api.get("/api/plugins/proofpix.exif-reader", headers=admin.headers)).status_code \
        == 404
    assert plugin_files(platform_settings) == []
    r = await api.get("/api/plugins", headers=admin.headers)
    assert r.json()["total"] == 0


async def test_config_validated_secret_redacted_and_reaches_running_worker(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    r = await api.get("/api/plugins/acme.counter/config", headers=admin.headers)
    assert r.json()["values"] == {"greeting": "hi"}

    r = await api.put("/api/plugins/acme.counter/config", headers=admin.headers,
                      json={"values": {"greeting": "x" * 50}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "config.greeting"

    r = await api.put("/api/plugins/acme.counter/config", headers=admin.headers,
                      json={"values": {"greeting": "hello", "token": "s3cr3t-value"}})
    assert r.status_code == 200, r.text
    assert r.json()["values"] == {"greeting": "hello", "token": "***"}

    workers_before = {w.pid for w in platform.state.worker_pool.live_workers()}
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers,
                       json={"data": {}})
    assert r.status_code == 200, r.text
    [res] = r.json()["results"]
    # New config without a restart; the secret stays hidden from a plugin without `secrets`.
    assert res["result"] == {"n": 1, "greeting": "hello", "token": "***"}
    assert {w.pid for w in platform.state.worker_pool.live_workers()} == workers_before

    # Secrets are encrypted at rest.
    from sqlalchemy import select

    from proofpix_plugins.db import session_scope
    from proofpix_plugins.models.plugins import PluginConfiguration

    async with session_scope(platform.state.session_factory) as session:
        stored = (await session.execute(select(PluginConfiguration))).scalar_one()
    assert "s3cr3t-value" not in json.dumps(stored.values)
    assert stored.values["token"].startswith("fernet:")


async def test_every_install_failure_leaves_nothing_behind(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform_settings: Settings
) -> None:
    evil = build_ppx(ppx_dir, mk("acme.evil", hooks=[{"name": "file:uploaded",
                                                      "handler": "go"}]),
                     "def go(event, ctx):\n    return eval(event['x'])\n")
    r = await install(api, admin, evil)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["scanReport"]["rejected"] is True

    notzip = ppx_dir / "notzip.ppx"
    notzip.write_bytes(b"this is not a zip file at all")
    assert (await install(api, admin, notzip)).status_code == 415

    good = analyzer_ppx(ppx_dir)
    r = await install(api, admin, good, {"grantPermissions": ["http"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "grantPermissions[0]"
    r = await api.post("/api/plugins/install", headers=admin.headers,
                       files={"file": ("a.ppx", good.read_bytes())}, data={"metadata": "{nope"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "metadata"
    r = await install(api, admin, good, {"grantPermissions": "files", "bogus": 1})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"metadata.grantPermissions",
                                                      "metadata.bogus"}
    dep = build_ppx(ppx_dir, mk("acme.needs-dep", dependencies={"acme.missing": ">=1.0"}),
                    "def x(e, c):\n    return {}\n")
    r = await install(api, admin, dep)
    assert r.status_code == 422
    assert "acme.missing" in r.text
    incompatible = build_ppx(ppx_dir, mk("acme.future", engines={"proofpix": ">=99"}),
                             "def x(e, c):\n    return {}\n")
    assert (await install(api, admin, incompatible)).status_code == 422

    r = await api.get("/api/plugins", headers=admin.headers)
    assert r.json()["total"] == 0
    assert plugin_files(platform_settings) == []
    artifacts = [p for p in platform_settings.blob_dir.rglob("*") if p.is_file()]
    assert artifacts == []


async def test_oversized_upload_is_refused_while_streaming(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    small = platform_settings.model_copy(update={"max_upload_bytes": 4096})
    async with start_app(small, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app)
        big = ppx_dir / "big.ppx"
        big.write_bytes(b"PK\x03\x04" + os.urandom(10_000))
        r = await install(api, user, big)
        assert r.status_code == 413
        assert (await api.get("/api/plugins", headers=user.headers)).json()["total"] == 0


async def test_upgrade_asking_for_more_permissions_needs_consent_again(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    v2 = counter_ppx(ppx_dir, "1.1.0", permissions=["storage", "http"],
                     network={"allow": ["api.example.com"]})
    r = await install(api, admin, v2)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["upgraded"] is True
    assert body["previousVersion"] == "1.0.0"
    assert body["permissionDiff"]["addedPermissions"] == ["http"]
    assert body["permissionDiff"]["addedHosts"] == ["api.example.com"]
    assert body["plugin"]["status"] == "unloaded"
    assert set(body["plugin"]["pendingConsent"]) == {"http", "network:api.example.com"}

    r = await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    assert r.status_code == 409
    assert r.json()["pendingConsent"]

    r = await api.post("/api/plugins/acme.counter/permissions", headers=admin.headers,
                       json={"grantPermissions": ["http"]})
    assert r.status_code == 200, r.text
    assert r.json()["pendingConsent"] == []
    r = await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["version"] == "1.1.0"
    r = await api.get("/api/plugins/acme.counter/events", headers=admin.headers)
    types = [e["type"] for e in r.json()["items"]]
    assert {"upgraded", "permissions_granted"} <= set(types)

    # Same version again, or an older one: refused.
    assert (await install(api, admin, v2)).status_code == 409
    assert (await install(api, admin, counter_ppx(ppx_dir, "0.9.0"))).status_code == 409


async def test_upgrade_with_no_new_permissions_keeps_running(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    r = await install(api, admin, counter_ppx(ppx_dir, "1.0.1"))
    assert r.status_code == 201
    assert r.json()["plugin"]["status"] == "loaded"
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    assert r.json()["results"][0]["status"] == "ok"


async def test_permission_withheld_at_install_is_denied_at_run_time(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    r = await install(api, admin, counter_ppx(ppx_dir), {"grantPermissions": []})
    assert r.status_code == 201
    assert r.json()["plugin"]["permissions"] == [
        {"name": "storage", "requested": True, "granted": False}]
    await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    [res] = r.json()["results"]
    assert res["status"] in ("error", "denied")
    events = (await api.get("/api/plugins/acme.counter/events", headers=admin.headers)).json()
    assert "permission_denied" in [e["type"] for e in events["items"]]


async def test_processor_returns_a_derived_image(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    meta = mk("acme.gps-strip", type="processor", category="privacy",
              hooks=[{"name": "file:process", "handler": "strip_gps"}],
              permissions=["files", "images"])
    assert (await install(api, admin, build_ppx(ppx_dir, meta, PROCESSOR))).status_code == 201
    assert (await api.post("/api/plugins/acme.gps-strip/load", headers=admin.headers)
            ).status_code == 200
    jpeg = gps_jpeg(ppx_dir / "p.jpg")
    r = await api.post("/api/files", files={"file": ("p.jpg", jpeg.read_bytes())},
                       headers=admin.headers)
    assert r.status_code == 201, r.text
    record = r.json()
    [res] = [x for x in record["pluginResults"] if x["hook"] == "file:process"]
    assert res["status"] == "ok", res
    assert record["processedSha256"]
    assert record["processedSha256"] != record["sha256"]
    r = await api.get(f"/api/files/{record['id']}/content?variant=processed",
                      headers=admin.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    import io

    from PIL import Image

    with Image.open(io.BytesIO(r.content)) as img:
        assert not img.getexif().get_ifd(0x8825)


async def test_a_new_instance_reloads_loaded_plugins_and_cleans_interrupted_installs(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    async with start_app(platform_settings, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app)
        assert (await install(api, user, counter_ppx(ppx_dir))).status_code == 201
        assert (await api.post("/api/plugins/acme.counter/load", headers=user.headers)
                ).status_code == 200
    plugins = platform_settings.plugin_dir
    org = plugins / str(user.principal.org_id)
    # An install that crashed between extraction and commit leaves its process's staging root
    # and an unreferenced tree, both named for a process that is gone (this pid, another start
    # time: the pid was reused).
    dead = f"{os.getpid()}-1-0"
    staged = plugins / ".staging" / dead / "deadbeef"
    (staged / "plugin").mkdir(parents=True)
    orphan = org / "acme.ghost" / f"1.0.0-0123456789ab@{dead}-cafe0123"
    orphan.mkdir(parents=True)
    (orphan / "plugin.json").write_text("{}")
    # Leftovers that name no owner go once they are older than the documented age.
    old_tree = org / "acme.old" / "1.0.0-0123456789ab"
    old_tree.mkdir(parents=True)
    aged = time.time() - UNOWNED_MAX_AGE_SECONDS - 60
    os.utime(old_tree, (aged, aged))
    # A live sibling's install in flight (this test process, another layout) is left alone.
    live = f"{os.getpid()}-{procfs.start_ticks(os.getpid())}-999"
    sibling_staged = plugins / ".staging" / live / "feedface"
    sibling_staged.mkdir(parents=True)
    sibling_tree = org / "acme.sibling" / f"1.0.0-0123456789ab@{live}-beef0123"
    sibling_tree.mkdir(parents=True)
    async with start_app(platform_settings, platform=True) as app, client_for(app) as api:
        assert app.state.worker_pool.is_loaded(str(user.principal.org_id), "acme.counter")
        r = await api.post("/api/plugins/hooks/custom:count", headers=user.headers, json={})
        assert r.json()["results"][0]["status"] == "ok"
        assert not staged.parent.exists()
        assert not orphan.parent.exists()
        assert not old_tree.exists()
        assert sibling_staged.is_dir()
        assert sibling_tree.is_dir()
        assert (await api.get("/api/plugins/acme.counter", headers=user.headers)
                ).json()["status"] == "loaded"


async def test_other_organization_sees_nothing_and_gets_404(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
    await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    other = await create_test_user(platform, tier="enterprise", role="admin")
    h = other.headers
    assert (await api.get("/api/plugins", headers=h)).json()["total"] == 0
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/plugins/acme.counter", {}),
        ("GET", "/api/plugins/acme.counter/config", {}),
        ("PUT", "/api/plugins/acme.counter/config", {"json": {"values": {}}}),
        ("GET", "/api/plugins/acme.counter/metrics", {}),
        ("GET", "/api/plugins/acme.counter/events", {}),
        ("POST", "/api/plugins/acme.counter/load", {}),
        ("POST", "/api/plugins/acme.counter/unload", {}),
        ("DELETE", "/api/plugins/acme.counter", {}),
    ]
    for method, path, kw in attempts:
        r = await api.request(method, path, headers=h, **kw)
        assert r.status_code == 404, (method, path, r.text)
    r = await api.post("/api/plugins/hooks/custom:count", headers=h, json={})
    assert r.json()["results"] == []
    # Org A's storage is untouched by B's attempts and A's plugin still counts on.
    r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
    assert r.json()["results"][0]["result"]["n"] == 2


async def test_management_needs_enterprise_tier_and_admin_role(
    api: httpx.AsyncClient, platform: FastAPI, ppx_dir: Path
) -> None:
    free = await create_test_user(platform, tier="free", role="owner")
    assert (await api.get("/api/plugins", headers=free.headers)).status_code == 403
    assert (await install(api, free, counter_ppx(ppx_dir))).status_code == 403
    member = await create_test_user(platform, tier="enterprise", role="member")
    assert (await api.get("/api/plugins", headers=member.headers)).status_code == 200
    assert (await install(api, member, counter_ppx(ppx_dir))).status_code == 403
    assert (await api.get("/api/plugins")).status_code == 401


async def test_install_refuses_the_unauthorized_before_reading_the_upload(
    api: httpx.AsyncClient, platform: FastAPI, ppx_dir: Path
) -> None:
    # A body the form would refuse (415): the 401/403 shows auth ran before the form was read.
    notzip = ppx_dir / "notzip.ppx"
    notzip.write_bytes(b"this is not a zip file at all")
    member = await create_test_user(platform, tier="enterprise", role="member")
    assert (await install(api, member, notzip)).status_code == 403
    r = await api.post("/api/plugins/install", files={"file": ("a.ppx", notzip.read_bytes())})
    assert r.status_code == 401


async def test_plugin_operations_are_rate_limited(
    start_app: StartApp, platform_settings: Settings, ppx_dir: Path
) -> None:
    limited = platform_settings.model_copy(update={"rate_limit_plugin_ops": "2/15minutes"})
    async with start_app(limited, platform=True) as app, client_for(app) as api:
        user = await create_test_user(app)
        ppx = counter_ppx(ppx_dir)
        assert (await install(api, user, ppx)).status_code == 201
        r = await install(api, user, ppx)
        assert r.status_code == 409
        assert r.headers["RateLimit-Remaining"] == "0"
        r = await install(api, user, ppx)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0


async def test_concurrent_installs_stay_consistent(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform_settings: Settings,
    platform: FastAPI,
) -> None:
    different = [
        build_ppx(ppx_dir, mk(f"acme.p{i:02d}", hooks=[{"name": "custom:ping",
                                                          "handler": "ping"}]), HTTP_WANTER)
        for i in range(50)
    ]
    same = [analyzer_ppx(ppx_dir)] * 20
    responses = await asyncio.gather(*(install(api, admin, p) for p in different + same))
    codes = [r.status_code for r in responses]
    assert codes[:50] == [201] * 50, [r.text for r in responses[:50] if r.status_code != 201]
    assert sorted(codes[50:]) == [201] + [409] * 19
    r = await api.get("/api/plugins?limit=100", headers=admin.headers)
    assert r.json()["total"] == 51
    trees = {p.parent.parent for p in platform_settings.plugin_dir.rglob("plugin.json")}
    assert len(trees) == 51
    # The process's staging root stays (empty) while it runs.
    staging = platform_settings.plugin_dir / ".staging"
    assert [p for root in staging.iterdir() for p in root.iterdir()] == []


async def test_a_package_written_by_zipfile_writestr_installs(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    meta = mk("acme.writestr", hooks=[{"name": "file:uploaded", "handler": "on_upload"}],
              permissions=["files", "metadata"])
    ppx = writestr_ppx(ppx_dir / "writestr.ppx", meta,
                       {"plugin/__init__.py": textwrap.dedent(ANALYZER)})

    r = await install(api, admin, ppx)

    assert r.status_code == 201, r.text


async def test_grant_and_revoke_reach_a_loaded_plugin_at_once(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, platform: FastAPI
) -> None:
    """first-hour 8: a grant on a loaded plugin used to be refused by its worker until
    unload + load; now grant and revoke apply to the running plugin without either."""
    r = await install(api, admin, counter_ppx(ppx_dir), {"grantPermissions": []})
    assert r.status_code == 201, r.text
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200

    async def call() -> dict[str, Any]:
        r = await api.post("/api/plugins/hooks/custom:count", headers=admin.headers, json={})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()["results"][0]
        return result

    assert (await call())["status"] == "denied"
    r = await api.post("/api/plugins/acme.counter/permissions", headers=admin.headers,
                       json={"grantPermissions": ["storage"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "loaded"
    first = await call()
    assert (first["status"], first.get("result", {}).get("n")) == ("ok", 1), first
    assert (await call())["result"]["n"] == 2

    r = await api.post("/api/plugins/acme.counter/permissions", headers=admin.headers,
                       json={"revokePermissions": ["storage"]})
    assert r.status_code == 200, r.text
    assert {p["name"]: p["granted"] for p in r.json()["permissions"]} == {"storage": False}
    assert r.json()["status"] == "loaded"
    assert (await call())["status"] == "denied"
    assert platform.state.worker_pool.is_loaded(str(admin.principal.org_id), "acme.counter")
    types = [e["type"] for e in (await api.get(
        "/api/plugins/acme.counter/events?limit=100", headers=admin.headers)).json()["items"]]
    assert "permissions_revoked" in types
    assert types.count("loaded") == 1  # never unloaded and loaded again

    for body, field in [({}, "body"), ({"revokePermissions": ["http"]}, "revokePermissions[0]"),
                        ({"grantPermissions": ["storage"], "revokePermissions": ["storage"]},
                         "revokePermissions[0]")]:
        r = await api.post("/api/plugins/acme.counter/permissions", headers=admin.headers,
                           json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field, r.text
