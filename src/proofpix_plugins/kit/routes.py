"""The app's routes as one flat list, and which of them a request's path reaches.

FastAPI keeps an included router as one lazy entry of ``app.routes``; ``iter_route_contexts``
expands them into the routes requests really hit (with their full paths).

:class:`PatternRoute` makes a path parameter's declared ``pattern`` part of routing: a segment
that cannot be a plugin id (``install``, ``hooks``, ``a\x00b``) does not reach
``/api/plugins/{plugin_id}`` at all. So the document's path patterns are what the server
routes by, a 405's ``Allow`` lists only the methods of routes the path can really reach, and a
malformed id is a 404 before any handler or query runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
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
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        # FastAPI matches an included route's full path itself, without the route's matches().
        original = route.original_route
        if isinstance(original, PatternRoute) and not original.fits(child_scope):
            continue
        yield route, match


def walk_dependants(dependant: Dependant) -> Iterator[Dependant]:
    """``dependant`` and every sub-dependency, depth first (duplicates included)."""
    yield dependant
    for sub in dependant.dependencies:
        yield from walk_dependants(sub)


def declared_request_media_types(route: RouteContext | APIRoute) -> frozenset[str]:
    """The request-body media types a route documents through ``openapi_extra``."""
    extra = getattr(route, "openapi_extra", None) or {}
    content = extra.get("requestBody", {}).get("content", {})
    return frozenset(content)


class PatternRoute(APIRoute):
    """An ``APIRoute`` that matches a path only when each path parameter fits its pattern."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path_patterns: dict[str, re.Pattern[str]] = {}
        for dependant in walk_dependants(self.dependant):
            for param in dependant.path_params:
                for meta in param.field_info.metadata:
                    pattern = getattr(meta, "pattern", None)
                    if isinstance(pattern, str):
                        self.path_patterns[param.alias] = re.compile(pattern)

    def fits(self, child_scope: Scope) -> bool:
        """Whether the path parameters a match captured all fit their patterns."""
        params = child_scope.get("path_params", {})
        for name, pattern in self.path_patterns.items():
            value = params.get(name)
            if not isinstance(value, str) or pattern.fullmatch(value) is None:
                return False
        return True

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and not self.fits(child_scope):
            return Match.NONE, {}
        return match, child_scope
