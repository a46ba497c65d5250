"""The plugin list and detail are cached per process and dropped by every event of their org."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.plugins.read_cache import OrgReadCache
from tests.fixtures.app import TestUser
from tests.plugins.test_plugin_api import counter_ppx, install


def test_an_answer_read_before_a_change_is_never_stored_after_it() -> None:
    cache = OrgReadCache(ttl=60)
    version = cache.version("org")
    cache.invalidate("org")  # a change commits while the answer is being read
    cache.put("org", "k", version, "stale")
    assert cache.get("org", "k") is None


def test_an_invalidation_drops_only_its_organization() -> None:
    cache = OrgReadCache(ttl=60)
    cache.put("a", "k", cache.version("a"), 1)
    cache.put("b", "k", cache.version("b"), 2)
    cache.invalidate("a")
    assert (cache.get("a", "k"), cache.get("b", "k")) == (None, 2)


def test_entries_expire_after_the_ttl() -> None:
    now = [0.0]
    cache = OrgReadCache(ttl=1.0, clock=lambda: now[0])
    cache.put("org", "k", cache.version("org"), 1)
    now[0] = 0.9
    assert cache.get("org", "k") == 1
    now[0] = 1.0
    assert cache.get("org", "k") is None


async def test_an_event_from_another_process_drops_the_cached_detail(
    platform: FastAPI, api: httpx.AsyncClient, admin: TestUser, ppx_dir: Path
) -> None:
    assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
    url = "/api/plugins/acme.counter"
    assert (await api.get(url, headers=admin.headers)).json()["status"] == "installed"
    # Another process changes the row and announces it; this process only hears the event.
    async with session_scope(platform.state.session_factory) as session:
        await session.execute(update(Plugin).values(status_reason="changed elsewhere"))
    assert (await api.get(url, headers=admin.headers)).json()["statusReason"] is None  # cached

    platform.state.event_hub.deliver(str(admin.principal.org_id), {"type": "unloaded"})

    assert (await api.get(url, headers=admin.headers)).json()["statusReason"] == (
        "changed elsewhere")
    listed = (await api.get("/api/plugins", headers=admin.headers)).json()
    assert listed["items"][0]["statusReason"] == "changed elsewhere"
