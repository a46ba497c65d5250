"""The developer portal: register a namespace (rule errors by field), API keys (the secret
shown once, list, revoke); signed-in users only; CSRF on every write."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from proofpix_plugins.db import session_scope
from proofpix_plugins.developers.api_keys import key_digest
from proofpix_plugins.models.marketplace import ApiKey
from tests.fixtures.app import TestUser, create_test_user
from tests.web.conftest import browser_client
from tests.web.console_client import scripts_of, sign_in

_SECRET = re.compile(r'id="new-secret" type="text" readonly value="([^"]+)"')


async def test_register_shows_rule_errors_by_field_then_the_first_key_once(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser,
) -> None:
    assert (await web.get("/console/developer")).status_code == 303  # sign in first
    csrf = await sign_in(web, admin_user.email)
    page = await web.get("/console/developer")
    assert page.status_code == 200
    assert 'for="namespace"' in page.text
    found = scripts_of(page.text)
    assert (found.inline, found.handlers) == (0, [])
    assert (await web.post("/console/developer/register", data={
        "namespace": "acme", "display_name": "Acme"})).status_code == 403
    reserved = await web.post("/console/developer/register", data={
        "csrf_token": csrf, "namespace": "admin", "display_name": "Admin"})
    assert reserved.status_code == 422
    assert 'id="namespace-error"' in reserved.text
    assert 'aria-invalid="true" aria-describedby="namespace-error"' in reserved.text
    bad = await web.post("/console/developer/register", data={
        "csrf_token": csrf, "namespace": "<script>x", "display_name": "X"})
    assert bad.status_code == 422
    assert "<script>x" not in bad.text
    done = await web.post("/console/developer/register", data={
        "csrf_token": csrf, "namespace": "acmetools", "display_name": "Acme Tools"})
    assert done.status_code == 201, done.text
    assert done.headers["cache-control"] == "no-store"
    match = _SECRET.search(done.text)
    assert match
    secret = match.group(1)
    async with session_scope(console_app.state.session_factory) as session:
        stored = (await session.execute(select(ApiKey.key_hash))).scalars().all()
    assert key_digest(secret) in stored
    again = await web.get("/console/developer")
    assert secret not in again.text
    assert "acmetools" in again.text


async def test_keys_create_list_revoke(
    console_app: FastAPI, web: httpx.AsyncClient, admin_user: TestUser,
) -> None:
    csrf = await sign_in(web, admin_user.email)
    await web.post("/console/developer/register", data={
        "csrf_token": csrf, "namespace": "keysmith", "display_name": "Keysmith"})
    created = await web.post("/console/developer/keys", data={
        "csrf_token": csrf, "name": "ci-key", "scope": ["read"], "days": "30"})
    assert created.status_code == 201
    assert _SECRET.search(created.text)
    assert "ci-key" in created.text
    invalid = await web.post("/console/developer/keys", data={
        "csrf_token": csrf, "name": "x", "days": "999"})
    assert invalid.status_code == 422
    assert 'id="days-error"' in invalid.text
    async with session_scope(console_app.state.session_factory) as session:
        key_id = (await session.execute(select(ApiKey.id).where(ApiKey.name == "ci-key"))
                  ).scalar_one()
    path = f"/console/developer/keys/{key_id}/revoke"
    assert (await web.post(path)).status_code == 403
    assert (await web.post(path, data={"csrf_token": csrf})).status_code == 303
    async with session_scope(console_app.state.session_factory) as session:
        revoked = (await session.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id))
                   ).scalar_one()
    assert revoked is not None
    assert (await web.post("/console/developer/keys/not-a-uuid/revoke",
                           data={"csrf_token": csrf})).status_code == 404
    other = await create_test_user(console_app, tier="free", role="member")
    async with browser_client(console_app) as client:
        other_csrf = await sign_in(client, other.email)
        assert 'href="/console/developer"' in (await client.get("/")).text
        refused = await client.post(path, data={"csrf_token": other_csrf})
        assert refused.status_code == 404  # no profile: nothing of anyone else's is revealed
