"""One audit_log row per mutating request, for successes and failures alike."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from proofpix_plugins.accounts.auth import CurrentUser
from proofpix_plugins.config import Settings
from proofpix_plugins.db import SessionDep, session_scope
from proofpix_plugins.errors import Forbidden
from proofpix_plugins.kit.audit import audit_refusals_only
from proofpix_plugins.models.accounts import Organization
from proofpix_plugins.models.audit import AuditLog
from tests.fixtures.app import MakeUser, StartApp, client_for


async def audit_rows(app: FastAPI) -> list[AuditLog]:
    async with session_scope(app.state.session_factory) as session:
        return list((await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars())


def target_router() -> APIRouter:
    router = APIRouter(prefix="/test-audit")

    @router.delete("/things/{thing_id}")
    async def delete_thing(thing_id: str, principal: CurrentUser) -> dict[str, str]:
        return {"deleted": thing_id}

    @router.post("/rename/{org_slug}")
    async def rename_then_fail(org_slug: str, principal: CurrentUser, session: SessionDep) -> None:
        org = await session.get(Organization, principal.org_id)
        assert org is not None
        org.name = "renamed by a request that fails"
        await session.flush()
        raise RuntimeError("fails after writing")

    @router.post("/calls/{name}")
    @audit_refusals_only
    async def call(name: str, principal: CurrentUser) -> dict[str, str]:
        if name == "refused":
            raise Forbidden(detail="not for you")
        return {"called": name}

    return router


@pytest.fixture
def targets(app: FastAPI) -> FastAPI:
    app.include_router(target_router())
    return app


async def test_a_successful_mutation_is_audited_with_actor_target_and_outcome(
    targets: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await client.delete("/test-audit/things/t-42", headers=user.headers)

    [row] = await audit_rows(targets)
    assert row.action == "DELETE /test-audit/things/{thing_id}"
    assert row.target == "thing_id=t-42"
    assert (row.actor_user_id, row.organization_id) == (
        user.principal.user_id,
        user.principal.org_id,
    )
    assert (row.outcome, row.status_code) == ("success", 200)
    assert row.client_address == "127.0.0.1"
    assert row.request_id == response.headers["x-request-id"]


async def test_a_failed_request_is_audited_although_its_transaction_rolled_back(
    targets: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await client.post(f"/test-audit/rename/{user.org_slug}", headers=user.headers)

    assert response.status_code == 500
    [row] = await audit_rows(targets)
    assert (row.outcome, row.status_code) == ("failure", 500)
    assert row.actor_user_id == user.principal.user_id
    async with session_scope(targets.state.session_factory) as session:
        org = await session.get(Organization, user.principal.org_id)
    assert org is not None
    assert org.name != "renamed by a request that fails"


async def test_a_failed_login_is_audited_without_an_actor(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"})

    [row] = await audit_rows(app)
    assert row.action == "POST /api/auth/login"
    assert (row.outcome, row.status_code, row.actor_user_id) == ("failure", 401, None)


async def test_a_successful_login_is_audited_with_the_user_who_logged_in(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()

    await client.post("/api/auth/login", json={"email": user.email, "password": user.password})

    [row] = await audit_rows(app)
    assert (row.actor_user_id, row.organization_id) == (
        user.principal.user_id,
        user.principal.org_id,
    )
    assert row.outcome == "success"


async def test_reads_are_not_audited(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()

    await client.get("/api/auth/me", headers=user.headers)
    await client.get("/api/health")

    assert await audit_rows(app) == []


async def test_anonymous_requests_refused_401_write_no_audit_rows(
    targets: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        response = await client.delete("/test-audit/things/x")
        assert response.status_code == 401

    assert await audit_rows(targets) == []


async def test_anonymous_requests_refused_429_write_no_audit_rows(
    settings: Settings, start_app: StartApp
) -> None:
    tight = settings.model_copy(update={"rate_limit_auth": "1/minute"})
    async with start_app(tight) as app, client_for(app) as client:
        statuses = [
            (await client.post("/api/auth/login",
                               json={"email": "x@example.com", "password": "nope-nope"})
             ).status_code
            for _ in range(4)
        ]
        rows = await audit_rows(app)

    assert statuses == [401, 429, 429, 429]
    assert [(r.status_code, r.outcome) for r in rows] == [(401, "failure")]


async def test_a_refusals_only_route_audits_its_refusals_and_not_its_calls(
    targets: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    called = await client.post("/test-audit/calls/ping", headers=user.headers)
    refused = await client.post("/test-audit/calls/refused", headers=user.headers)

    assert (called.status_code, refused.status_code) == (200, 403)
    [row] = await audit_rows(targets)
    assert (row.action, row.outcome) == ("POST /test-audit/calls/{name}", "failure")
