"""``PluginService`` is the embeddable API: everything works without HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from proofpix_plugins.errors import Conflict, NotFound
from proofpix_plugins.plugins.service import PluginService
from proofpix_plugins.runtime.hooks.options import HookOptions
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import analyzer_ppx, counter_ppx, install


async def test_service_lifecycle_without_http(platform: FastAPI, admin: TestUser,
                                              ppx_dir: Path) -> None:
    service: PluginService = platform.state.plugin_service
    org = admin.principal.org_id
    result = await service.install_plugin(org, counter_ppx(ppx_dir), actor=admin.principal.user_id)
    assert result.plugin.status == "installed"
    await service.load_plugin(org, "acme.counter")
    await service.update_plugin_config(org, "acme.counter", {"greeting": "hey"})
    out = await service.execute_hook(org, "custom:count", {}, HookOptions(mode="sequential"))
    assert out.results[0].status == "ok"
    assert out.results[0].result["greeting"] == "hey"
    metrics = await service.get_plugin_metrics(org, "acme.counter")
    assert metrics["calls"] == 1
    events, total = await service.list_plugin_events(org, "acme.counter")
    assert total == len(events) >= 3
    plugins, count = await service.list_plugins(org, status="loaded")
    assert count == 1
    assert plugins[0].id == "acme.counter"
    await service.uninstall_plugin(org, "acme.counter")
    with pytest.raises(NotFound):
        await service.get_plugin(org, "acme.counter")


async def test_only_legal_state_transitions(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    r = await api.post("/api/plugins/acme.counter/unload", headers=admin.headers)
    assert r.status_code == 409
    assert r.json()["errors"][0]["rule"] == "transition"
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 200
    assert (await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
            ).status_code == 409
    assert (await api.post("/api/plugins/acme.counter/unload", headers=admin.headers)
            ).status_code == 200
    assert (await api.post("/api/plugins/acme.counter/unload", headers=admin.headers)
            ).status_code == 409


async def test_bad_query_and_path_input_is_a_clear_error(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    r = await api.get("/api/plugins?limit=1000", headers=admin.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"].endswith("limit")
    r = await api.get("/api/plugins?page=0", headers=admin.headers)
    assert r.status_code == 422
    r = await api.get("/api/plugins/acme.counter/metrics?minutes=0", headers=admin.headers)
    assert r.status_code == 422
    # A path segment that cannot be a hook name reaches no route (kit.routes.PatternRoute).
    r = await api.post("/api/plugins/hooks/NOT A HOOK", headers=admin.headers, json={})
    assert r.status_code == 404
    r = await api.post("/api/plugins/hooks/custom:x", headers=admin.headers,
                       json={"data": {}, "options": {"timeout": 999999}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "options.timeout"
    r = await api.post("/api/plugins/hooks/custom:x", headers=admin.headers,
                       json={"data": {}, "bogus": 1})
    assert r.status_code == 422
    # A JSON body is a marketplace install: an unknown id is a 404 naming the field.
    r = await api.post("/api/plugins/install", headers=admin.headers,
                       json={"source": "marketplace", "pluginId": "acme.nothing"})
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["field"] == "pluginId"
    r = await api.post("/api/plugins/install", headers=admin.headers, content=b"raw",
                       )
    assert r.status_code == 415, r.text
    with pytest.raises(Conflict):
        raise Conflict("sanity: Conflict is importable for embedders")


async def test_health_reports_the_sandbox_level_of_this_host(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/health")).json()
    sandbox = body["sandbox"]
    # CI and development machines of this project run as root with every layer available.
    assert sandbox["level"] == "full", sandbox
    assert sandbox["missing"] == []
    assert {"netns", "landlock", "seccomp", "rlimits", "uid", "nnp", "cgroup"} <= {
        name for name, ok in sandbox["layers"].items() if ok}


async def test_the_list_pages_and_counts_in_one_query(
    api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    for plugin_id in ("acme.exif-a", "acme.exif-b", "acme.exif-c"):
        assert (await install(api, admin, analyzer_ppx(ppx_dir, plugin_id))).status_code == 201

    first = (await api.get("/api/plugins?limit=2", headers=admin.headers)).json()
    second = (await api.get("/api/plugins?limit=2&page=2", headers=admin.headers)).json()
    past = (await api.get("/api/plugins?limit=2&page=3", headers=admin.headers)).json()

    assert [p["id"] for p in first["items"] + second["items"]] == [
        "acme.exif-a", "acme.exif-b", "acme.exif-c"]
    assert first["total"] == second["total"] == past["total"] == 3
    assert past["items"] == []
    assert first["items"][0]["status"] == "installed"
    assert first["items"][0]["installedAt"].endswith(("Z", "+00:00"))


async def _counter_called(service: PluginService, admin: TestUser, ppx_dir: Path,
                          calls: int) -> None:
    """acme.counter installed, loaded and called ``calls`` times."""
    org = admin.principal.org_id
    await service.install_plugin(org, counter_ppx(ppx_dir), actor=admin.principal.user_id)
    await service.load_plugin(org, "acme.counter")
    for _ in range(calls):
        await service.execute_hook(org, "custom:count", {}, HookOptions(mode="sequential"))


async def test_a_metrics_read_adds_unflushed_calls_without_writing(
    platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    from sqlalchemy import event

    service: PluginService = platform.state.plugin_service
    org = admin.principal.org_id
    await _counter_called(service, admin, ppx_dir, 3)
    await service.flush_metrics()  # three calls in the database...
    for _ in range(2):  # ...and two only in this process's buffer
        await service.execute_hook(org, "custom:count", {}, HookOptions(mode="sequential"))
    seen: list[str] = []

    def record(_c: object, _cur: object, sql: str, *_a: object) -> None:
        seen.append(sql.lstrip().split(None, 1)[0].upper())

    engine = platform.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        peeked = await service.get_plugin_metrics(org, "acme.counter")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not {"INSERT", "UPDATE", "DELETE"} & set(seen), seen
    assert peeked["calls"] == 5
    # The same answer as flushing first, then reading (what the read used to do).
    await service.flush_metrics()
    flushed = await service.get_plugin_metrics(org, "acme.counter")
    assert flushed == peeked


async def test_a_failed_metrics_flush_keeps_the_calls_for_the_next(
    platform: FastAPI, admin: TestUser, ppx_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flush that fails (SQLite busy past its timeout, a dropped connection) rolls back;
    its calls are put back in the buffer, merged with newer ones, and the next flush writes
    them: none lost, none counted twice."""
    from proofpix_plugins.plugins import metrics_store

    service: PluginService = platform.state.plugin_service
    org = admin.principal.org_id
    await _counter_called(service, admin, ppx_dir, 3)
    real = metrics_store.persist

    async def busy(*_args: object, **_kwargs: object) -> int:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(metrics_store, "persist", busy)
    with pytest.raises(OperationalError):
        await service.flush_metrics()
    monkeypatch.setattr(metrics_store, "persist", real)
    await service.execute_hook(org, "custom:count", {}, HookOptions(mode="sequential"))
    assert (await service.get_plugin_metrics(org, "acme.counter"))["calls"] == 4  # buffered
    assert await service.flush_metrics() == 1
    assert service.bus.metrics.peek(str(org), "acme.counter") is None
    assert (await service.get_plugin_metrics(org, "acme.counter"))["calls"] == 4  # persisted
