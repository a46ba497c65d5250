"""Every error class reaches the client as RFC 9457 problem+json, never as a stack trace."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from proofpix_plugins.errors import Conflict, FieldError, Forbidden, ValidationFailed
from proofpix_plugins.kit.schemas import CamelModel
from tests.fixtures.app import MakeUser

PROBLEM = "application/problem+json"


class Inner(CamelModel):
    max_bytes: int = Field(ge=1)


class Outer(CamelModel):
    plugin_id: str
    limits: Inner
    tags: list[str] = []


class Plain(BaseModel):
    n: int


def failing_router() -> APIRouter:
    router = APIRouter(prefix="/test-problems")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    @router.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden(detail="not for you")

    @router.get("/conflict")
    async def conflict() -> None:
        raise Conflict(
            detail="already installed",
            errors=(FieldError("pluginId", "is installed", "unique"),),
            extensions={"installedVersion": "1.2.0", "status": 999},
        )

    @router.get("/domain-validation")
    async def domain_validation() -> None:
        raise ValidationFailed(
            detail="bad manifest", errors=(FieldError("manifest.version", "not semver", "semver"),)
        )

    @router.post("/body")
    async def body(payload: Outer) -> dict[str, str]:
        return {"pluginId": payload.plugin_id}

    @router.get("/query")
    async def query(limit: int) -> dict[str, int]:
        return {"limit": limit}

    return router


@pytest.fixture
def failing(app: FastAPI) -> FastAPI:
    app.include_router(failing_router())
    return app


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("https://proofpix.dev/problems/")
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["instance"] == response.request.url.path
    assert isinstance(body["errors"], list)
    assert body["requestId"] == response.headers["x-request-id"]
    return body


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/nothing-here"), 404)

    assert body["type"] == "https://proofpix.dev/problems/not-found"


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/health")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_a_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise")

    response = await client.put("/api/plugins/acme.example", headers=user.headers)

    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET"


async def test_body_validation_names_each_field_in_camel_case_dotted_form(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/test-problems/body", json={"limits": {"maxBytes": 0}, "tags": ["ok", 3]}
    )

    body = assert_problem(response, 422)
    errors = {(e["field"], e["rule"]) for e in body["errors"]}  # type: ignore[attr-defined]
    assert errors == {
        ("pluginId", "missing"),
        ("limits.maxBytes", "greater_than_equal"),
        ("tags.1", "string_type"),
    }


async def test_query_validation_keeps_the_query_location(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    body = assert_problem(await client.get("/test-problems/query?limit=many"), 422)

    assert body["errors"] == [
        {"field": "query.limit", "message": body["errors"][0]["message"], "rule": "int_parsing"}  # type: ignore[index]
    ]


async def test_missing_credentials_are_a_401_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/auth/me"), 401)


async def test_a_forbidden_domain_error_is_a_403_problem(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    body = assert_problem(await client.get("/test-problems/forbidden"), 403)

    assert body["detail"] == "not for you"


async def test_a_conflict_carries_its_field_errors_and_extensions(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    body = assert_problem(await client.get("/test-problems/conflict"), 409)

    assert body["errors"] == [{"field": "pluginId", "message": "is installed", "rule": "unique"}]
    assert body["installedVersion"] == "1.2.0"
    # An extension never overrides a standard member.
    assert body["status"] == 409


async def test_domain_validation_uses_the_same_problem_type_as_request_validation(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    domain = assert_problem(await client.get("/test-problems/domain-validation"), 422)
    request = assert_problem(await client.post("/test-problems/body", json={}), 422)

    assert domain["type"] == request["type"] == "https://proofpix.dev/problems/validation"


async def test_an_unexpected_error_is_a_generic_500_without_details(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await client.get("/test-problems/boom")

    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    [logged] = [entry for entry in logs if entry["event"] == "unhandled_error"]
    assert logged["request_id"] == body["requestId"]
    assert logged["log_level"] == "error"


async def test_an_unexpected_error_still_gets_security_headers(
    failing: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/test-problems/boom")

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
