"""The live plugin-event stream over a WebSocket: who may listen, and the pump.

Browsers cannot set headers on a WebSocket, so the access token may come as the
``access_token`` query parameter as well as a bearer header; either is verified by the
accounts code that guards every route. Refusals close with 4401 (no, invalid or expired
token) or 4403 (not an enterprise organization), or 1013 when the organization holds too many
live listeners on this node. The stream also ends with 4401 when the token expires, so a
socket never outlives the credential that opened it, and with 1001 when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from fastapi import WebSocket, WebSocketDisconnect

from proofpix_plugins.accounts.auth import access_claims, bearer_token
from proofpix_plugins.errors import ProofPixError
from proofpix_plugins.models.accounts import Tier
from proofpix_plugins.plugins.event_hub import EventHub, Subscription, TooManySubscribers

WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
WS_GOING_AWAY = 1001
WS_TRY_AGAIN_LATER = 1013


async def stream_plugin_events(websocket: WebSocket) -> None:
    """Authorize, subscribe, accept, then forward the organization's events until the end."""
    token = websocket.query_params.get("access_token") or bearer_token(
        websocket.headers.get("authorization", "")) or ""
    try:
        claims = access_claims(websocket, token)
    except ProofPixError as exc:
        await _refuse(websocket, WS_UNAUTHENTICATED, exc.detail)
        return
    if claims.tier != Tier.enterprise.value:
        await _refuse(websocket, WS_FORBIDDEN, "plugin events need an enterprise organization")
        return
    hub: EventHub = websocket.app.state.event_hub
    # Subscribe before completing the handshake: once the client sees the socket open, no event
    # of its organization can slip past it.
    try:
        stream = hub.subscribe(str(claims.org_id))
    except TooManySubscribers as exc:
        await _refuse(websocket, WS_TRY_AGAIN_LATER, str(exc))
        return
    with stream:
        await websocket.accept()
        await _pump_events(websocket, stream, claims.expires_at)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    # Accept before refusing: a close during the handshake reaches clients as a bare HTTP 403,
    # without the code and reason that tell them to log in again. A close reason must fit in
    # 123 bytes of UTF-8.
    await websocket.accept()
    await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))


async def _pump_events(websocket: WebSocket, stream: Subscription, expires_at: datetime) -> None:
    """Forward ``stream`` until the client leaves, the token expires or the hub closes."""

    async def forward() -> None:
        async for event in stream:
            await websocket.send_json(event)

    async def until_disconnect() -> None:
        # Clients have nothing to say; reading is how a departure is noticed while no events
        # flow (otherwise the subscription would linger until the organization's next event).
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    sender = asyncio.create_task(forward())
    reader = asyncio.create_task(until_disconnect())
    ttl = (expires_at - datetime.now(UTC)).total_seconds()
    done, pending = await asyncio.wait(
        {sender, reader}, timeout=max(ttl, 0.0), return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            # The client went away mid-send; there is nobody left to tell.
            return
    if reader in done:
        return
    code, reason = (
        (WS_GOING_AWAY, "server shutting down") if sender in done
        else (WS_UNAUTHENTICATED, "the access token has expired")
    )
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code, reason=reason)
