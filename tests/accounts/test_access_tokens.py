"""Access tokens: only valid, unexpired HS256 tokens signed with our key are accepted."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from proofpix_plugins.accounts.tokens import LEEWAY_SECONDS, AccessTokens
from proofpix_plugins.errors import Unauthorized
from tests.fixtures.app import MakeUser

SECRET = "s" * 64  # long enough for HS512 too, so only the algorithm differs


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "role": "admin",
        "tier": "enterprise",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def test_a_freshly_issued_token_decodes_to_its_claims() -> None:
    tokens = AccessTokens(SECRET, 900)
    user, org = uuid.uuid4(), uuid.uuid4()

    claims = tokens.decode(
        tokens.issue(
            user_id=user,
            org_id=org,
            role="member",
            tier="pro",
            is_platform_admin=True,
            email="a@b.co",
        )
    )

    assert (claims.user_id, claims.org_id, claims.role, claims.tier) == (user, org, "member", "pro")
    assert claims.is_platform_admin is True
    assert claims.expires_at - claims.issued_at == timedelta(seconds=900)


def test_an_expired_token_is_refused() -> None:
    tokens = AccessTokens(SECRET, 900)
    token = tokens.issue(
        user_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        role="admin",
        tier="free",
        is_platform_admin=False,
        email="a@b.co",
        now=datetime.now(UTC) - timedelta(minutes=16),
    )

    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token)


def test_a_token_verified_before_is_still_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = AccessTokens(SECRET, 60)
    token = tokens.issue(user_id=uuid.uuid4(), org_id=uuid.uuid4(), role="admin", tier="free",
                         is_platform_admin=False, email="a@b.co", epoch=3)
    first = tokens.decode(token)
    assert tokens.decode(token) is first  # remembered, not verified again
    assert first.epoch == 3

    later = time.time() + 60 + LEEWAY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)

    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = jwt.encode(_claims(), "another key that is long enough to be real", algorithm="HS256")

    with pytest.raises(Unauthorized, match="invalid"):
        AccessTokens(SECRET, 900).decode(token)


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = jwt.encode(_claims(role="member"), SECRET, algorithm="HS256").split(".")
    forged_payload = _b64(json.dumps(_claims(role="owner")).encode())

    with pytest.raises(Unauthorized):
        AccessTokens(SECRET, 900).decode(f"{header}.{forged_payload}.{signature}")


def test_an_alg_none_token_is_refused() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())

    with pytest.raises(Unauthorized):
        AccessTokens(SECRET, 900).decode(f"{header}.{payload}.")


def test_another_hmac_algorithm_with_the_right_key_is_refused() -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")

    with pytest.raises(Unauthorized):
        AccessTokens(SECRET, 900).decode(token)


@pytest.mark.parametrize("missing", ["sub", "org", "role", "tier", "exp", "iat", "jti"])
def test_a_token_missing_a_required_claim_is_refused(missing: str) -> None:
    claims = _claims()
    del claims[missing]

    with pytest.raises(Unauthorized):
        AccessTokens(SECRET, 900).decode(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_token_with_a_malformed_subject_is_refused() -> None:
    token = jwt.encode(_claims(sub="not-a-uuid"), SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized, match="malformed"):
        AccessTokens(SECRET, 900).decode(token)


async def test_the_api_answers_401_problem_for_a_bad_token(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    secret = app.state.settings.jwt_secret.get_secret_value()
    expired = jwt.encode(
        _claims(
            sub=str(user.principal.user_id),
            org=str(user.principal.org_id),
            iat=int((datetime.now(UTC) - timedelta(hours=1)).timestamp()),
            exp=int((datetime.now(UTC) - timedelta(minutes=30)).timestamp()),
        ),
        secret,
        algorithm="HS256",
    )

    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["detail"] == "the access token has expired"


async def test_the_api_answers_401_without_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_api_accepts_its_own_access_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="pro", role="member")

    response = await client.get("/api/auth/me", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["organization"] == {
        "id": str(user.principal.org_id),
        "name": response.json()["organization"]["name"],
        "slug": user.org_slug,
        "tier": "pro",
        "role": "member",
    }
