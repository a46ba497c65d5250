"""Redis configured, then gone mid-run, then back (issue #17; docs/reliability.md).

The test runs a redis-server of its own on a free port (never the shared one on 6379) and
kills only that process. While it is down: what needs the shared rate-limit budget answers a
503 problem naming the storage (closed, not unlimited), health reports Redis as down, and no
request is a 500. Once it is back, the same requests succeed without a restart of the app.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import limits
import pytest

from proofpix_plugins.kit.rate_limit import lease_size
from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="needs redis-server to run a Redis of its own")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _redis(port: int, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def _request(client: httpx.AsyncClient, headers: dict[str, str],
                   index: int) -> httpx.Response:
    """A read (``default`` class), a failed login (``auth``), health (not limited)."""
    if index == 0:
        return await client.get("/api/auth/me", headers=headers)
    if index == 1:
        return await client.post("/api/auth/login",
                                 json={"email": "who@example.com", "password": "whatever-it-is"})
    return await client.get("/api/health")


async def _requests(client: httpx.AsyncClient, headers: dict[str, str]) -> list[httpx.Response]:
    return [await _request(client, headers, index) for index in range(3)]


async def test_redis_down_mid_run_fails_closed_with_503_and_recovers(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp,
) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings = build_test_settings(sqlite_db_url, tmp_path / "data", redis_url=url)
    with _redis(port, tmp_path) as first:
        await eventually(lambda: _up(port), what="our redis-server answers")
        async with start_app(settings) as app, client_for(app) as client:
            user = await create_test_user(app)
            healthy = await _requests(client, user.headers)
            # A read, a failed login (counted in Redis), health.
            assert [r.status_code for r in healthy] == [200, 401, 200]

            first.kill()
            first.wait(timeout=10)
            # Reads count ahead (kit/rate_limit.py): the hits this process counted in Redis
            # before it went away are still served, at most one lease of them; not one more.
            for index, route_class, expected in ((0, "default", 200), (1, "auth", 401)):
                budget = limits.parse(getattr(settings, f"rate_limit_{route_class}")).amount
                for _ in range(lease_size(budget) - 1):  # the first was used above
                    one = await _request(client, user.headers, index)
                    assert one.status_code == expected, one.text
            down = await _requests(client, user.headers)
            for response in down:
                assert response.status_code != 500, response.text
            for response in down[:2]:  # both take from a shared budget
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert "rate-limit storage unavailable" in response.json()["detail"]
            # Health answers from a probe up to a second old (kit/health.py), then reports it.
            assert down[2].status_code in (200, 503)

            async def health_says_redis_is_down() -> bool:
                health = await client.get("/api/health")
                assert health.status_code != 500
                return health.status_code == 503 and "redis" in health.text.lower()

            await eventually(health_says_redis_is_down, what="health reports Redis down")

            with _redis(port, tmp_path):
                await eventually(lambda: _up(port), what="our redis-server is back")

                async def recovered() -> bool:
                    again = await _requests(client, user.headers)
                    return [r.status_code for r in again] == [200, 401, 200]

                await eventually(recovered, what="every request succeeds again", seconds=20)
