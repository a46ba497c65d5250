"""Security headers on every response, request ids, CORS limited to configured origins."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import proofpix_plugins
from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, client_for


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/health"), ("GET", "/nowhere"), ("POST", "/api/auth/login"), ("GET", "/metrics")],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={})

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_only_same_origin_assets_under_a_self_only_csp(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp
    assert "unsafe-eval" not in csp
    urls = re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', response.text)
    assert urls, response.text
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "<script>" not in response.text  # no inline script: the CSP would refuse it
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url


def test_the_vendored_assets_carry_their_licences() -> None:
    vendor = Path(proofpix_plugins.__file__).parent / "web" / "static" / "vendor"
    releases = sorted(p.name for p in vendor.iterdir())

    assert releases == ["axe-core-4.14.1", "htmx.org-2.0.11", "pico-2.1.1", "redoc-2.5.2",
                        "swagger-ui-dist-5.35.0", "uplot-1.6.32"]
    for release in releases:
        assert (vendor / release / "LICENSE").is_file()


async def test_openapi_document_lists_the_auth_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
    } <= set(paths)


async def test_a_safe_request_id_is_echoed_back(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health", headers={"X-Request-ID": "trace-42.abc:1"})

    assert response.headers["x-request-id"] == "trace-42.abc:1"


@pytest.mark.parametrize("unsafe", ["a" * 65, "has space", 'quote"d', "new\\nline", "ünïcode", ""])
async def test_an_unsafe_request_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, unsafe: str
) -> None:
    response = await client.get("/api/health", headers=[(b"X-Request-ID", unsafe.encode())])

    echoed = response.headers["x-request-id"]
    assert echoed != unsafe
    assert len(echoed) == 32
    int(echoed, 16)


async def test_a_request_id_is_generated_when_absent_and_differs_per_request(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/api/health")).headers["x-request-id"]
    second = (await client.get("/api/health")).headers["x-request-id"]

    assert first != second


async def test_cors_answers_only_the_configured_origins(
    settings: Settings, start_app: StartApp
) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://app.proofpix.dev"]})
    preflight = {"Access-Control-Request-Method": "POST"}
    async with start_app(configured) as app, client_for(app) as client:
        allowed = await client.options(
            "/api/auth/login", headers={"Origin": "https://app.proofpix.dev", **preflight}
        )
        refused = await client.options(
            "/api/auth/login", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await client.get("/api/health", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == "https://app.proofpix.dev"
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_without_configured_origins_no_cors_headers_are_sent(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/health", headers={"Origin": "https://app.proofpix.dev"})

    assert "access-control-allow-origin" not in response.headers


async def test_auth_routes_document_their_422_as_problem_json(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path in ("/api/auth/register", "/api/auth/login", "/api/auth/refresh",
                 "/api/auth/logout"):
        content = paths[path]["post"]["responses"]["422"]["content"]
        assert "application/problem+json" in content, path
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/ProblemDetails")
        assert "HTTPValidationError" not in str(content), path
