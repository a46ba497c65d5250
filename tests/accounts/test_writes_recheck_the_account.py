"""Every mutating route re-checks the caller's account, whatever dependency it declares.

A still-valid access token (15 minutes) must not let a deactivated, removed or deleted account
write anything: the routes are enumerated from the app itself, so a new route cannot forget it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update

from proofpix_plugins.config import Settings
from proofpix_plugins.db import session_scope
from proofpix_plugins.kit.routes import all_routes
from proofpix_plugins.models.accounts import Membership, Organization, User
from tests.fixtures.app import (
    StartApp,
    TestUser,
    build_test_settings,
    client_for,
    create_test_user,
)

SAFE = {"GET", "HEAD", "OPTIONS"}
# Routes that take no access token: they authenticate with a password or a refresh token.
CREDENTIAL_ROUTES = {"/api/auth/register", "/api/auth/login", "/api/auth/refresh"}


def mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in all_routes(app):
        for method in sorted((route.methods or set()) - SAFE):
            # The console's pages (cookie sessions, CSRF) re-check the account in web/ and are
            # tested in tests/web; this test is about bearer tokens on the API.
            if (route.path is not None and route.path.startswith("/api/")
                    and route.path not in CREDENTIAL_ROUTES):
                found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    # Values that fit each parameter's pattern, so the request reaches the route's guards.
    path = path.replace("{hook_name}", "acme:done")
    for uuid_param in ("{file_id}", "{job_id}", "{key_id}", "{submission_id}", "{review_id}"):
        path = path.replace(uuid_param, "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b")
    path = path.replace("{namespace}", "acme")
    return re.sub(r"\{[^}]+\}", "acme.example", path)


async def _deactivate(app: FastAPI, user: TestUser) -> None:
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(User).where(User.id == user.principal.user_id).values(is_active=False)
        )


async def _remove_membership(app: FastAPI, user: TestUser) -> None:
    async with session_scope(app.state.session_factory) as session:
        await session.execute(delete(Membership).where(
            Membership.user_id == user.principal.user_id,
            Membership.organization_id == user.principal.org_id,
        ))


async def _delete_user(app: FastAPI, user: TestUser) -> None:
    async with session_scope(app.state.session_factory) as session:
        await session.execute(delete(User).where(User.id == user.principal.user_id))


async def _delete_org(app: FastAPI, user: TestUser) -> None:
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            delete(Organization).where(Organization.id == user.principal.org_id)
        )


CHANGES: dict[str, Callable[[FastAPI, TestUser], Awaitable[None]]] = {
    "deactivated": _deactivate,
    "removed from the organization": _remove_membership,
    "deleted user": _delete_user,
    "deleted organization": _delete_org,
}


@pytest.fixture
def platform_settings(db_url: str) -> Iterator[Settings]:
    # The real platform, so every route's own dependencies resolve: its data dir must be
    # traversable by plugin uids (pytest's tmp_path is not).
    root = Path(tempfile.mkdtemp(prefix="ppx-recheck-", dir="/tmp"))
    os.chmod(root, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield build_test_settings(db_url, root / "data")
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_every_mutating_route_refuses_a_stale_token(
    change: str, platform_settings: Settings, start_app: StartApp
) -> None:
    async with start_app(platform_settings, platform=True) as app, client_for(app) as client:
        routes = mutating_routes(app)
        assert ("POST", "/api/files") in routes
        assert ("POST", "/api/plugins/install") in routes
        user = await create_test_user(app, tier="enterprise", role="owner")
        await CHANGES[change](app, user)

        answers = {}
        for method, path in routes:
            response = await client.request(
                method, concrete(path), headers=user.headers,
                files={"file": ("a.jpg", b"\xff\xd8\xff")} if path.endswith(
                    ("/api/files", "/install")) else None,
                json=None if path.endswith(("/api/files", "/install")) else {},
            )
            answers[f"{method} {path}"] = response.status_code

    assert answers, "no mutating routes found"
    assert {k: v for k, v in answers.items() if v != 401} == {}


async def test_the_token_alone_still_serves_reads(client: httpx.AsyncClient, app: FastAPI,
                                                  make_user: Callable[..., Awaitable[TestUser]]
                                                  ) -> None:
    user = await make_user()
    await _deactivate(app, user)

    response = await client.get("/api/plugins", headers=user.headers)

    assert response.status_code != 401  # reads stay one signature check (docs/decisions.md)
