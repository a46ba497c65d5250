"""The app's routes as one flat list, and which of them a request's path reaches.

FastAPI keeps an included router as one lazy entry of ``app.routes``; ``iter_route_contexts``
expands them into the routes requests really hit (with their full paths).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope


def all_routes(app: Any) -> Iterator[RouteContext]:
    """Every HTTP and WebSocket route of ``app`` (a FastAPI or Starlette app)."""
    yield from iter_route_contexts(getattr(app, "routes", ()))


def routes_on_path(scope: Scope) -> Iterator[tuple[RouteContext, Match]]:
    """The HTTP routes whose path matches the request's: FULL (method too) or PARTIAL."""
    for route in all_routes(scope.get("app")):
        if route.methods is None:
            continue  # a WebSocket route or a mount
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            yield route, match


def declared_request_media_types(route: RouteContext) -> frozenset[str]:
    """The request-body media types a route documents through ``openapi_extra``."""
    extra = getattr(route, "openapi_extra", None) or {}
    content = extra.get("requestBody", {}).get("content", {})
    return frozenset(content)
