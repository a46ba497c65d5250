"""require_role, require_tier and require_platform_admin; writes re-check the database."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import update

from proofpix_plugins.accounts.auth import (
    Principal,
    require_platform_admin,
    require_role,
    require_tier,
)
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Membership, Organization, Role, Tier, User
from tests.fixtures.app import MakeUser


def guarded_router() -> APIRouter:
    router = APIRouter(prefix="/test-guards")

    @router.get("/admin")
    async def read_as_admin(
        p: Annotated[Principal, Depends(require_role("owner", "admin"))],
    ) -> dict[str, str]:
        return {"role": p.role.value}

    @router.post("/admin")
    async def write_as_admin(
        p: Annotated[Principal, Depends(require_role("owner", "admin"))],
    ) -> dict[str, str]:
        return {"role": p.role.value}

    @router.post("/enterprise")
    async def enterprise_only(
        p: Annotated[Principal, Depends(require_tier("enterprise"))],
    ) -> dict[str, str]:
        return {"tier": p.tier.value}

    @router.get("/enterprise")
    async def enterprise_read(
        p: Annotated[Principal, Depends(require_tier("enterprise"))],
    ) -> dict[str, str]:
        return {"tier": p.tier.value}

    @router.post("/platform")
    async def platform_only(
        p: Annotated[Principal, Depends(require_platform_admin)],
    ) -> dict[str, bool]:
        return {"admin": p.is_platform_admin}

    return router


@pytest.fixture
def guarded(app: FastAPI) -> FastAPI:
    app.include_router(guarded_router())
    return app


async def test_require_role_lets_an_admin_through(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")

    response = await client.post("/test-guards/admin", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"role": "admin"}


async def test_require_role_refuses_a_member_with_a_403_problem(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="member")

    response = await client.post("/test-guards/admin", headers=user.headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "admin or owner" in response.json()["detail"]


async def test_require_role_refuses_an_anonymous_caller_with_401(
    guarded: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/test-guards/admin")

    assert response.status_code == 401


async def test_require_tier_refuses_a_free_organization(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="free")

    response = await client.post("/test-guards/enterprise", headers=user.headers)

    assert response.status_code == 403
    assert "enterprise plan" in response.json()["detail"]


async def test_require_tier_lets_an_enterprise_organization_through(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise", role="member")

    response = await client.post("/test-guards/enterprise", headers=user.headers)

    assert response.json() == {"tier": "enterprise"}


async def test_a_demotion_takes_effect_at_once_for_writes(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Membership).values(role=Role.member))

    write = await client.post("/test-guards/admin", headers=user.headers)
    read = await client.get("/test-guards/admin", headers=user.headers)

    assert write.status_code == 403
    # Reads trust the 15-minute token (see docs/decisions.md).
    assert read.status_code == 200


async def test_a_downgrade_takes_effect_at_once_for_writes(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Organization).values(tier=Tier.pro))

    response = await client.post("/test-guards/enterprise", headers=user.headers)

    assert response.status_code == 403


async def test_a_removed_membership_invalidates_the_token_for_writes(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(User).where(User.id == user.principal.user_id).values(is_active=False)
        )

    response = await client.post("/test-guards/admin", headers=user.headers)

    assert response.status_code == 401


async def test_require_platform_admin_refuses_an_org_owner(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="owner")

    response = await client.post("/test-guards/platform", headers=user.headers)

    assert response.status_code == 403


async def test_require_platform_admin_lets_a_platform_admin_through(
    guarded: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(platform_admin=True, role="member")

    response = await client.post("/test-guards/platform", headers=user.headers)

    assert response.json() == {"admin": True}


def test_guards_refuse_unknown_roles_and_tiers_when_declared() -> None:
    with pytest.raises(ValueError, match="superuser"):
        require_role("superuser")
    with pytest.raises(ValueError, match="platinum"):
        require_tier("platinum")
