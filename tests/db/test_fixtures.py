"""The shared fixtures hand out what they promise."""

from __future__ import annotations

import redis


def test_redis_url_points_at_a_server_that_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_db_url_is_an_async_driver_url(db_url: str) -> None:
    assert db_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://"))
