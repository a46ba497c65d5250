"""Live plugin events for the console: ``/console/events/ws``, authenticated by the cookie.

The API's stream (``/api/plugins/events/ws``) wants an access token in a header or the query
string; the console's token is in an HttpOnly cookie that page scripts cannot read, and putting
it in a URL would leak it to logs. Browsers send cookies with a WebSocket handshake, but also
with a cross-site one (cross-site WebSocket hijacking: CSRF does not protect a handshake), so
this route first requires the handshake's ``Origin`` to be this server's own, then hands the
session's access token to the API's own stream function, which applies every rule it applies
to API clients (token verification, enterprise tier, listener caps, closing at expiry). When
the token has expired the stream closes with 4401; the page renews the session with a GET of
``/console/session`` and reconnects.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.requests import Request
from starlette.responses import Response

from proofpix_plugins.config import Settings
from proofpix_plugins.plugins.events_ws import (
    WS_FORBIDDEN,
    WS_UNAUTHENTICATED,
    stream_plugin_events,
)
from proofpix_plugins.web.auth import load_console
from proofpix_plugins.web.session import read_session

router = APIRouter()


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not origin or not host:
        return False
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return origin == f"{scheme}://{host}"


async def console_events(websocket: WebSocket) -> None:
    if not _same_origin(websocket):
        await websocket.accept()
        await websocket.close(code=WS_FORBIDDEN, reason="cross-origin handshake refused")
        return
    settings: Settings = websocket.app.state.settings
    session = read_session(websocket, settings)
    if session is None or not session.access_token:
        await websocket.accept()
        await websocket.close(code=WS_UNAUTHENTICATED, reason="sign in to the console")
        return
    # The API's stream reads the token from the Authorization header of the handshake.
    headers = [(k, v) for k, v in websocket.scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", f"Bearer {session.access_token}".encode()))
    websocket.scope["headers"] = headers
    await stream_plugin_events(WebSocket(websocket.scope, websocket.receive, websocket.send))


async def session_ping(request: Request) -> Response:
    """Renews an expired access token in the cookie (204), or 401 when signed out."""
    console = await load_console(request)
    response = Response(status_code=204 if console.principal else 401,
                        headers={"Cache-Control": "no-store"})
    console.apply(response, request, request.app.state.settings)
    return response


router.add_api_websocket_route("/console/events/ws", console_events)
router.add_api_route("/console/session", session_ping, methods=["GET"], include_in_schema=False)
