"""The console's live-event socket against uvicorn on 127.0.0.1: the cookie session
authenticates it, a cross-site handshake is refused (cross-site WebSocket hijacking), and the
organization's events flow."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from proofpix_plugins.plugins.events_ws import WS_FORBIDDEN, WS_UNAUTHENTICATED
from proofpix_plugins.web.session import COOKIE
from tests.fixtures.app import TestUser
from tests.plugins.test_events_ws import serving
from tests.web.conftest import browser_client
from tests.web.console_client import sign_in

WAIT = 10.0


async def _cookie(app: FastAPI, user: TestUser) -> str:
    async with browser_client(app) as browser:
        await sign_in(browser, user.email)
        return browser.cookies[COOKIE]


async def _closed_with(url: str, headers: dict[str, str], origin: str | None) -> int:
    async with connect(url, additional_headers=headers, origin=origin) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def test_cross_origin_and_cookieless_handshakes_are_refused(
    console_app: FastAPI, admin_user: TestUser,
) -> None:
    cookie = {"cookie": f"{COOKIE}={await _cookie(console_app, admin_user)}"}
    async with serving(console_app) as address:
        url = f"ws://{address}/console/events/ws"
        assert await _closed_with(url, cookie, "http://evil.example") == WS_FORBIDDEN
        assert await _closed_with(url, cookie, None) == WS_FORBIDDEN
        assert await _closed_with(url, {}, f"http://{address}") == WS_UNAUTHENTICATED


async def test_the_organizations_events_reach_a_same_origin_console(
    console_app: FastAPI, admin_user: TestUser,
) -> None:
    cookie = {"cookie": f"{COOKIE}={await _cookie(console_app, admin_user)}"}
    async with serving(console_app) as address:
        url = f"ws://{address}/console/events/ws"
        async with connect(url, additional_headers=cookie,
                           origin=f"http://{address}") as ws:  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
            await console_app.state.event_hub.publish(str(admin_user.principal.org_id),
                                                    {"pluginId": "acme.x", "type": "loaded"})
            event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert event["type"] == "loaded"
