"""PostgreSQL drops the server's connection in the middle of a request (``pg_terminate_backend``:
a failover, an administrator, an idle-session reaper): that request answers a 503 problem, not
a 500, and the next one succeeds on a fresh connection (issue #17; docs/reliability.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user
from tests.waiting import eventually

pytestmark = pytest.mark.postgres


async def test_a_terminated_connection_mid_request_is_a_503_and_the_next_request_succeeds(
    postgres_db_url: str, tmp_path: Path, start_app: StartApp,
) -> None:
    url = make_url(postgres_db_url)
    settings = build_test_settings(postgres_db_url, tmp_path / "data")
    admin = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                  database=url.database)
    try:
        async with start_app(settings) as app, client_for(app) as client:
            user = await create_test_user(app)
            login = {"email": user.email, "password": user.password}
            assert (await client.post("/api/auth/login", json=login)).status_code == 200
            # Hold the users table so that the next login's read waits inside the server...
            locker = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                           user=url.username, database=url.database)
            tx = locker.transaction()
            await tx.start()
            await locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            in_flight = asyncio.create_task(client.post("/api/auth/login", json=login))
            mine = {admin.get_server_pid(), locker.get_server_pid()}

            async def waiting_backends() -> list[int]:
                rows = await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type "
                    "= 'Lock'", url.database)
                return [r["pid"] for r in rows if r["pid"] not in mine]

            await eventually(waiting_backends, what="the login's read waits for the lock")
            # ... then drop every connection of the server's: the one in flight included.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
                "AND pid <> ALL($2::int[])", url.database, list(mine))
            response = await asyncio.wait_for(in_flight, 30)
            await tx.rollback()
            await locker.close()
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "database" in response.json()["detail"].lower()
            # The pool noticed: the next request runs on a new connection.
            again = await client.post("/api/auth/login", json=login)
            assert again.status_code == 200, again.text
            assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    finally:
        await admin.close()
