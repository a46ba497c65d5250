"""Refresh-token rotation, reuse detection revoking the family, expiry, logout."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select, update

from proofpix_plugins.accounts.tokens import hash_refresh_token
from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Organization, RefreshToken, Tier
from tests.fixtures.app import MakeUser


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_refresh_token(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await refresh(client, user.refresh_token)

    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != user.refresh_token
    assert body["token_type"] == "Bearer"
    async with session_scope(app.state.session_factory) as session:
        old = (
            await session.execute(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_refresh_token(user.refresh_token)
                )
            )
        ).scalar_one()
    assert old.rotated_at is not None
    assert old.replaced_by_id is not None


async def test_refresh_tokens_are_stored_only_as_sha256(app: FastAPI, make_user: MakeUser) -> None:
    user = await make_user()

    async with session_scope(app.state.session_factory) as session:
        hashes = (await session.execute(select(RefreshToken.token_hash))).scalars().all()
    assert hashes == [hash_refresh_token(user.refresh_token)]
    assert user.refresh_token not in hashes


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    newer = (await refresh(client, user.refresh_token)).json()["refresh_token"]

    reuse = await refresh(client, user.refresh_token)

    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    # The legitimate-looking newest token of the same login is dead too.
    assert (await refresh(client, newer)).status_code == 401
    async with session_scope(app.state.session_factory) as session:
        rows = (await session.execute(select(RefreshToken))).scalars().all()
    assert rows
    assert all(row.revoked_at is not None for row in rows)


async def test_reuse_revokes_only_that_login_not_other_sessions(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    second_login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    other_session = second_login.json()["refresh_token"]
    await refresh(client, user.refresh_token)

    assert (await refresh(client, user.refresh_token)).status_code == 401

    assert (await refresh(client, other_session)).status_code == 200


async def test_an_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "made-up-token")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await refresh(client, user.refresh_token)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_refresh_requires_the_rfc6749_field_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh", json={"refreshToken": "x"})

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"refresh_token", "refreshToken"}


async def test_refreshed_access_token_reflects_the_current_tier(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user(tier="free")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(Organization).values(tier=Tier.enterprise))

    token = (await refresh(client, user.refresh_token)).json()["access_token"]

    assert jwt.decode(token, options={"verify_signature": False})["tier"] == "enterprise"


async def test_logout_revokes_the_presented_refresh_token_family(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await client.post(
        "/api/auth/logout", json={"refresh_token": user.refresh_token}, headers=user.headers
    )

    assert response.status_code == 204
    assert (await refresh(client, user.refresh_token)).status_code == 401


async def test_logout_without_a_token_ends_every_session_of_the_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    second = (
        await client.post("/api/auth/login", json={"email": user.email, "password": user.password})
    ).json()["refresh_token"]

    assert (await client.post("/api/auth/logout", headers=user.headers)).status_code == 204

    assert (await refresh(client, user.refresh_token)).status_code == 401
    assert (await refresh(client, second)).status_code == 401


async def test_logout_cannot_revoke_someone_elses_refresh_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    victim = await make_user()
    attacker = await make_user()

    response = await client.post(
        "/api/auth/logout", json={"refresh_token": victim.refresh_token}, headers=attacker.headers
    )

    assert response.status_code == 204
    assert (await refresh(client, victim.refresh_token)).status_code == 200


async def test_logout_requires_authentication(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await client.post("/api/auth/logout", json={"refresh_token": user.refresh_token})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert (await refresh(client, user.refresh_token)).status_code == 200


async def test_two_concurrent_refreshes_with_one_token_let_exactly_one_win(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()

    first, second = await asyncio.gather(
        refresh(client, user.refresh_token), refresh(client, user.refresh_token)
    )

    assert sorted([first.status_code, second.status_code]) == [200, 401]
    # The loser looks like a replay: the family, including the winner's new token, is revoked.
    winner = first if first.status_code == 200 else second
    assert (await refresh(client, winner.json()["refresh_token"])).status_code == 401
