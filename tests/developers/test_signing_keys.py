"""Developer signing keys: PEM or raw base64 in, fingerprints out, every change in the log."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.marketplace import publog
from proofpix_plugins.marketplace.signing_keys import active_signing_keys
from proofpix_plugins.models.marketplace import Developer, DeveloperSigningKey, LogAction
from proofpix_plugins.packages.signing import generate_keypair, public_key_fingerprint
from tests.developers.helpers import new_developer
from tests.fixtures.app import MakeUser

PATH = "/api/developers/signing-keys"


def _raw_b64(public_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


async def _log(app: FastAPI) -> list[dict]:
    async with session_scope(app.state.session_factory) as session:
        return [publog.served(e) for e in await publog.entries(session)]


async def test_add_list_revoke_with_log_entries(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    _, pem = generate_keypair()
    _, other_pem = generate_keypair()
    added = await client.post(PATH, headers=headers,
                              json={"name": "laptop", "publicKey": pem.decode()})
    assert added.status_code == 201, added.text
    key = added.json()
    assert key["fingerprint"] == public_key_fingerprint(pem)
    assert key["publicKey"] == _raw_b64(pem)
    raw = await client.post(PATH, headers=headers,
                            json={"name": "ci", "publicKey": _raw_b64(other_pem)})
    assert raw.status_code == 201, raw.text
    assert raw.json()["fingerprint"] == public_key_fingerprint(other_pem)

    listed = (await client.get(PATH, headers=headers)).json()
    assert listed["total"] == 2
    assert {k["name"] for k in listed["items"]} == {"laptop", "ci"}

    async with session_scope(app.state.session_factory) as session:
        developer = (await session.execute(select(Developer))).scalar_one()
        active = await active_signing_keys(session, developer.id)
    assert [fp for fp, _ in active] == [key["fingerprint"], raw.json()["fingerprint"]]

    assert (await client.delete(f"{PATH}/{key['id']}", headers=headers)).status_code == 204
    assert (await client.delete(f"{PATH}/{key['id']}", headers=headers)).status_code == 204
    async with session_scope(app.state.session_factory) as session:
        active = await active_signing_keys(session, developer.id)
    assert [fp for fp, _ in active] == [raw.json()["fingerprint"]]

    log = await _log(app)
    assert [(e["action"], e["detail"]) for e in log] == [
        (LogAction.signing_key_added.value,
         {"namespace": "acme", "fingerprint": key["fingerprint"]}),
        (LogAction.signing_key_added.value,
         {"namespace": "acme", "fingerprint": raw.json()["fingerprint"]}),
        # Revoked twice, logged once.
        (LogAction.signing_key_revoked.value,
         {"namespace": "acme", "fingerprint": key["fingerprint"]}),
    ]


async def test_the_returned_key_verifies_signatures(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    await client.post(PATH, headers=headers, json={"name": "k", "publicKey": pem.decode()})
    async with session_scope(app.state.session_factory) as session:
        developer = (await session.execute(select(Developer))).scalar_one()
        [(_, key)] = await active_signing_keys(session, developer.id)
    key.verify(private.sign(b"message"), b"message")  # raises if it were another key


def _ec_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _private_pem() -> str:
    return generate_keypair()[0].decode()


@pytest.mark.parametrize(("public_key", "rule"), [
    ("not a key", "signing_key_malformed"),
    ("AAAA", "signing_key_malformed"),                                   # 3 bytes
    (base64.b64encode(b"x" * 31).decode(), "signing_key_malformed"),
    (base64.b64encode(b"x" * 33).decode(), "signing_key_malformed"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "signing_key_malformed"),
    ("\u00e9" * 44, "signing_key_malformed"),
    ("ec", "signing_key_not_ed25519"),
    ("private", "signing_key_is_private"),
])
async def test_bad_keys_are_422_naming_the_rule(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser, public_key: str, rule: str
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    text = {"ec": _ec_pem, "private": _private_pem}.get(public_key, lambda: public_key)()
    response = await client.post(PATH, headers=headers, json={"name": "k", "publicKey": text})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "publicKey"
    assert error["rule"] == rule
    assert await _log(app) == []
    async with session_scope(app.state.session_factory) as session:
        assert (await session.execute(select(DeveloperSigningKey))).scalars().all() == []


async def test_duplicates_revoked_and_foreign_keys_are_409(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    other, _ = await new_developer(client, make_user, "other")
    _, pem = generate_keypair()
    first = await client.post(PATH, headers=headers, json={"name": "a", "publicKey": pem.decode()})
    assert first.status_code == 201

    async def rule_of(h: dict[str, str], text: str) -> str:
        response = await client.post(PATH, headers=h, json={"name": "b", "publicKey": text})
        assert response.status_code == 409, response.text
        return str(response.json()["errors"][0]["rule"])

    # The same key as raw base64 is the same key.
    assert await rule_of(headers, _raw_b64(pem)) == "signing_key_duplicate"
    assert await rule_of(other, pem.decode()) == "signing_key_other_developer"
    await client.delete(f"{PATH}/{first.json()['id']}", headers=headers)
    assert await rule_of(headers, pem.decode()) == "signing_key_revoked"
    assert len(await _log(app)) == 2


async def test_another_developers_signing_key_cannot_be_revoked(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, _ = await new_developer(client, make_user, "acme")
    attacker, _ = await new_developer(client, make_user, "mallory")
    _, pem = generate_keypair()
    key = (await client.post(PATH, headers=headers,
                             json={"name": "a", "publicKey": pem.decode()})).json()
    assert (await client.delete(f"{PATH}/{key['id']}", headers=attacker)).status_code == 404
    assert (await client.get(PATH, headers=attacker)).json()["total"] == 0
    async with session_scope(app.state.session_factory) as session:
        row = (await session.execute(select(DeveloperSigningKey))).scalar_one()
    assert row.revoked_at is None


async def test_signing_keys_need_a_profile_and_a_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user(tier="free")
    _, pem = generate_keypair()
    body = {"name": "a", "publicKey": pem.decode()}
    assert (await client.post(PATH, headers=headers, json=body)).status_code == 404
    assert (await client.post(PATH, json=body)).status_code == 401
    assert (await client.get(PATH)).status_code == 401
