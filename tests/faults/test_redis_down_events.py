"""Redis configured for the live plugin events, then gone mid-run, then back (issue #17).

What docs/deployment.md promises for the event fan-out: with Redis down, plugin lifecycle
changes, hook calls and the events a plugin emits still succeed and are stored (the
``plugin_events`` table, paged by the events API); only the live WebSocket stream misses what is
published while Redis is away (pub/sub keeps nothing), and it carries events again once Redis is
back, without a restart. No request is a 500. The test runs a redis-server of its own on a free
port and kills only that process (never the shared one on 6379).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.faults.test_redis_down import _free_port, _redis, _up
from tests.fixtures.app import StartApp, build_test_settings, create_test_user
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk
from tests.plugins.conftest import data_dir
from tests.plugins.test_events_ws import WAIT, install_and_load, serving, ws_url
from tests.waiting import eventually

__all__ = ["data_dir"]

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="needs redis-server to run a Redis of its own")

EMITTER = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:ping")
def ping(event: dict, ctx: HookContext) -> dict:
    ctx.events.emit("acme:pinged", {"n": event.get("n")})
    return {"ok": True}
"""
HOOK = "/api/plugins/hooks/custom:ping"


async def _types_until(ws: Any, wanted: str) -> list[str]:
    """The event types received up to and including the first of type ``wanted``."""
    seen: list[str] = []
    while not seen or seen[-1] != wanted:
        event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        seen.append(event["type"])
    return seen


async def test_with_redis_down_plugin_events_are_stored_and_the_stream_resumes_after(
    sqlite_db_url: str, tmp_path: Path, data_dir: Path, start_app: StartApp,
) -> None:
    port = _free_port()
    data = data_dir  # under /tmp, traversable by plugin uids (tests/plugins/conftest.py)
    settings = build_test_settings(sqlite_db_url, data / "data", plugin_metrics_flush_seconds=3600,
                                   redis_url=f"redis://127.0.0.1:{port}/0")
    ppx_dir = data / "packages"
    ppx_dir.mkdir()
    ppx = build_ppx(ppx_dir, mk("acme.emitter", type="utility", category="workflow",
                                permissions=["events"],
                                hooks=[{"name": "custom:ping", "handler": "ping"}]), EMITTER)
    with _redis(port, tmp_path) as first:
        await eventually(lambda: _up(port), what="our redis-server answers")
        async with start_app(settings, platform=True) as app, serving(app) as server, \
                httpx.AsyncClient(base_url=f"http://{server}", timeout=WAIT * 3) as http:
            admin = await create_test_user(app, tier="enterprise", role="admin")
            async with connect(ws_url(server, admin.access_token)) as ws:
                await install_and_load(server, admin, ppx, "acme.emitter")
                assert await _types_until(ws, "loaded") == ["installed", "loaded"]
                # Before the outage every route class below has taken its lease of hits from
                # Redis (kit/rate_limit.py): a class that has none left fails closed (503).
                r = await http.post(HOOK, headers=admin.headers, json={"data": {"n": 0}})
                assert r.status_code == 200, r.text
                assert await _types_until(ws, "custom") == ["custom"]
                r = await http.get("/api/plugins/acme.emitter/events", headers=admin.headers)
                assert r.status_code == 200, r.text

                first.kill()
                first.wait(timeout=10)
                # A hook call whose plugin emits, an unload and a load: all succeed.
                r = await http.post(HOOK, headers=admin.headers, json={"data": {"n": 1}})
                assert r.status_code == 200, r.text
                assert r.json()["results"][0]["status"] == "ok", r.text
                for action in ("unload", "load"):
                    r = await http.post(f"/api/plugins/acme.emitter/{action}",
                                        headers=admin.headers)
                    assert r.status_code == 200, r.text
                # Stored, and readable while Redis is down.
                r = await http.get("/api/plugins/acme.emitter/events", headers=admin.headers)
                assert r.status_code == 200, r.text
                items = r.json()["items"]
                assert any(e["type"] == "custom" and e["details"].get("data") == {"n": 1}
                           for e in items), items
                assert "unloaded" in [e["type"] for e in items], items

                with _redis(port, tmp_path):
                    await eventually(lambda: _up(port), what="our redis-server is back")

                    async def streams_again() -> bool:
                        # The hub's listener resubscribes with backoff; until then a call's
                        # event is stored but not streamed, so call until one streams.
                        r = await http.post(HOOK, headers=admin.headers,
                                            json={"data": {"n": 2}})
                        assert r.status_code != 500, r.text
                        try:
                            event = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
                        except TimeoutError:
                            return False
                        return bool(event["type"] == "custom")

                    await eventually(streams_again, what="the live stream carries events again",
                                     seconds=30)
