"""Developer API keys: create, list, revoke; what a key opens and what it never does."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import event, select, update

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.api_keys import new_key
from proofpix_plugins.developers.auth import DeveloperPrincipal, require_api_key
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import ApiKey
from tests.developers.helpers import new_developer
from tests.fixtures.app import MakeUser


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any
                  ) -> httpx.Response:
    payload = {"name": "ci", "scopes": ["publish", "read"], **body}
    return await client.post("/api/developers/keys", headers=headers, json=payload)


def _as_key(secret: str) -> dict[str, str]:
    return {"X-API-Key": secret}


async def test_create_list_and_revoke(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers, first = await new_developer(client, make_user, "acme")
    created = await _create(client, headers, name="read only", scopes=["read"],
                            expiresInDays=7)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["scopes"] == ["read"]
    assert key["name"] == "read only"
    from datetime import datetime
    assert (datetime.fromisoformat(key["expiresAt"]) - datetime.fromisoformat(key["createdAt"])
            == timedelta(days=7))

    listed = await client.get("/api/developers/keys", headers=headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 2
    assert page["page"] == 1
    assert page["limit"] == 20
    assert {k["id"] for k in page["items"]} == {key["id"], first["apiKey"]["id"]}
    for item in page["items"]:
        assert set(item) == {"id", "name", "prefix", "scopes", "createdAt", "expiresAt",
                             "lastUsedAt", "revokedAt"}
    assert key["secret"] not in listed.text
    assert first["apiKey"]["secret"] not in listed.text

    assert (await client.get("/api/developers/whoami", headers=_as_key(key["secret"]))
            ).status_code == 200
    revoked = await client.delete(f"/api/developers/keys/{key['id']}", headers=headers)
    assert revoked.status_code == 204
    again = await client.delete(f"/api/developers/keys/{key['id']}", headers=headers)
    assert again.status_code == 204  # idempotent

    refused = await client.get("/api/developers/whoami", headers=_as_key(key["secret"]))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    # The other key is untouched.
    ok = await client.get("/api/developers/whoami", headers=_as_key(first["apiKey"]["secret"]))
    assert ok.status_code == 200
    listed = (await client.get("/api/developers/keys", headers=headers)).json()["items"]
    assert next(k for k in listed if k["id"] == key["id"])["revokedAt"] is not None


async def test_another_developers_key_is_404_and_stays_valid(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, victim = await new_developer(client, make_user, "victim")
    attacker, _ = await new_developer(client, make_user, "attacker")
    response = await client.delete(f"/api/developers/keys/{victim['apiKey']['id']}",
                                   headers=attacker)
    assert response.status_code == 404
    who = await client.get("/api/developers/whoami", headers=_as_key(victim["apiKey"]["secret"]))
    assert who.status_code == 200


async def test_unknown_and_malformed_key_ids(client: httpx.AsyncClient, make_user: MakeUser
                                             ) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    unknown = await client.delete("/api/developers/keys/00000000-0000-4000-8000-000000000000",
                                  headers=headers)
    assert unknown.status_code == 404
    malformed = await client.delete("/api/developers/keys/not-a-uuid", headers=headers)
    assert malformed.status_code == 404
    assert malformed.headers["content-type"].startswith("application/problem+json")


async def test_keys_need_a_developer_profile(client: httpx.AsyncClient, make_user: MakeUser
                                            ) -> None:
    _, headers = await make_user(tier="free")
    assert (await _create(client, headers)).status_code == 404
    assert (await client.get("/api/developers/keys", headers=headers)).status_code == 404


async def test_an_api_key_cannot_manage_keys(client: httpx.AsyncClient, make_user: MakeUser
                                             ) -> None:
    _, body = await new_developer(client, make_user, "acme")
    key = _as_key(body["apiKey"]["secret"])
    assert (await _create(client, key)).status_code == 401
    assert (await client.get("/api/developers/keys", headers=key)).status_code == 401
    revoke = await client.delete(f"/api/developers/keys/{body['apiKey']['id']}", headers=key)
    assert revoke.status_code == 401
    signing = await client.post("/api/developers/signing-keys", headers=key,
                                json={"name": "x", "publicKey": "AAAA"})
    assert signing.status_code == 401


@pytest.mark.parametrize("path", ["/api/plugins", "/api/auth/me", "/api/files/"
                                  "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "/api/developers/me",
                                  "/api/admin/jobs"])
async def test_a_key_authenticates_nothing_but_developer_key_routes(
    client: httpx.AsyncClient, make_user: MakeUser, path: str
) -> None:
    _, body = await new_developer(client, make_user, "acme")
    response = await client.get(path, headers=_as_key(body["apiKey"]["secret"]))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_expired_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, body = await new_developer(client, make_user, "acme")
    async with session_scope(app.state.session_factory) as session:
        await session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.get("/api/developers/whoami",
                                headers=_as_key(body["apiKey"]["secret"]))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("ApiKey")


async def test_malformed_keys_are_refused_before_the_database(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, body = await new_developer(client, make_user, "acme")
    secret = body["apiKey"]["secret"]
    check = secret[-6:]
    flipped = secret[:-6] + ("0" if check[0] != "0" else "1") + check[1:]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sync_engine = app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        for bad in [flipped, secret[:-1], secret + "x", "ppxk_" + "A" * 43 + "_zzzzzz",
                    "Bearer " + secret, "", "x" * 5000]:
            response = await client.get("/api/developers/whoami", headers={"X-API-Key": bad})
            assert response.status_code == 401, bad
            assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert not [s for s in statements if "api_keys" in s]
    # A well-formed key that is simply unknown does reach the lookup, and is refused there.
    unknown = await client.get("/api/developers/whoami", headers=_as_key(new_key()))
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "unknown API key"


async def test_scopes_are_enforced(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    # A publish-scope route as the submission pipeline declares one.
    @app.get("/api/developers/_publish_probe")
    async def probe(
        who: Annotated[DeveloperPrincipal, Depends(require_api_key("publish"))],
    ) -> dict[str, str]:
        return {"namespace": who.namespace}

    headers, _body = await new_developer(client, make_user, "acme")
    read_only = (await _create(client, headers, scopes=["read"])).json()["secret"]
    publish_only = (await _create(client, headers, scopes=["publish"])).json()["secret"]
    denied = await client.get("/api/developers/_publish_probe", headers=_as_key(read_only))
    assert denied.status_code == 403
    assert "publish" in denied.json()["detail"]
    allowed = await client.get("/api/developers/_publish_probe", headers=_as_key(publish_only))
    assert allowed.status_code == 200
    assert allowed.json() == {"namespace": "acme"}
    # whoami needs read.
    assert (await client.get("/api/developers/whoami", headers=_as_key(publish_only))
            ).status_code == 403
    who = await client.get("/api/developers/whoami", headers=_as_key(read_only))
    assert who.json()["scopes"] == ["read"]
    assert who.json()["verified"] is False


async def test_only_the_digest_is_stored(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    secret = (await _create(client, headers)).json()["secret"]
    async with session_scope(app.state.session_factory) as session:
        rows = (await session.execute(select(ApiKey))).scalars().all()
    digests = {r.key_hash for r in rows}
    assert hashlib.sha256(secret.encode()).hexdigest() in digests
    for row in rows:
        for column in ApiKey.__table__.columns:
            value = getattr(row, column.key)
            assert secret not in str(value)
            assert secret[12:] not in str(value)


@pytest.mark.parametrize("body", [
    {"scopes": []}, {"scopes": ["admin"]}, {"scopes": ["read", "read"]},
    {"scopes": ["publish", "read", "read"]}, {"expiresInDays": 0}, {"expiresInDays": 366},
    {"expiresInDays": "90"}, {"expiresInDays": 1.5}, {"name": ""}, {"name": "x" * 101},
    {"name": None}, {"owner": "someone"},
])
async def test_bad_key_requests_are_422(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, body: dict
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    response = await _create(client, headers, **body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    async with session_scope(app.state.session_factory) as session:
        assert len((await session.execute(select(ApiKey))).scalars().all()) == 1


async def test_active_keys_are_capped(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    for _ in range(24):  # the first key counts
        assert (await _create(client, headers)).status_code == 201
    over = await _create(client, headers)
    assert over.status_code == 409
    first = (await client.get("/api/developers/keys?limit=1", headers=headers)).json()
    assert first["total"] == 25
    assert len(first["items"]) == 1
    await client.delete(f"/api/developers/keys/{first['items'][0]['id']}", headers=headers)
    assert (await _create(client, headers)).status_code == 201


def test_the_documented_example_key_is_not_a_valid_key() -> None:
    # The OpenAPI example has the key's shape but a wrong checksum: a checksum-aware secret
    # scanner must never report the documentation as a leak.
    from proofpix_plugins.developers.api_keys import KEY_PATTERN, well_formed
    from proofpix_plugins.developers.schemas import EXAMPLE_SECRET

    assert KEY_PATTERN.fullmatch(EXAMPLE_SECRET)
    assert not well_formed(EXAMPLE_SECRET)
