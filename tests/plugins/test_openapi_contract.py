"""The server answers what the OpenAPI document says: the defects Schemathesis found, each pinned.

- A path segment that cannot be a plugin id, hook name or file id reaches no route: ``/install``
  is not ``/{plugin_id}``, so a 405 there allows POST only (Schemathesis ST205).
- A broken multipart body is a documented 400 (ST103).
- Every problem status is documented as problem+json only, never as FastAPI's JSON 422.
- The hook call's options and the install's metadata part are typed in the document.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from proofpix_plugins.app import create_app
from proofpix_plugins.kit.openapi import derived_statuses
from proofpix_plugins.kit.routes import all_routes
from tests.fixtures.app import MakeUser, TestUser

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def spec() -> dict:
    return create_app().openapi()


def test_path_patterns_are_in_the_document(spec: dict) -> None:
    def pattern(path: str, method: str, name: str) -> str:
        [param] = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
        return str(param["schema"]["pattern"])

    assert pattern("/api/plugins/{plugin_id}", "get", "plugin_id").startswith("^([a-z0-9]")
    assert pattern("/api/plugins/hooks/{hook_name}", "post", "hook_name").startswith("^[a-z]")
    assert pattern("/api/files/{file_id}", "get", "file_id").startswith("^[0-9a-fA-F]{8}")


@pytest.mark.parametrize("method", ["OPTIONS", "GET", "DELETE"])
async def test_a_literal_segment_is_not_a_plugin_id(
    client: httpx.AsyncClient, make_user: MakeUser, method: str
) -> None:
    user = await make_user(tier="enterprise")

    response = await client.request(method, "/api/plugins/install", headers=user.headers)

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", [
    "/api/plugins/Not_An_Id", "/api/plugins/nodot", "/api/plugins/a%00b.cd/config",
    "/api/plugins/acme.counter%0A", "/api/files/not-a-uuid", "/api/plugins/hooks/NoColon",
])
async def test_a_malformed_id_is_a_404_before_any_guard(
    client: httpx.AsyncClient, path: str
) -> None:
    # No token at all: the route is never reached, so not even its auth guard runs.
    response = await client.get(path)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_a_405_on_an_id_path_still_lists_every_method(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(tier="enterprise")

    response = await client.patch("/api/plugins/acme.counter/config", headers=user.headers)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"


async def test_a_broken_multipart_upload_is_a_documented_400(
    api: httpx.AsyncClient, admin: TestUser, platform: FastAPI
) -> None:
    spec = platform.openapi()
    for path in ("/api/files", "/api/plugins/install"):
        response = await api.post(
            path, headers={**admin.headers, "content-type": "multipart/form-data; boundary=B"},
            content=b"--B\r\nNone--B--\r\n",
        )

        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert "400" in spec["paths"][path]["post"]["responses"]


def test_statuses_come_from_each_routes_guards(spec: dict) -> None:
    app = create_app()
    by_route = {
        (method, str(ctx.path_format)): derived_statuses(ctx.original_route)
        for ctx in all_routes(app) if isinstance(ctx.original_route, APIRoute)
        for method in ctx.methods or ()
    }
    # Anonymous credential routes: no 401 from a guard (login's own 401 is listed by hand).
    assert 401 not in by_route["POST", "/api/auth/register"]
    assert 403 not in by_route["GET", "/api/files/{file_id}"]  # no tier or role guard
    assert {401, 403} <= by_route["GET", "/api/plugins"]
    # Only rate-limited routes answer 429 (and 503 when the shared limit store is down).
    assert {429, 503} <= by_route["POST", "/api/plugins/install"]
    assert 429 not in by_route["GET", "/api/health"]
    # An upload route answers what its multipart parser can: 400, 413, 415.
    assert {400, 413, 415} <= by_route["POST", "/api/files"]
    assert 413 not in by_route["GET", "/api/files/{file_id}"]
    assert 415 not in spec["paths"]["/api/files/{file_id}"]["get"]["responses"]


def test_every_error_is_documented_as_problem_json_only(spec: dict) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if code[0] == "4":
                    assert set(response["content"]) == {PROBLEM}, (method, path, code)
    retry = spec["paths"]["/api/plugins/install"]["post"]["responses"]["429"]["headers"]
    assert retry["Retry-After"]["required"] is True


def test_hook_options_are_typed(spec: dict) -> None:
    options = spec["components"]["schemas"]["HookOptionsIn"]["properties"]

    assert set(options) == {"timeout", "mode", "stopOnError"}
    assert options["mode"]["enum"] == ["parallel", "sequential", "waterfall"]


async def test_hook_options_keep_their_strict_types(
    api: httpx.AsyncClient, admin: TestUser
) -> None:
    for options, field in (({"stopOnError": 1}, "options.stopOnError"),
                           ({"timeout": "5"}, "options.timeout"),
                           ({"mode": "random"}, "options.mode"),
                           ({"retries": 2}, "options.retries")):
        response = await api.post("/api/plugins/hooks/custom:x", headers=admin.headers,
                                     json={"data": {}, "options": options})

        assert response.status_code == 422, (options, response.text)
        assert response.json()["errors"][0]["field"] == field
