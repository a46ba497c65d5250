"""The hook route's flat handler answers exactly as FastAPI's generic handler of its declaration.

plugins/hook_route.py replaces only the per-request handler of ``POST /api/plugins/hooks/{name}``
(SPEC §11 latency); the declaration in endpoints.py stays what OpenAPI documents. Each request
below goes to an app with the flat handler and to one where the route is handled by FastAPI's own
``APIRoute.get_route_handler`` (dependency solver, body solving, response model): status,
problem details, field paths and headers must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import update

from proofpix_plugins import app as app_module
from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Organization, Tier
from proofpix_plugins.plugins.hook_route import HookRoute
from tests.fixtures.app import StartApp, client_for, create_test_user
from tests.plugins.test_plugin_api import counter_ppx, install

HOOK = "/api/plugins/hooks/custom:count"
JSON = {"Content-Type": "application/json"}

# (who, path, headers, body bytes or None)
CASES: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("admin", HOOK, JSON, b"{}"),
    ("admin", HOOK, JSON, b'{"data": {"n": 1}, "options": {"mode": "sequential"}}'),
    ("admin", HOOK, JSON, b'{"data": [1, "x", null]}'),
    ("admin", "/api/plugins/hooks/custom:nobody", JSON, b"{}"),
    ("admin", "/api/plugins/hooks/NOT A HOOK", JSON, b"{}"),
    ("admin", HOOK, JSON, b'{"data": {}, "bogus": 1}'),
    ("admin", HOOK, JSON, b'{"options": {"timeout": 999999}}'),
    ("admin", HOOK, JSON, b'{"options": {"nope": 1}}'),
    ("admin", HOOK, JSON, b'{"options": "fast"}'),
    ("admin", HOOK, JSON, b"[]"),
    ("admin", HOOK, JSON, b"null"),
    ("admin", HOOK, JSON, b'"text"'),
    ("admin", HOOK, JSON, b""),
    ("admin", HOOK, {}, None),
    ("admin", HOOK, {}, b"{}"),
    ("admin", HOOK, {"Content-Type": "text/plain"}, b"{}"),
    ("admin", HOOK, {"Content-Type": "application/vnd.acme+json; charset=utf-8"}, b"{}"),
    ("admin", HOOK, JSON, b'{"data": {"x": NaN}}'),
    ("admin", HOOK, JSON, b'{"data": {"x": "a\\u0000b"}}'),
    ("admin", HOOK, JSON, b'{"data": {"big": 99999999999999999999999}}'),
    ("admin", HOOK, JSON, b'{"data": '),
    ("member", HOOK, JSON, b"{}"),
    ("pro", HOOK, JSON, b"{}"),
    ("anonymous", HOOK, JSON, b"{}"),
    ("basic", HOOK, JSON, b"{}"),
    ("garbage", HOOK, JSON, b"{}"),
    ("downgraded", HOOK, JSON, b"{}"),
    ("anonymous", HOOK, JSON, b"[]"),
]


def _normal(value: Any) -> Any:
    """Without what differs between two runs: request ids, timings."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()
                if k not in ("requestId", "durationMs")}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


async def _answers(app: FastAPI, ppx_dir: Path) -> list[tuple[Any, ...]]:
    admin = await create_test_user(app, tier="enterprise", role="admin")
    member = await create_test_user(app, org=admin.org_slug, role="member")
    pro = await create_test_user(app, tier="pro", role="owner")
    downgraded = await create_test_user(app, tier="enterprise", role="owner")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Organization).where(
            Organization.id == downgraded.principal.org_id).values(tier=Tier.pro))
    auth = {"admin": admin.headers, "member": member.headers, "pro": pro.headers,
            "downgraded": downgraded.headers, "anonymous": {},
            "basic": {"Authorization": "Basic YTpi"},
            "garbage": {"Authorization": "Bearer not.a.token"}}
    out: list[tuple[Any, ...]] = []
    async with client_for(app) as api:
        assert (await install(api, admin, counter_ppx(ppx_dir))).status_code == 201
        r = await api.post("/api/plugins/acme.counter/load", headers=admin.headers)
        assert r.status_code == 200, r.text
        for who, path, headers, body in CASES:
            r = await api.post(path, headers={**auth[who], **headers}, content=body)
            try:
                payload = _normal(r.json())
            except ValueError:
                payload = r.text
            kept = {k: r.headers.get(k) for k in (
                "content-type", "www-authenticate", "ratelimit-limit", "retry-after")}
            out.append((who, path, headers, body, r.status_code, kept, payload,
                        "ratelimit-remaining" in r.headers, "x-request-id" in r.headers))
    return out


