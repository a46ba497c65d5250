"""The request edge: values no database can store are refused before any handler runs.

NaN, Infinity and numbers that overflow to infinity are stored by SQLite as non-standard JSON
and refused by PostgreSQL's JSONB; NUL is refused by PostgreSQL text. Every case is a 422 (404
for a path) problem naming the field and the rule, the same on both databases.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from tests.fixtures.app import MakeUser

PROBLEM = "application/problem+json"


class Anything(BaseModel):
    model_config = {"extra": "allow"}


@pytest.fixture
def reached(app: FastAPI) -> list[object]:
    calls: list[object] = []
    router = APIRouter(prefix="/test-edge")

    @router.post("/echo")
    async def echo(body: Anything) -> dict[str, str]:
        calls.append(body)
        return {"ok": "yes"}

    app.include_router(router)
    return calls


def rules(response: httpx.Response) -> set[tuple[str, str]]:
    assert response.headers["content-type"] == PROBLEM
    return {(e["field"], e["rule"]) for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"a": NaN}', "a"),
        (b'{"a": Infinity}', "a"),
        (b'{"a": {"b": [1, -Infinity]}}', "a.b.1"),
        (b'{"a": 1e400}', "a"),
        (b'{"a": [-1e400]}', "a.0"),
        (b"NaN", "body"),
    ],
)
async def test_non_finite_numbers_are_refused_naming_the_field(
    client: httpx.AsyncClient, reached: list[object], raw: bytes, field: str
) -> None:
    response = await client.post(
        "/test-edge/echo", content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert rules(response) == {(field, "finite-number")}
    assert reached == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"deep": [{"x": "\x00"}]}, "deep.0.x"),
        ({"ke\x00y": 1}, "ke\\u0000y"),
    ],
)
async def test_nul_in_a_json_string_is_refused_naming_the_field(
    client: httpx.AsyncClient, reached: list[object], body: dict[str, object], field: str
) -> None:
    response = await client.post("/test-edge/echo", json=body)

    assert response.status_code == 422
    assert rules(response) == {(field, "no-nul")}
    assert reached == []


async def test_a_body_without_content_type_is_checked_as_fastapi_parses_it_as_json(
    client: httpx.AsyncClient, reached: list[object]
) -> None:
    response = await client.post("/test-edge/echo", content=b'{"a": NaN}')

    assert response.status_code == 422
    assert reached == []


async def test_finite_numbers_and_ordinary_strings_pass(
    client: httpx.AsyncClient, reached: list[object]
) -> None:
    response = await client.post("/test-edge/echo", json={"a": 1.5e300, "b": "\u202e ok"})

    assert response.status_code == 200
    assert len(reached) == 1


async def test_invalid_utf8_json_is_a_422_like_any_unparsable_body(
    client: httpx.AsyncClient, reached: list[object]
) -> None:
    response = await client.post(
        "/test-edge/echo", content=b"\xff", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert rules(response) == {("body", "json_invalid")}


async def test_login_with_nul_is_a_422_without_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", json={"email": "demo\x00@proofpix.dev", "password": "x"}
    )

    assert response.status_code == 422
    assert rules(response) == {("email", "no-nul")}


async def test_register_with_nul_in_the_name_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "n@example.com", "password": "Good-pass-123!", "name": "a\x00b"},
    )

    assert response.status_code == 422
    assert rules(response) == {("name", "no-nul")}


async def test_nul_in_a_path_parameter_is_a_404_problem(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise")

    response = await client.get("/api/plugins/a%00b", headers=user.headers)

    assert response.status_code == 404
    assert rules(response) == {("path", "no-nul")}


async def test_nul_in_a_query_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise")

    response = await client.get("/api/plugins?q=a%00b", headers=user.headers)

    assert response.status_code == 422
    assert rules(response) == {("query.q", "no-nul")}


async def test_a_server_signed_token_with_an_absurd_expiry_is_a_401(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    secret = app.state.settings.jwt_secret.get_secret_value()
    token = jwt.encode(
        {"sub": str(uuid.uuid4()), "org": str(uuid.uuid4()), "role": "admin",
         "tier": "enterprise", "iat": int(datetime.now(UTC).timestamp()), "exp": 1e20,
         "jti": "x"},
        secret, algorithm="HS256",
    )

    response = await client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 401
