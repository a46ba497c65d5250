"""Hook errors over HTTP carry the plugin's own traceback (plugin frames only, bounded), in the
hook route's results and in the photo pipeline's stored results; disabled plugins are reported
as skipped instead of vanishing. Real sandboxed workers, real app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.app import TestUser
from tests.plugins.builders import build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk

FAILING = '''from typing import Any


def helper(event: Any) -> Any:
    return event["data"]["n"]


def on_call(event: Any, ctx: Any) -> Any:
    return helper(event)


def dive(event: Any, ctx: Any) -> Any:
    return dive(event, ctx)


def on_upload(event: Any, ctx: Any) -> Any:
    size = len(ctx.files.read())
    raise ValueError(f"cannot handle {size} bytes")
'''


async def _install_and_load(api: httpx.AsyncClient, user: TestUser, ppx: Path,
                            plugin_id: str) -> None:
    files = {"file": (ppx.name, ppx.read_bytes(), "application/zip")}
    r = await api.post("/api/plugins/install", files=files, headers=user.headers)
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/plugins/{plugin_id}/load", headers=user.headers)
    assert r.status_code == 200, r.text


def _failing(ppx_dir: Path, **fields: Any) -> Path:
    meta = mk("acme.failing", hooks=[{"name": "custom:call", "handler": "on_call"},
                                     {"name": "custom:dive", "handler": "dive"},
                                     {"name": "file:uploaded", "handler": "on_upload"}],
              permissions=["files"], **fields)
    return build_ppx(ppx_dir, meta, FAILING)


def _no_host_detail(payload: Any) -> None:
    text = json.dumps(payload)
    for leak in ("worker.py", "proofpix_sdk", "proofpix_plugins", "site-packages", "/tmp/"):
        assert leak not in text, leak


async def test_hook_route_error_carries_the_plugin_traceback(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _install_and_load(api, admin, _failing(ppx_dir), "acme.failing")
    r = await api.post("/api/plugins/hooks/custom:call", headers=admin.headers,
                       json={"data": {"x": 1}})
    assert r.status_code == 200, r.text
    [res] = r.json()["results"]
    assert res["status"] == "error"
    assert res["error"] == "KeyError: 'data'"
    assert res["traceback"] == [
        {"file": "plugin/__init__.py", "line": 9, "function": "on_call",
         "code": "return helper(event)"},
        {"file": "plugin/__init__.py", "line": 5, "function": "helper",
         "code": 'return event["data"]["n"]'},
    ]
    _no_host_detail(res)


async def test_a_runaway_recursion_traceback_is_bounded(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _install_and_load(api, admin, _failing(ppx_dir), "acme.failing")
    r = await api.post("/api/plugins/hooks/custom:dive", headers=admin.headers, json={})
    [res] = r.json()["results"]
    assert res["status"] == "error"
    assert "RecursionError" in res["error"]
    assert len(res["traceback"]) == 20
    assert {f["function"] for f in res["traceback"]} == {"dive"}


async def test_photo_pipeline_results_keep_the_traceback(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path, tmp_path: Path
) -> None:
    await _install_and_load(api, admin, _failing(ppx_dir), "acme.failing")
    photo = gps_jpeg(tmp_path / "p.jpg").read_bytes()
    r = await api.post("/api/files", files={"file": ("p.jpg", photo, "image/jpeg")},
                       headers=admin.headers)
    assert r.status_code == 201, r.text
    [res] = [p for p in r.json()["pluginResults"] if p["pluginId"] == "acme.failing"]
    assert res["status"] == "error"
    assert 'File "plugin/__init__.py", line 18, in on_upload' in res["error"]
    assert res["error"].endswith(f"ValueError: cannot handle {len(photo)} bytes")
    _no_host_detail(res)


async def test_a_disabled_plugin_is_reported_as_skipped(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _install_and_load(api, admin, _failing(ppx_dir), "acme.failing")
    statuses = []
    for _ in range(8):
        r = await api.post("/api/plugins/hooks/custom:call", headers=admin.headers, json={})
        statuses.append(r.json()["results"][0]["status"])
    assert "skipped" in statuses, statuses
    first_skip = statuses.index("skipped")
    assert statuses[:first_skip] == ["error"] * first_skip
    r = await api.post("/api/plugins/hooks/custom:call", headers=admin.headers, json={})
    [res] = r.json()["results"]
    assert res["pluginId"] == "acme.failing"
    assert res["status"] == "skipped"
    assert "disabled" in res["error"]
    detail = await api.get("/api/plugins/acme.failing", headers=admin.headers)
    assert detail.json()["status"] == "disabled"
