"""require_role, require_tier and require_platform_admin; writes re-check the auth epoch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import delete, event, select, update

from proofpix_plugins.accounts.auth import (
    Principal,
    require_platform_admin,
    require_role,
    require_tier,
)
from proofpix_plugins.accounts.epoch_feed import PostgresEpochFeed
from proofpix_plugins.accounts.epochs import AuthEpochs, publish_invalidation
from proofpix_plugins.db import session_scope
from proofpix_plugins.kit.audit import audit_refusals_only
from proofpix_plugins.models.accounts import Membership, Organization, Role, Tier, User
from proofpix_plugins.plugins.event_hub import LocalEventHub
from tests.fixtures.app import MakeUser
from tests.waiting import eventually


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

    @router.post("/call")
    @audit_refusals_only  # like the hook route: no audit row (no commit) per call
    async def call_as_admin(
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


class SharedHub(LocalEventHub):
    """A hub standing in for Redis: it claims to reach every process (``generation``)."""

    generation: int | None = 0

    def delivery_generation(self) -> int | None:
        return self.generation


@pytest.fixture
async def shared_hub(app: FastAPI) -> AsyncIterator[SharedHub]:
    """The app's epochs follow a hub that reaches every process: cached epochs are trusted."""
    hub = SharedHub()
    epochs: AuthEpochs = app.state.auth_epochs
    follower = epochs.start_following(hub)
    await asyncio.sleep(0)  # subscribed
    yield hub
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)


def _auth_reads(app: FastAPI) -> tuple[list[str], Callable[[], None]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    return statements, lambda: event.remove(
        app.state.engine.sync_engine, "before_cursor_execute", record)


async def test_a_write_with_a_current_epoch_reads_the_epoch_and_not_role_and_tier(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")
    app.state.auth_epochs.ttl = 0  # the cache off: what every write costs without it
    await client.post("/test-guards/admin", headers=user.headers)
    statements, stop = _auth_reads(app)
    try:
        response = await client.post("/test-guards/admin", headers=user.headers)
    finally:
        stop()

    assert response.status_code == 200
    # Nothing cached: one primary-key read of the epoch, not the role and tier.
    assert [s for s in statements if "memberships" in s or "FROM users" in s] == [
        s for s in statements if "auth_epoch" in s
    ]
    assert len([s for s in statements if "auth_epoch" in s]) == 1


async def test_a_write_with_a_cached_current_epoch_reads_nothing(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser,
    shared_hub: SharedHub,
) -> None:
    user = await make_user(role="admin")
    await client.post("/test-guards/call", headers=user.headers)  # caches the epoch
    statements, stop = _auth_reads(app)
    try:
        response = await client.post("/test-guards/call", headers=user.headers)
    finally:
        stop()

    assert response.status_code == 200
    assert not [s for s in statements if "memberships" in s or "FROM users" in s]


def _feed_received(app: FastAPI) -> int:
    feed: PostgresEpochFeed | None = getattr(app.state, "auth_epoch_feed", None)
    return feed.received if feed is not None else 0


async def _feed_delivered(app: FastAPI, before: int) -> None:
    """On PostgreSQL, until the database's notification of an epoch change has been applied
    (it arrives a moment after the commit); SQLite's data_version needs no wait."""
    if getattr(app.state, "auth_epoch_feed", None) is None:
        return
    await eventually(lambda: _feed_received(app) > before,
                     what="the auth-epoch notification reached the feed")


async def test_without_a_shared_hub_an_sql_change_stops_the_next_write_at_once(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")
    epochs: AuthEpochs = app.state.auth_epochs
    # Following an in-process hub does not make the cache trusted: the CLI cannot reach it.
    follower = epochs.start_following(LocalEventHub())
    await asyncio.sleep(0)
    try:
        assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
        assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
        received = _feed_received(app)
        async with session_scope(app.state.session_factory) as session:
            await session.execute(update(Membership).values(role=Role.member))
        await _feed_delivered(app, received)

        assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 403
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def test_an_unannounced_sql_change_stops_the_next_write(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser,
    shared_hub: SharedHub,
) -> None:
    """Hand-written SQL publishes nothing: the database's own change feed still shows it."""
    user = await make_user(role="admin")
    epochs: AuthEpochs = app.state.auth_epochs
    epochs.ttl = 3600.0
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    received = _feed_received(app)
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(User).values(is_active=False))
    # SQLite: the file's data_version shows the commit at once; PostgreSQL: the database's
    # notification (migration 0015) as soon as it arrives.
    await _feed_delivered(app, received)

    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 401


@pytest.fixture
async def hub_epochs(app: FastAPI) -> AsyncIterator[SharedHub]:
    """Epochs trusted on a hub's word alone (no data_version, no database feed): how an engine
    without its own change feed would run. The guard reads ``app.state.auth_epochs``."""
    hub = SharedHub()
    epochs = AuthEpochs(app.state.session_factory, ttl=3600.0)
    app.state.auth_epochs = epochs
    follower = epochs.start_following(hub)
    await asyncio.sleep(0)  # subscribed
    yield hub
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)


async def test_a_hub_that_lost_its_connection_makes_the_cache_untrusted(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser,
    hub_epochs: SharedHub,
) -> None:
    user = await make_user(role="admin")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Membership).values(role=Role.member))
    # Trusted while the hub claims delivery: the unannounced change is not seen.
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200

    hub_epochs.generation = None  # the listener is away: invalidations may be lost
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 403
    hub_epochs.generation = 1  # back, after a loss: what was cached before is forgotten
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 403


async def test_every_change_a_token_asserts_bumps_the_users_epoch(
    app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user(role="admin")
    other = await make_user(org=user.org_slug, role="member")
    uid, oid = user.principal.user_id, other.principal.user_id

    async def epochs() -> tuple[int, int]:
        async with session_scope(app.state.session_factory) as session:
            rows = dict((await session.execute(select(User.id, User.auth_epoch))).all())
        return rows[uid], rows[oid]

    start = await epochs()
    changes = [
        update(Membership).where(Membership.user_id == uid).values(role=Role.member),
        update(Organization).where(Organization.id == user.principal.org_id)
        .values(tier=Tier.pro),
        update(User).where(User.id == uid).values(is_platform_admin=True),
        update(User).where(User.id == uid).values(is_active=False),
        delete(Membership).where(Membership.user_id == uid),
    ]
    seen = [start]
    for change in changes:
        async with session_scope(app.state.session_factory) as session:
            await session.execute(change)
        seen.append(await epochs())

    assert [s[0] for s in seen] == [start[0] + i for i in range(6)]
    # The tier change reached every member of the organization, and only it.
    assert [s[1] for s in seen] == [start[1]] * 2 + [start[1] + 1] * 4


async def test_an_invalidation_through_the_hub_stops_a_cached_demoted_user_at_once(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser,
    hub_epochs: SharedHub,
) -> None:
    user = await make_user(role="admin")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Membership).values(role=Role.member))
    # Cached: the unannounced demotion is not yet seen.
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200

    assert await publish_invalidation(hub_epochs, [user.principal.user_id])
    await asyncio.sleep(0.01)

    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 403
