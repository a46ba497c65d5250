"""``WS /api/plugins/events/ws`` against the real app served by uvicorn on 127.0.0.1.

The app (with its plugin platform) is the ``platform`` fixture; uvicorn serves it without running
its lifespan again. Clients are the ``websockets`` library and httpx over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from proofpix_plugins.accounts.tokens import AccessTokens
from proofpix_plugins.config import Settings
from proofpix_plugins.plugins.event_hub import LocalEventHub
from tests.fixtures.app import StartApp, TestUser, build_test_settings, create_test_user
from tests.plugins.builders import build_ppx
from tests.plugins.builders import manifest as mk
from tests.waiting import eventually

WAIT = 10.0  # seconds: an upper bound for something that should happen promptly
QUIET = 1.0  # seconds: how long "nothing arrives" is watched

PING = """
from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("custom:ping")
def ping(event: dict, ctx: HookContext) -> dict:
    return {"ok": True}
"""


@pytest.fixture
def platform_settings(sqlite_db_url: str, data_dir: Path) -> Settings:
    # The stream does not touch the database engine's differences: SQLite only, to stay fast.
    return build_test_settings(sqlite_db_url, data_dir / "data", plugin_metrics_flush_seconds=3600)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``host:port`` of uvicorn serving the running ``app`` on a free port of 127.0.0.1."""
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only for sockets that say TCP (with it on,
    # every response would wait ~40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(app, lifespan="off", log_level="warning", log_config=None,
                            timeout_graceful_shutdown=5)
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT):
            while not srv.started:
                if task.done():
                    task.result()  # raises what stopped it
                    raise AssertionError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield f"{host}:{port}"
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()


@pytest.fixture
async def server(platform: FastAPI) -> AsyncIterator[str]:
    async with serving(platform) as address:
        yield address


def ws_url(server: str, token: str | None) -> str:
    query = f"?access_token={token}" if token is not None else ""
    return f"ws://{server}/api/plugins/events/ws{query}"


