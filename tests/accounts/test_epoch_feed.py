"""PostgreSQL announces auth-epoch changes (migration 0015) and each API process follows them
(accounts/epoch_feed.py): cached epochs are trusted without Redis, and a change by anyone (the
CLI, another process, hand-written SQL on a connection of its own) stops the user's next write
once the notification arrives. Losing the listening connection makes the cache untrusted."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from proofpix_plugins.accounts.epoch_feed import PostgresEpochFeed
from tests.accounts.test_guards import _auth_reads, guarded  # noqa: F401 - the fixture
from tests.fixtures.app import MakeUser
from tests.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(postgres_db_url: str) -> str:
    return postgres_db_url


async def _psql(db_url: str, sql: str, *args: object) -> None:
    """Another client altogether (psql, the CLI): not this process's pool."""
    url = make_url(db_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database=url.database)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def _feed(app: FastAPI) -> PostgresEpochFeed:
    feed = app.state.auth_epoch_feed
    assert isinstance(feed, PostgresEpochFeed)
    return feed


async def test_without_redis_a_write_with_a_cached_epoch_reads_nothing(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient,  # noqa: F811
    make_user: MakeUser,
) -> None:
    assert app.state.settings.redis_url is None
    assert _feed(app).delivery_generation() is not None  # start-up waited for it
    user = await make_user(role="admin")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    statements, stop = _auth_reads(app)
    try:
        assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    finally:
        stop()
    assert not [s for s in statements if "FROM users" in s or "memberships" in s]


@pytest.mark.parametrize("change", [
    "UPDATE memberships SET role = 'member' WHERE user_id = $1",
    "UPDATE users SET is_active = false WHERE id = $1",
    "DELETE FROM memberships WHERE user_id = $1",
])
async def test_a_change_by_another_client_stops_the_next_write(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient,  # noqa: F811
    make_user: MakeUser, db_url: str, change: str,
) -> None:
    """Fails without the trigger: the cached epoch would stay trusted for the cache's ttl."""
    app.state.auth_epochs.ttl = 3600.0
    user = await make_user(role="admin")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    received = _feed(app).received
    await _psql(db_url, change, user.principal.user_id)
    await eventually(lambda: _feed(app).received > received, what="the notification arrived")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code in (401,
                                                                                          403)


async def test_a_lost_listening_connection_makes_the_cache_untrusted_until_it_is_back(
    guarded: FastAPI, app: FastAPI, client: httpx.AsyncClient,  # noqa: F811
    make_user: MakeUser, db_url: str,
) -> None:
    app.state.auth_epochs.ttl = 3600.0
    feed = _feed(app)
    first = feed.delivery_generation()
    user = await make_user(role="admin")
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 200
    # The feed's connection dies (a failover, an administrator) ...
    await _psql(db_url, "SELECT pg_terminate_backend($1)", feed.backend_pid)
    await eventually(lambda: feed.delivery_generation() != first, what="the feed noticed")
    # ... and a change made meanwhile (its notification lost) is seen all the same: nothing
    # cached before the loss is trusted after it.
    await _psql(db_url, "UPDATE memberships SET role = 'member' WHERE user_id = $1",
                user.principal.user_id)
    assert (await client.post("/test-guards/call", headers=user.headers)).status_code == 403
    await eventually(lambda: feed.delivery_generation() not in (None, first),
                     what="the feed listens again", seconds=15)
