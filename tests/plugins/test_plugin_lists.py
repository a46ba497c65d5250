"""The list filters of SPEC §7 on ``GET /api/plugins`` and ``GET /api/plugins/{id}/events``.

Real installs over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fixtures.app import TestUser
from tests.plugins.builders import HTTP_WANTER, build_ppx
from tests.plugins.builders import manifest as mk
from tests.plugins.test_plugin_api import install

PING = [{"name": "custom:ping", "handler": "ping"}]


async def _install_three(api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path) -> None:
    plugins = [
        mk("acme.exif-reader", name="EXIF Reader", type="analyzer", category="metadata",
           description="reads camera data", hooks=PING),
        mk("acme.gps-strip", name="GPS Stripper", type="processor", category="privacy",
           description="removes 100% of the GPS_DATA tags", hooks=PING),
        mk("other.slack", name="Slack notifier", type="connector", category="integration",
           description="posts to a channel", hooks=PING),
    ]
    for meta in plugins:
        r = await install(api, admin, build_ppx(ppx_dir, meta, HTTP_WANTER))
        assert r.status_code == 201, r.text
    r = await api.post("/api/plugins/acme.gps-strip/load", headers=admin.headers)
    assert r.status_code == 200, r.text


async def _ids(api: httpx.AsyncClient, admin: TestUser, query: str) -> list[str]:
    r = await api.get(f"/api/plugins?{query}", headers=admin.headers)
    assert r.status_code == 200, r.text
    return sorted(p["id"] for p in r.json()["items"])


async def test_plugin_list_filters_by_status_type_category_and_text(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _install_three(api, admin, ppx_dir)
    assert await _ids(api, admin, "status=loaded") == ["acme.gps-strip"]
    assert await _ids(api, admin, "status=installed") == ["acme.exif-reader", "other.slack"]
    assert await _ids(api, admin, "type=connector") == ["other.slack"]
    assert await _ids(api, admin, "category=metadata") == ["acme.exif-reader"]
    assert await _ids(api, admin, "type=processor&status=installed") == []
    # q: id, name and description, case-insensitive.
    assert await _ids(api, admin, "q=ACME") == ["acme.exif-reader", "acme.gps-strip"]
    assert await _ids(api, admin, "q=notifier") == ["other.slack"]
    assert await _ids(api, admin, "q=Camera") == ["acme.exif-reader"]
    # LIKE wildcards are literal characters, not patterns.
    assert await _ids(api, admin, "q=100%25") == ["acme.gps-strip"]
    assert await _ids(api, admin, "q=%25") == ["acme.gps-strip"]
    assert await _ids(api, admin, "q=S_D") == ["acme.gps-strip"]
    assert await _ids(api, admin, "q=_") == ["acme.gps-strip"]
    assert await _ids(api, admin, "q=a_b") == []
    r = await api.get("/api/plugins?limit=1&page=2&q=acme", headers=admin.headers)
    assert (r.json()["total"], [p["id"] for p in r.json()["items"]]) == (2, ["acme.gps-strip"])


async def test_plugin_list_refuses_unknown_filter_values_and_parameters(
    api: httpx.AsyncClient, admin: TestUser
) -> None:
    for query, field in [("status=sleeping", "query.status"), ("type=widget", "query.type"),
                         ("category=games", "query.category"), ("q=", "query.q"),
                         ("q=" + "x" * 101, "query.q"), ("colour=red", "query.colour")]:
        r = await api.get(f"/api/plugins?{query}", headers=admin.headers)
        assert r.status_code == 422, (query, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text


async def test_event_list_filters_by_type(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    await _install_three(api, admin, ppx_dir)
    await api.post("/api/plugins/acme.gps-strip/unload", headers=admin.headers)
    url = "/api/plugins/acme.gps-strip/events"
    r = await api.get(f"{url}?type=loaded", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert [e["type"] for e in r.json()["items"]] == ["loaded"]
    assert r.json()["total"] == 1
    r = await api.get(url, headers=admin.headers)
    assert {e["type"] for e in r.json()["items"]} == {"installed", "loaded", "unloaded"}
    r = await api.get(f"{url}?type=crashed", headers=admin.headers)
    assert r.json() == {"items": [], "total": 0, "page": 1, "limit": 20}
    r = await api.get(f"{url}?type=Loaded%25", headers=admin.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.type"