async def close_code(ws: ClientConnection) -> tuple[int, str]:
    """Wait for the server to close ``ws``; its code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), WAIT)
    received = info.value.rcvd
    assert received is not None, "the server dropped the connection without a close frame"
    return received.code, received.reason


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return event


def listeners(app: FastAPI, user: TestUser) -> int:
    """How many sockets the server has subscribed to ``user``'s organization's events."""
    hub: LocalEventHub = app.state.event_hub
    return hub.subscriber_count(str(user.principal.org_id))


async def install_and_load(server: str, user: TestUser, ppx: Path, plugin_id: str) -> None:
    body = await asyncio.to_thread(ppx.read_bytes)
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=WAIT * 3) as http:
        r = await http.post("/api/plugins/install", headers=user.headers,
                            files={"file": (ppx.name, body, "application/zip")})
        assert r.status_code == 201, r.text
        r = await http.post(f"/api/plugins/{plugin_id}/load", headers=user.headers)
        assert r.status_code == 200, r.text


def ping_ppx(ppx_dir: Path, plugin_id: str) -> Path:
    meta = mk(plugin_id, type="utility", category="workflow",
              hooks=[{"name": "custom:ping", "handler": "ping"}])
    return build_ppx(ppx_dir, meta, PING)


async def test_install_and_load_stream_installed_then_loaded_events_to_org_members(
    server: str, platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    member = await create_test_user(platform, org=admin.org_slug, role="member")
    assert member.principal.org_id == admin.principal.org_id
    async with connect(ws_url(server, member.access_token)) as as_member, \
            connect(ws_url(server, admin.access_token)) as as_admin:
        assert listeners(platform, admin) == 2
        await install_and_load(server, admin, ping_ppx(ppx_dir, "acme.live"), "acme.live")
        streamed = []
        for ws in (as_member, as_admin):
            installed, loaded = await next_event(ws), await next_event(ws)
            assert (installed["type"], installed["pluginId"]) == ("installed", "acme.live")
            assert (loaded["type"], loaded["pluginId"]) == ("loaded", "acme.live")
            assert installed["actorUserId"] == str(admin.principal.user_id)
            streamed.append([installed, loaded])
    assert streamed[0] == streamed[1]
    # What streams live is what was stored: the same rows the events API pages through.
    async with httpx.AsyncClient(base_url=f"http://{server}") as http:
        r = await http.get("/api/plugins/acme.live/events", headers=admin.headers)
    assert r.status_code == 200, r.text
    stored = {e["id"]: e for e in r.json()["items"]}
    for event in streamed[0]:
        assert stored[event["id"]]["type"] == event["type"]
        assert stored[event["id"]]["details"] == event["details"]


async def test_event_published_as_soon_as_the_socket_opens_is_delivered(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    # The route subscribes before it completes the handshake: nothing can slip in between.
    async with connect(ws_url(server, admin.access_token)) as ws:
        event = {"type": "custom", "pluginId": "acme.any", "details": {"n": 0}}
        await platform.state.event_hub.publish(str(admin.principal.org_id), event)
        assert await next_event(ws) == event


async def test_token_in_the_authorization_header_is_accepted(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    async with connect(ws_url(server, None), additional_headers=admin.headers) as ws:
        assert listeners(platform, admin) == 1
        event = {"type": "custom", "pluginId": "acme.any", "details": {"n": 1}}
        await platform.state.event_hub.publish(str(admin.principal.org_id), event)
        assert await next_event(ws) == event


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "forged"])
async def test_missing_or_invalid_token_is_closed_with_4401(
    server: str, platform: FastAPI, admin: TestUser, token: str | None
) -> None:
    if token == "forged":
        # Well-formed, every claim right, signed with another key.
        token = AccessTokens("x" * 64, 900).issue(
            user_id=admin.principal.user_id, org_id=admin.principal.org_id, role="admin",
            tier="enterprise", is_platform_admin=False, email=admin.email,
        )
    async with connect(ws_url(server, token)) as ws:
        code, _ = await close_code(ws)
    assert code == 4401
    assert platform.state.event_hub.subscriber_count(str(admin.principal.org_id)) == 0


async def test_expired_token_is_closed_with_4401_naming_the_expiry(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    tokens: AccessTokens = platform.state.access_tokens
    stale = tokens.issue(
        user_id=admin.principal.user_id, org_id=admin.principal.org_id, role="admin",
        tier="enterprise", is_platform_admin=False, email=admin.email,
        now=datetime.now(UTC) - timedelta(seconds=tokens.ttl_seconds + 5),
    )
    async with connect(ws_url(server, stale)) as ws:
        code, reason = await close_code(ws)
    assert code == 4401
    assert "expired" in reason


@pytest.mark.parametrize("tier", ["free", "pro"])
async def test_member_of_a_non_enterprise_organization_is_closed_with_4403(
    server: str, platform: FastAPI, tier: str
) -> None:
    user = await create_test_user(platform, tier=tier, role="admin")
    async with connect(ws_url(server, user.access_token)) as ws:
        code, reason = await close_code(ws)
    assert code == 4403
    assert "enterprise" in reason
    assert platform.state.event_hub.subscriber_count(str(user.principal.org_id)) == 0


async def test_member_of_another_organization_receives_none_of_its_events(
    server: str, platform: FastAPI, admin: TestUser, ppx_dir: Path
) -> None:
    other = await create_test_user(platform, tier="enterprise", role="admin")
    async with connect(ws_url(server, admin.access_token)) as mine, \
            connect(ws_url(server, other.access_token)) as theirs:
        assert listeners(platform, admin) == listeners(platform, other) == 1
        await install_and_load(server, admin, ping_ppx(ppx_dir, "acme.private"), "acme.private")
        assert (await next_event(mine))["type"] == "installed"
        assert (await next_event(mine))["type"] == "loaded"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(theirs.recv(), QUIET)


async def test_listener_past_the_organization_cap_is_closed_with_1013(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    platform.state.event_hub.max_subscribers_per_org = 1
    async with connect(ws_url(server, admin.access_token)) as first:
        async with connect(ws_url(server, admin.access_token)) as second:
            code, reason = await close_code(second)
        assert (code, "live listeners" in reason) == (1013, True)
        event = {"type": "custom", "pluginId": "acme.any", "details": {"n": 2}}
        await platform.state.event_hub.publish(str(admin.principal.org_id), event)
        assert await next_event(first) == event
    await _no_listeners_left(platform, admin)


async def test_stream_closes_with_4401_when_the_token_expires(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    tokens: AccessTokens = platform.state.access_tokens
    short = tokens.issue(
        user_id=admin.principal.user_id, org_id=admin.principal.org_id, role="admin",
        tier="enterprise", is_platform_admin=False, email=admin.email,
        now=datetime.now(UTC) - timedelta(seconds=tokens.ttl_seconds - 2),
    )
    async with connect(ws_url(server, short)) as ws:
        assert listeners(platform, admin) == 1
        code, reason = await close_code(ws)
    assert (code, "expired" in reason) == (4401, True)
    await _no_listeners_left(platform, admin)


async def test_client_that_leaves_is_unsubscribed_without_any_event(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    async with connect(ws_url(server, admin.access_token)):
        assert listeners(platform, admin) == 1
    await _no_listeners_left(platform, admin)


async def test_hub_shutdown_closes_the_stream_with_1001(
    server: str, platform: FastAPI, admin: TestUser
) -> None:
    async with connect(ws_url(server, admin.access_token)) as ws:
        assert listeners(platform, admin) == 1
        await platform.state.event_hub.close()
        code, _ = await close_code(ws)
    assert code == 1001


async def _no_listeners_left(app: FastAPI, user: TestUser) -> None:
    # Server-owned state, with no event to wait on.
    await eventually(lambda: listeners(app, user) == 0, what="no listener left", seconds=WAIT)


async def test_with_redis_an_install_through_one_app_reaches_a_socket_on_another(
    sqlite_db_url: str, data_dir: Path, redis_url: str, start_app: StartApp, ppx_dir: Path
) -> None:
    first = build_test_settings(sqlite_db_url, data_dir / "one", redis_url=redis_url,
                                plugin_metrics_flush_seconds=3600)
    # Another API process: its own data dir and workers; the same database, secret and Redis.
    second = first.model_copy(update={"data_dir": data_dir / "two"})
    async with start_app(first, platform=True) as app_one, \
            start_app(second, platform=True) as app_two, \
            serving(app_one) as one, serving(app_two) as two:
        admin = await create_test_user(app_one, tier="enterprise", role="admin")
        async with connect(ws_url(two, admin.access_token)) as ws:
            assert listeners(app_two, admin) == 1
            await install_and_load(one, admin, ping_ppx(ppx_dir, "acme.across"), "acme.across")
            got = [await next_event(ws), await next_event(ws)]
            assert [(e["type"], e["pluginId"]) for e in got] == [
                ("installed", "acme.across"), ("loaded", "acme.across")]
            # Exactly once: a marker published after them is the very next message.
            marker = {"type": "custom", "pluginId": "acme.across", "details": {"marker": True}}
            await app_one.state.event_hub.publish(str(admin.principal.org_id), marker)
            assert await next_event(ws) == marker
