"""POST /api/auth/login: RFC 6749 tokens, generic failures, organization choice, rehashing."""

from __future__ import annotations

import uuid

import httpx
import jwt
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Membership, User
from tests.fixtures.app import MakeUser


async def login(
    client: httpx.AsyncClient, email: str, password: str, **extra: object
) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password, **extra}
    )


async def test_login_answers_an_rfc6749_token_response(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await login(client, user.email, user.password)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"


async def test_access_token_carries_the_required_claims_for_15_minutes(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user(tier="pro", role="member")

    token = (await login(client, user.email, user.password)).json()["access_token"]

    secret = app.state.settings.jwt_secret.get_secret_value()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == str(user.principal.user_id)
    assert claims["org"] == str(user.principal.org_id)
    assert (claims["role"], claims["tier"]) == ("member", "pro")
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    wrong = await login(client, user.email, "not the password at all")
    unknown = await login(client, "nobody@example.com", user.password)

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_login_email_is_case_insensitive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await login(client, user.email.upper(), user.password)

    assert response.status_code == 200


async def test_login_defaults_to_the_oldest_membership(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    first = await make_user(role="owner")
    other = await make_user()
    await _join(app, first.principal.user_id, other.principal.org_id)

    token = (await login(client, first.email, first.password)).json()["access_token"]

    assert jwt.decode(token, options={"verify_signature": False})["org"] == str(
        first.principal.org_id
    )


async def test_login_with_organization_id_selects_that_membership(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    first = await make_user(role="owner")
    other = await make_user()
    await _join(app, first.principal.user_id, other.principal.org_id)

    response = await login(
        client, first.email, first.password, organizationId=str(other.principal.org_id)
    )

    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert (claims["org"], claims["role"]) == (str(other.principal.org_id), "member")


async def test_login_refuses_an_organization_the_user_is_not_a_member_of(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    stranger = await make_user()

    response = await login(
        client, user.email, user.password, organizationId=str(stranger.principal.org_id)
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "organizationId"


async def test_login_refuses_a_malformed_organization_id(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()

    response = await login(client, user.email, user.password, organizationId="nope")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "organizationId"


async def test_login_of_a_deactivated_user_fails_like_a_wrong_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(User).where(User.id == user.principal.user_id).values(is_active=False)
        )

    response = await login(client, user.email, user.password)

    assert response.status_code == 401
    assert response.json()["detail"] == "email or password is incorrect"


async def test_login_rehashes_a_password_hashed_with_outdated_parameters(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    outdated = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash(user.password)
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(User).where(User.id == user.principal.user_id).values(password_hash=outdated)
        )

    assert (await login(client, user.email, user.password)).status_code == 200

    async with session_scope(app.state.session_factory) as session:
        stored = (
            await session.execute(
                select(User.password_hash).where(User.id == user.principal.user_id)
            )
        ).scalar_one()
    assert stored != outdated
    assert "m=1024" not in stored
    assert (await login(client, user.email, user.password)).status_code == 200


async def _join(app: FastAPI, user_id: uuid.UUID, org_id: uuid.UUID) -> None:
    async with session_scope(app.state.session_factory) as session:
        session.add(Membership(user_id=user_id, organization_id=org_id))
