"""One hot route reached without walking the route list (SPEC §11: the hook route's latency).

FastAPI (0.165) routes a request to an included router's route in two passes: the app's router
walks its routes and asks each included router whether it matches — which walks that router's
routes — and then the included router walks them again to handle the request. For
``POST /api/plugins/hooks/{name}`` that was two passes (~24 ``matches`` calls a request under
cProfile) and 15 % of the request's time in process.

:func:`install_hot_route` proves once, from the app's final route list, that no route tried
before the hot one can fully match any path the hot route matches (each is a static path the
hot route's pattern does not fit, or a WebSocket route, which never matches HTTP), and then
answers a request whose method and path the hot route matches by doing what FastAPI's routers
would have done for it, in the same order: the router and included-router scope keys, the path
parameters and ``endpoint``/``route`` from the route's own ``matches`` (so the pattern check of
:class:`PatternRoute` too), the telemetry route, and the route's handler: the ASGI app FastAPI
built for it, or the route's own ``hot_app()`` when it has one (plugins/hook_route.py: the same
handler without FastAPI's exit stacks for dependencies with ``yield``, which it has none of).
Anything else — another path, another method (a 405 is FastAPI's), a path whose parameter the
route refuses, a ``root_path`` — goes through FastAPI's routing unchanged. If the proof fails
(a route added before the hot one that could match, form limits, a router-level middleware),
nothing is installed.

The scope the handler sees is FastAPI's own, key for key (tests/app/test_hot_route.py compares
it with FastAPI's routing of the same requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from starlette.routing import Match, Route, WebSocketRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

# FastAPI's private routing pieces the dispatch replays; if a FastAPI upgrade renames any of
# them, :func:`install_hot_route` installs nothing and requests take FastAPI's routing.
_SCOPE_KEY: str = getattr(fastapi_routing, "_FASTAPI_SCOPE_KEY", "")
_EFFECTIVE_KEY: str = getattr(fastapi_routing, "_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY", "")
_INCLUDED_KEY: str = getattr(fastapi_routing, "_FASTAPI_INCLUDED_ROUTER_KEY", "")
_IncludedRouter: Any = getattr(fastapi_routing, "_IncludedRouter", None)
_route_selected: Any = getattr(fastapi_routing, "_route_selected", None)
_update_scope: Any = getattr(fastapi_routing, "_update_scope", None)
_MISSING = object()


@dataclass(frozen=True)
class _Target:
    router: Any  # the app's APIRouter
    included: Any  # the _IncludedRouter holding the route
    context: Any  # the route's _EffectiveRouteContext (full path, effective handler)
    route: APIRoute  # the route as declared
    method: str
    prefix: str  # the route's path up to its first parameter
    selected_path: str | None
    app: ASGIApp  # the route's ``hot_app()`` if it has one, else FastAPI's effective handler


class HotRoute:
    """Pure ASGI, in place of the app router's own entry (``router.middleware_stack``)."""

    def __init__(self, app: ASGIApp, target: _Target) -> None:
        self.app = app
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t = self.target
        if (
            scope["type"] != "http"
            or scope["method"] != t.method
            or not scope["path"].startswith(t.prefix)
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        fastapi_scope: dict[str, Any] = scope.setdefault(_SCOPE_KEY, {})
        # As _IncludedRouter._match asks it: with the route's effective context in the scope,
        # so that the route matches by its full path (and PatternRoute by its patterns).
        previous = fastapi_scope.get(_EFFECTIVE_KEY, _MISSING)
        fastapi_scope[_EFFECTIVE_KEY] = t.context
        try:
            match, child_scope = t.route.matches(scope)
        finally:
            if previous is _MISSING:
                fastapi_scope.pop(_EFFECTIVE_KEY, None)
            else:
                fastapi_scope[_EFFECTIVE_KEY] = previous
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        # APIRouter.app, then _IncludedRouter.handle and _handle_selected, for this route.
        if "router" not in scope:
            scope["router"] = t.router
        fastapi_scope[_INCLUDED_KEY] = t.included
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=t.selected_path, mount=False)
        fastapi_scope[_EFFECTIVE_KEY] = t.context
        scope["route"] = t.route
        # APIRoute.handle: the method is the route's (checked above), so the effective handler.
        await t.app(scope, receive, send)


def _static_path(route: Any) -> str | None:
    """The one path a route without path parameters matches (None: it has parameters)."""
    convertors = getattr(route, "param_convertors", None)
    path = getattr(route, "path", None)
    if convertors == {} and isinstance(path, str):
        return path
    return None


def _never_first(candidate: Any, hot: _Hot) -> bool:
    """``candidate`` (tried before the hot route) cannot fully match an HTTP request the hot
    route matches."""
    original = getattr(candidate, "original_route", candidate)
    starlette_route = getattr(candidate, "starlette_route", None)
    if isinstance(original, WebSocketRoute) or isinstance(starlette_route, WebSocketRoute):
        return True
    if type(original).__name__ == "APIWebSocketRoute":
        return True
    if not isinstance(original, (APIRoute, Route)):
        return False
    path = _static_path(candidate)
    return path is not None and hot.path_regex.match(path) is None


def _find(app: FastAPI, path: str, method: str) -> _Target | None:
    router = app.router
    hot = _Hot(path)
    if router.middleware_stack != router.app or getattr(router, "form_limits", None):
        return None  # a router-level middleware or form limits would be skipped
    for outer in router.routes:
        if not isinstance(outer, _IncludedRouter):
            if not _never_first(outer, hot):
                return None
            continue
        if getattr(outer.include_context, "form_limits", None):
            return None
        for candidate in outer.effective_candidates():
            if isinstance(candidate, _IncludedRouter):
                return None  # a nested inclusion: not proven here
            original = candidate.original_route
            if (
                isinstance(original, APIRoute)
                and candidate.path == path
                and method in (candidate.methods or ())
            ):
                selected = (getattr(candidate.starlette_route, "path_format", None)
                            or candidate.path_format)
                prefix = path.split("{", 1)[0]
                hot_app = getattr(original, "hot_app", None)
                if getattr(candidate, "max_body_size", None) is not None:
                    hot_app = None  # FastAPI's body limit is part of its effective handler
                app = hot_app() if callable(hot_app) else candidate.app
                return _Target(router, outer, candidate, original, method, prefix, selected,
                               app)
            if not _never_first(candidate, hot):
                return None
    return None


class _Hot:
    """The hot route's full-path pattern, for the precedence proof (without PatternRoute's
    narrower patterns: a wider pattern only makes the proof stricter)."""

    def __init__(self, path: str) -> None:
        self.path_regex, _, _ = compile_path(path)


def install_hot_route(app: FastAPI, path: str, method: str) -> HotRoute | None:
    """Route ``method path`` (the full template, as documented) straight to its handler when
    that is provably what FastAPI's routing would do; None when it is not (nothing changed)."""
    if not (_SCOPE_KEY and _EFFECTIVE_KEY and _INCLUDED_KEY) or None in (
            _IncludedRouter, _route_selected, _update_scope):
        return None
    target = _find(app, path, method)
    if target is None:
        return None
    hot = HotRoute(app.router.middleware_stack, target)
    app.router.middleware_stack = hot
    return hot