async def test_flat_handler_answers_as_fastapi_would(
    platform_settings: Settings, start_app: StartApp, ppx_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with start_app(platform_settings, platform=True) as app:
        flat = await _answers(app, ppx_dir)
    (ppx_dir / "generic").mkdir()
    with monkeypatch.context() as patch:
        # Before the app's first request: FastAPI builds route handlers on first use.
        patch.setattr(HookRoute, "get_route_handler", APIRoute.get_route_handler)
        # And FastAPI's routing to it, with FastAPI's request_response around the handler
        # (the flat run goes through kit/hot_route.py and HookRoute.hot_app).
        patch.setattr(app_module, "install_hot_route", lambda *_a, **_k: None)
        async with start_app(platform_settings, platform=True) as app:
            generic = await _answers(app, ppx_dir / "generic")
    assert len(flat) == len(CASES)
    for got, expected in zip(flat, generic, strict=True):
        assert got == expected
    # The cases do reach what they are meant to.
    statuses = {(c[0], c[3]): a[4] for c, a in zip(CASES, flat, strict=True)}
    assert statuses[("admin", b"{}")] == 200
    assert statuses[("pro", b"{}")] == 403
    assert statuses[("downgraded", b"{}")] == 403
    assert statuses[("anonymous", b"{}")] == 401
    assert statuses[("admin", b'{"options": "fast"}')] == 422


async def test_the_flat_handler_rate_limits_like_the_declared_dependency(
    platform_settings: Settings, start_app: StartApp,
) -> None:
    limited = platform_settings.model_copy(update={"rate_limit_hooks": "2/minute"})
    async with start_app(limited, platform=True) as app:
        admin = await create_test_user(app, tier="enterprise", role="admin")
        async with client_for(app) as api:
            answers = [await api.post(HOOK, headers=admin.headers, json={}) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["1", "0", "0"]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert "PROOFPIX_RATE_LIMIT_HOOKS" in answers[2].json()["detail"]


async def test_a_request_is_refused_before_its_body_is_looked_at(
    platform_settings: Settings, start_app: StartApp,
) -> None:
    async with start_app(platform_settings, platform=True) as app, client_for(app) as api:
        r = await api.post(HOOK, json={"bogus": 1})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


def test_the_hook_route_is_a_hook_route() -> None:
    from proofpix_plugins.app import create_app
    from proofpix_plugins.kit.routes import all_routes

    found = [r for r in all_routes(create_app()) if r.path == "/api/plugins/hooks/{hook_name}"]
    assert len(found) == 1
    assert isinstance(found[0].original_route, HookRoute)


def test_the_flat_handler_knows_every_dependency_of_the_declaration() -> None:
    """A dependency added to the route or its router must be added to HookRoute's handler too."""
    from proofpix_plugins.app import create_app
    from proofpix_plugins.kit.routes import all_routes

    found = [r for r in all_routes(create_app()) if r.path == "/api/plugins/hooks/{hook_name}"]
    route: Any = found[0].route

    def names(d: Any) -> list[Any]:
        return [(getattr(s.call, "__name__", type(s.call).__name__), names(s))
                for s in d.dependencies]

    assert names(route.dependant) == [
        ("rate_limit_reads_default", []),  # the router's: GET and HEAD only, a POST passes
        ("rate_limit_hooks", []),
        ("require_tier_enterprise", [
            ("confirmed_principal", [("current_user", [("HTTPBearer", [])])])]),
        ("_service", []),
    ]

