"""POST /api/auth/register: a user, their personal free organization, and the input rules."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import Membership, Organization, Role, Tier, User

PASSWORD = "a long enough password"


async def register(client: httpx.AsyncClient, **overrides: object) -> httpx.Response:
    body: dict[str, object] = {
        "email": "Ada@Example.com",
        "password": PASSWORD,
        "name": "Ada Lovelace",
    }
    body.update(overrides)
    return await client.post("/api/auth/register", json=body)


async def test_register_creates_user_owning_a_personal_free_organization(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await register(client)

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["isPlatformAdmin"] is False
    assert body["organization"]["tier"] == "free"
    assert body["organization"]["role"] == "owner"
    async with session_scope(app.state.session_factory) as session:
        user = (await session.execute(select(User))).scalar_one()
        membership = (await session.execute(select(Membership))).scalar_one()
        org = (await session.execute(select(Organization))).scalar_one()
    assert str(user.id) == body["user"]["id"]
    assert (membership.user_id, membership.organization_id) == (user.id, org.id)
    assert (membership.role, org.tier) == (Role.owner, Tier.free)


async def test_register_stores_an_argon2id_hash_never_the_password(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client)

    async with session_scope(app.state.session_factory) as session:
        user = (await session.execute(select(User))).scalar_one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_register_refuses_a_duplicate_email_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    assert (await register(client)).status_code == 201

    response = await register(client, email="ADA@example.COM")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "email", "message": "already registered", "rule": "unique"}
    ]


async def test_register_refuses_a_password_shorter_than_ten_characters(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, password="123456789")

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "password"
    assert error["rule"] == "string_too_short"


async def test_register_refuses_an_invalid_email(client: httpx.AsyncClient) -> None:
    response = await register(client, email="not-an-address")

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "email"
    assert "email" in error["message"]


async def test_register_refuses_a_blank_name_and_unknown_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await register(client, name="   ", isAdmin=True)

    assert response.status_code == 422
    fields = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert fields == {("name", "string_too_short"), ("isAdmin", "extra_forbidden")}


async def test_register_refuses_a_non_json_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "json_invalid"


async def test_failed_registration_leaves_no_user_behind(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, password="short")

    async with session_scope(app.state.session_factory) as session:
        assert (await session.execute(select(User))).first() is None


async def test_concurrent_registrations_of_one_email_create_one_account(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    responses = await asyncio.gather(*(register(client) for _ in range(3)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    async with session_scope(app.state.session_factory) as session:
        assert len((await session.execute(select(User))).all()) == 1
        assert len((await session.execute(select(Organization))).all()) == 1


async def test_namesakes_registering_at_once_both_get_an_organization(
    client: httpx.AsyncClient,
) -> None:
    first, second = await asyncio.gather(
        register(client, email="one@example.com"), register(client, email="two@example.com")
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["organization"]["slug"] != second.json()["organization"]["slug"]
    assert first.json()["organization"]["slug"].startswith("ada-lovelace-")
