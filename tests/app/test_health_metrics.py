"""GET /api/health and GET /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from proofpix_plugins import __version__
from tests.fixtures.app import StartApp, build_test_settings, client_for

UNREACHABLE_DB = "postgresql+asyncpg://nobody@127.0.0.1:9/none"


async def test_health_reports_database_version_and_sandbox(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "sandbox": {"level": "unknown"},
    }


async def test_health_reports_what_the_runtime_put_in_the_sandbox_report(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.sandbox_report = {"level": "full", "missing": []}

    response = await client.get("/api/health")

    assert response.json()["sandbox"] == {"level": "full", "missing": []}


async def test_health_is_503_when_the_database_is_unreachable(
    tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(UNREACHABLE_DB, tmp_path / "data")
    async with start_app(settings) as app, client_for(app) as client:
        response = await client.get("/api/health")

    assert response.status_code == 503
    assert response.json()["database"] == "error"
    assert response.json()["status"] == "degraded"


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/health")
    await client.get("/api/health")
    await client.get("/no/such/path/123")

    text = (await client.get("/metrics")).text

    assert 'proofpix_http_requests_total{method="GET",route="/api/health",status="200"} 2.0' in text
    assert 'route="<unmatched>",status="404"} 1.0' in text
    assert "/no/such/path/123" not in text


async def test_metrics_expose_a_latency_histogram(client: httpx.AsyncClient) -> None:
    await client.post("/api/auth/login", json={})

    text = (await client.get("/metrics")).text

    assert (
        'proofpix_http_request_duration_seconds_count{method="POST",route="/api/auth/login"} 1.0'
        in text
    )
    assert 'proofpix_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text


async def test_metrics_use_a_registry_per_app(
    client: httpx.AsyncClient, tmp_path: Path, sqlite_db_url: str, start_app: StartApp
) -> None:
    await client.get("/api/health")
    other_settings = build_test_settings(sqlite_db_url, tmp_path / "other")
    async with start_app(other_settings) as other, client_for(other) as other_client:
        text = (await other_client.get("/metrics")).text

    assert 'route="/api/health"' not in text
    assert (await client.get("/metrics")).headers["content-type"].startswith("text/plain")


async def test_health_is_503_degraded_when_redis_is_lost_and_limited_routes_say_when_to_retry(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url, tmp_path / "data", redis_url="redis://127.0.0.1:9/0"
    )
    async with start_app(settings) as app, client_for(app) as client:
        health = await client.get("/api/health")
        login = await client.post(
            "/api/auth/login", json={"email": "who@example.com", "password": "whatever-it-is"}
        )

    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert (health.json()["database"], health.json()["redis"]) == ("ok", "error")
    assert login.status_code == 503
    assert int(login.headers["retry-after"]) > 0


async def test_health_reports_a_reachable_redis(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp, redis_url: str
) -> None:
    settings = build_test_settings(sqlite_db_url, tmp_path / "data", redis_url=redis_url)
    async with start_app(settings) as app, client_for(app) as client:
        health = await client.get("/api/health")

    assert health.status_code == 200
    assert health.json()["redis"] == "ok"
