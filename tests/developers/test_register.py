"""POST /api/developers/register and GET /api/developers/me over HTTP, on both databases."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.marketplace import ApiKey, Developer
from tests.developers.helpers import namespace_rules, new_developer, register
from tests.fixtures.app import MakeUser


async def test_register_answers_the_profile_and_a_first_key_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user(tier="free")
    response = await register(client, headers, "acme-tools")
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    developer, key = body["developer"], body["apiKey"]
    assert developer["namespace"] == "acme-tools"
    assert developer["displayName"] == "Acme Photo Tools"
    assert developer["verified"] is False
    assert key["scopes"] == ["publish", "read"]
    assert key["secret"].startswith("ppxk_")
    assert key["prefix"] == key["secret"][:12]
    # The default lifetime is 90 days.
    from datetime import datetime
    created = datetime.fromisoformat(key["createdAt"])
    expires = datetime.fromisoformat(key["expiresAt"])
    assert expires - created == timedelta(days=90)

    # The key works, and the profile is readable by its user.
    who = await client.get("/api/developers/whoami", headers={"X-API-Key": key["secret"]})
    assert who.status_code == 200, who.text
    assert who.json()["namespace"] == "acme-tools"
    me = await client.get("/api/developers/me", headers=headers)
    assert me.status_code == 200
    assert me.json() == developer

    # Only the digest is stored, and the skeleton beside the namespace.
    async with session_scope(app.state.session_factory) as session:
        stored = (await session.execute(select(ApiKey))).scalar_one()
        row = (await session.execute(select(Developer))).scalar_one()
    assert stored.key_hash == hashlib.sha256(key["secret"].encode()).hexdigest()
    assert key["secret"] not in repr(vars(stored))
    assert row.skeleton == "acrnetools"

    # Listing never shows the secret again.
    listed = await client.get("/api/developers/keys", headers=headers)
    assert listed.status_code == 200
    assert key["secret"] not in listed.text
    assert "secret" not in listed.json()["items"][0]


async def test_me_without_a_profile_is_404(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    _, headers = await make_user(tier="free")
    response = await client.get("/api/developers/me", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_register_needs_a_logged_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/developers/register",
                                 json={"namespace": "acme", "displayName": "Acme"})
    assert response.status_code == 401


async def test_one_profile_per_user(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    again = await register(client, headers, "other-name")
    assert again.status_code == 409
    assert "already" in again.json()["detail"]
    me = await client.get("/api/developers/me", headers=headers)
    assert me.json()["namespace"] == "acme"


@pytest.mark.parametrize("namespace", [
    "Acme", "a", "-acme", "acme_tools", "acme.tools", "x" * 25, "acme tools", "",
    "\u0430\u0441me",          # Cyrillic letters
    "acme\u200b",              # zero-width space
    "acme\x00",
])
async def test_malformed_namespaces_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, namespace: str
) -> None:
    _, headers = await make_user(tier="free")
    response = await register(client, headers, namespace)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors
    assert all(e["field"] == "namespace" for e in errors)
    if namespace and "\x00" not in namespace:
        assert "namespace_format" in namespace_rules(response)
    me = await client.get("/api/developers/me", headers=headers)
    assert me.status_code == 404


@pytest.mark.parametrize("namespace", ["proofpix", "pr0ofpix", "proofpx", "admin", "support",
                                       "marketplace", "rnarketplace", "official", "api", "root"])
async def test_reserved_names_and_look_alikes_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, namespace: str
) -> None:
    _, headers = await make_user(tier="free")
    response = await register(client, headers, namespace)
    assert response.status_code == 422, response.text
    assert namespace_rules(response) == ["namespace_reserved"]


async def test_uppercase_reserved_name_names_both_rules(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user(tier="free")
    response = await register(client, headers, "ProofPix")
    assert response.status_code == 422
    assert namespace_rules(response) == ["namespace_format", "namespace_reserved"]


@pytest.mark.parametrize("look_alike", [
    "photo-lab", "photolab", "ph0tolab", "photo1ab", "photo--lab", "\u0440hotolab", "Photo-Lab",
])
async def test_confusable_namespaces_collide(
    client: httpx.AsyncClient, make_user: MakeUser, look_alike: str
) -> None:
    await new_developer(client, make_user, "photo-lab")
    _, headers = await make_user(tier="free")
    response = await register(client, headers, look_alike)
    rules = namespace_rules(response)
    if look_alike == "photo-lab":
        assert response.status_code == 409
        assert rules == ["namespace_taken"]
    elif look_alike.isascii() and look_alike == look_alike.lower():
        assert response.status_code == 409
        assert rules == ["namespace_confusable"]
    else:
        # Not even well formed; the look-alike is named as well.
        assert response.status_code == 422
        assert rules == ["namespace_format", "namespace_confusable"]


async def test_m_and_rn_collide(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await new_developer(client, make_user, "market-tools")
    _, headers = await make_user(tier="free")
    response = await register(client, headers, "rnarket-tools")
    assert response.status_code == 409
    assert namespace_rules(response) == ["namespace_confusable"]
    assert "market-tools" in response.json()["errors"][0]["message"]


async def test_near_a_verified_namespace_is_refused_only_once_verified(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await new_developer(client, make_user, "acme")
    await new_developer(client, make_user, "pixelworks")
    # Unverified: a name one edit away is someone else's right.
    await new_developer(client, make_user, "acne")
    _, admin = await make_user(platform_admin=True)
    for ns in ("acme", "pixelworks"):
        verified = await client.post(f"/api/admin/developers/{ns}/verify", headers=admin,
                                     json={"verified": True, "reason": "checked"})
        assert verified.status_code == 200, verified.text
    _, headers = await make_user(tier="free")
    for name, expected in [("acmf", 409), ("xacme", 409), ("bcmf", 201)]:
        response = await register(client, headers, name)
        assert response.status_code == expected, (name, response.text)
        if expected == 409:
            assert namespace_rules(response) == ["namespace_similar_to_verified"]
    _, headers = await make_user(tier="free")
    # Longer names: two edits are still too close.
    response = await register(client, headers, "pixelwrkz")
    assert response.status_code == 409
    assert namespace_rules(response) == ["namespace_similar_to_verified"]


async def test_concurrent_look_alikes_cannot_both_win(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    users = [await make_user(tier="free") for _ in range(4)]
    names = ["studio-one", "studio-0ne", "studi0-one", "studioone"]
    responses = await asyncio.gather(*(
        register(client, user.headers, name) for user, name in zip(users, names, strict=True)
    ))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    async with session_scope(app.state.session_factory) as session:
        count = len((await session.execute(select(Developer))).scalars().all())
        keys = len((await session.execute(select(ApiKey))).scalars().all())
    assert count == 1
    assert keys == 1


@pytest.mark.parametrize("body", [
    {"namespace": "acme"},
    {"displayName": "Acme"},
    {"namespace": "acme", "displayName": "   "},
    {"namespace": "acme", "displayName": "x" * 201},
    {"namespace": 5, "displayName": "Acme"},
    {"namespace": "acme", "displayName": "Acme", "verified": True},
    {"namespace": "n" * 65, "displayName": "Acme"},
])
async def test_malformed_bodies_are_422(
    client: httpx.AsyncClient, make_user: MakeUser, body: dict
) -> None:
    _, headers = await make_user(tier="free")
    response = await client.post("/api/developers/register", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["errors"]
