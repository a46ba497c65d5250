"""The hook route's direct dispatch (kit/hot_route.py) routes exactly as FastAPI's routers do.

Each request goes once through the app's router as installed (the hot dispatch in front) and
once through FastAPI's own routing (``router.app``); the scope the route's handler is called
with must be the same key for key, and a request the hot route does not take must get FastAPI's
answer (404, 405 with ``Allow``) unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Message, Receive, Scope, Send

from proofpix_plugins.app import create_app
from proofpix_plugins.kit.hot_route import HotRoute, install_hot_route
from proofpix_plugins.plugins.endpoints import HOOK_ROUTE_PATH


def _scope(method: str, path: str, root_path: str = "") -> Scope:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": root_path,
        "query_string": b"", "headers": [(b"content-type", b"application/json")],
        "server": ("testserver", 80), "client": ("127.0.0.1", 1234), "state": {},
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def _route(app_entry: Any, hot: HotRoute, scope: Scope) -> tuple[Any, ...]:
    """Run ``scope`` through ``app_entry``; the handler's scope if the hook route's effective
    handler was reached, else what was answered (or raised)."""
    seen: list[Scope] = []
    sent: list[Message] = []
    # FastAPI's routing calls the effective context's handler, the hot route its own app.
    context = hot.target.context
    handler, target = context.app, hot.target

    async def capture(s: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(s, fastapi=dict(s.get("fastapi", {}))))

    async def send(message: Message) -> None:
        sent.append(message)

    context.app = capture
    hot.target = dataclasses.replace(target, app=capture)
    try:
        await app_entry(scope, _receive, send)
    except Exception as exc:  # FastAPI raises HTTPException when "app" is in the scope
        return ("raised", type(exc).__name__, getattr(exc, "status_code", None),
                getattr(exc, "headers", None))
    finally:
        context.app = handler
        hot.target = target
    if seen:
        return ("handled", seen[0])
    return ("answered", sent)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(platform=False)


def test_the_app_installs_the_hot_route(app: FastAPI) -> None:
    hot = app.state.hot_route
    assert isinstance(hot, HotRoute)
    assert app.router.middleware_stack is hot
    assert hot.target.route.path == HOOK_ROUTE_PATH
    assert hot.target.context.path == HOOK_ROUTE_PATH
    # The route's own lean handler, not FastAPI's request_response around it.
    assert hot.target.app is not hot.target.context.app


@pytest.mark.parametrize(("method", "path", "root_path", "with_app"), [
    ("POST", "/api/plugins/hooks/custom:count", "", False),
    ("POST", "/api/plugins/hooks/custom:count", "", True),
    ("POST", "/api/plugins/hooks/a:b", "", True),
    ("POST", "/api/plugins/hooks/NOT%20A%20HOOK", "", False),
    ("POST", "/api/plugins/hooks/NOT A HOOK", "", True),
    ("POST", "/api/plugins/hooks/" + "a:" + "b" * 300, "", True),
    ("POST", "/api/plugins/hooks/", "", False),
    ("POST", "/api/plugins/hooks/a:b/", "", False),
    ("POST", "/api/plugins/hooks/a:b/x", "", False),
    ("GET", "/api/plugins/hooks/custom:count", "", False),
    ("GET", "/api/plugins/hooks/custom:count", "", True),
    ("PUT", "/api/plugins/hooks/custom:count", "", False),
    ("POST", "/api/plugins/install", "", False),
    ("POST", "/api/plugins/hooks/custom:count", "/prefix", False),
    ("POST", "/prefix/api/plugins/hooks/custom:count", "/prefix", False),
])
async def test_routes_as_fastapi_does(
    app: FastAPI, method: str, path: str, root_path: str, with_app: bool
) -> None:
    hot = app.state.hot_route
    takes_it = method == "POST" and not root_path and path.endswith((":count", ":b"))
    answers = []
    for entry in (app.router, app.router.app):
        scope = _scope(method, path, root_path)
        if with_app:
            scope["app"] = app
        fallback = hot.app
        if takes_it:
            async def unreachable(*_: Any) -> None:
                raise AssertionError("the hot route fell back to FastAPI's routing")
            hot.app = unreachable
        try:
            answers.append(await _route(entry, hot, scope))
        finally:
            hot.app = fallback
    through_hot, through_fastapi = answers
    if takes_it:
        assert through_fastapi[0] == "handled"
        handled = through_fastapi[1]
        assert handled["route"] is hot.target.route
        assert handled["path_params"] == {"hook_name": path.rsplit("/", 1)[1]}
    assert through_hot == through_fastapi


def test_nothing_is_installed_when_an_earlier_route_could_match() -> None:
    app = FastAPI()
    early = APIRouter(prefix="/api/plugins")

    @early.post("/{kind}/{name}")
    async def anything(kind: str, name: str) -> None: ...

    hooks = APIRouter(prefix="/api/plugins")

    @hooks.post("/hooks/{hook_name}")
    async def hook(hook_name: str) -> None: ...

    app.include_router(early)
    app.include_router(hooks)
    assert install_hot_route(app, HOOK_ROUTE_PATH, "POST") is None
    assert app.router.middleware_stack == app.router.app


def test_installed_when_earlier_routes_are_static_or_websockets() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api/plugins")

    @router.get("")
    async def listing() -> None: ...

    @router.websocket("/events/ws")
    async def events(websocket: Any) -> None: ...

    @router.post("/hooks/{hook_name}")
    async def hook(hook_name: str) -> None: ...

    app.include_router(router)
    assert isinstance(install_hot_route(app, HOOK_ROUTE_PATH, "POST"), HotRoute)


def test_a_static_path_the_hot_route_fits_blocks_it() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api/plugins")

    @router.post("/hooks/special")
    async def special() -> None: ...

    @router.post("/hooks/{hook_name}")
    async def hook(hook_name: str) -> None: ...

    app.include_router(router)
    assert install_hot_route(app, HOOK_ROUTE_PATH, "POST") is None
