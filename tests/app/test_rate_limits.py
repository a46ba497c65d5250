"""Rate limits per route class: RateLimit-* headers, 429 with Retry-After, keys, storages."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import limits
import pytest
from fastapi import Depends

from proofpix_plugins.config import Settings
from proofpix_plugins.kit.rate_limit import (
    MAX_LEASE,
    MemoryWindows,
    RedisWindows,
    lease_size,
    rate_limit,
)
from tests.fixtures.app import StartApp, build_test_settings, client_for, create_test_user


def random_ip() -> str:
    # A fresh client address per test: Redis is shared between tests and runs.
    b = uuid.uuid4().bytes
    return f"10.{b[0]}.{b[1]}.{max(1, b[2])}"


async def login_attempt(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": "who@example.com", "password": "whatever-it-is"}
    )


@pytest.fixture
def tight(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"rate_limit_auth": "3/minute", "rate_limit_default": "3/minute"}
    )


async def test_limited_responses_carry_ratelimit_headers(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        first = await login_attempt(client)
        second = await login_attempt(client)

    assert first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-remaining"] == "2"
    assert second.headers["ratelimit-remaining"] == "1"
    assert 0 < int(first.headers["ratelimit-reset"]) <= 60


async def test_going_over_the_limit_is_a_429_problem_with_retry_after(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        for _ in range(3):
            await login_attempt(client)
        refused = await login_attempt(client)

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://proofpix.dev/problems/rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"


async def test_a_429_names_the_setting_that_raises_the_limit(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        for _ in range(3):
            await login_attempt(client)
        refused = await login_attempt(client)

    assert "PROOFPIX_RATE_LIMIT_AUTH" in refused.json()["detail"]


async def test_register_is_limited_too(tight: Settings, start_app: StartApp) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        statuses = [
            (await client.post("/api/auth/register", json={})).status_code for _ in range(4)
        ]

    assert statuses == [422, 422, 422, 429]


async def test_anonymous_callers_are_limited_per_client_address(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app:
        async with client_for(app, ip="10.0.0.1") as one:
            for _ in range(4):
                await login_attempt(one)
        async with client_for(app, ip="10.0.0.2") as other:
            response = await login_attempt(other)

    assert response.status_code == 401
    assert response.headers["ratelimit-remaining"] == "2"


async def test_authenticated_callers_are_limited_per_user_not_per_address(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        alice = await create_test_user(app)
        bob = await create_test_user(app)
        for _ in range(3):
            await client.get("/api/auth/me", headers=alice.headers)
        alice_again = await client.get("/api/auth/me", headers=alice.headers)
        bob_first = await client.get("/api/auth/me", headers=bob.headers)

    assert alice_again.status_code == 429
    assert bob_first.status_code == 200


async def test_a_forged_token_is_limited_by_address_not_by_its_claimed_user(
    tight: Settings, start_app: StartApp
) -> None:
    async with start_app(tight) as app, client_for(app) as client:
        for i in range(3):
            await client.get("/api/auth/me", headers={"Authorization": f"Bearer forged{i}"})
        response = await client.get("/api/auth/me", headers={"Authorization": "Bearer forged9"})

    assert response.status_code == 429


async def test_route_classes_have_separate_budgets(tight: Settings, start_app: StartApp) -> None:
    async with start_app(tight) as app, client_for(app) as client:

        @app.post("/test-limits/upload", dependencies=[Depends(rate_limit("uploads"))])
        async def upload() -> dict[str, bool]:
            return {"ok": True}

        for _ in range(4):
            await login_attempt(client)
        response = await client.post("/test-limits/upload")

    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "100000"


def test_an_unknown_route_class_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit class 'bulk'"):
        rate_limit("bulk")


async def test_a_malformed_limit_setting_fails_startup_naming_the_setting(
    settings: Settings, start_app: StartApp
) -> None:
    bad = settings.model_copy(update={"rate_limit_hooks": "lots"})

    with pytest.raises(ValueError, match="PROOFPIX_RATE_LIMIT_HOOKS"):
        async with start_app(bad):
            pass


@pytest.mark.redis
async def test_redis_storage_shares_one_budget_between_api_processes(
    redis_url: str, sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url, tmp_path / "data", redis_url=redis_url, rate_limit_auth="3/minute"
    )
    ip = random_ip()
    async with (
        start_app(settings) as node_a,
        start_app(settings) as node_b,
        client_for(node_a, ip=ip) as a,
        client_for(node_b, ip=ip) as b,
    ):
        first = await login_attempt(a)
        await login_attempt(b)
        await login_attempt(a)
        refused = await login_attempt(b)

    assert first.headers["ratelimit-remaining"] == "2"
    assert refused.status_code == 429
    assert "retry-after" in refused.headers


@pytest.mark.redis
async def test_redis_storage_limits_per_user(
    redis_url: str, sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url, tmp_path / "data", redis_url=redis_url, rate_limit_default="2/minute"
    )
    async with start_app(settings) as app, client_for(app, ip=random_ip()) as client:
        user = await create_test_user(app)
        statuses = [
            (await client.get("/api/auth/me", headers=user.headers)).status_code for _ in range(3)
        ]

    assert statuses == [200, 200, 429]


async def test_an_unreachable_rate_limit_storage_answers_503_not_unlimited(
    sqlite_db_url: str, tmp_path: Path, start_app: StartApp
) -> None:
    settings = build_test_settings(
        sqlite_db_url, tmp_path / "data", redis_url="redis://127.0.0.1:9/0"
    )
    async with start_app(settings) as app, client_for(app) as client:
        response = await login_attempt(client)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "rate-limit storage unavailable" in response.json()["detail"]


async def test_memory_windows_reset_after_their_expiry_and_are_swept() -> None:
    now = [100.0]
    windows = MemoryWindows(clock=lambda: now[0])
    assert await windows.hit("a", 60) == (1, 60.0)
    now[0] += 10
    assert await windows.hit("a", 60) == (2, 50.0)
    now[0] += 50
    assert await windows.hit("a", 60) == (1, 60.0)  # a new window
    await windows.hit("b", 5)
    now[0] += 61
    await windows.hit("c", 5)
    assert set(windows._windows) == {"c"}  # "a" and "b" swept


@pytest.mark.redis
async def test_redis_windows_count_under_the_keys_limits_uses(redis_url: str) -> None:
    """Processes on limits' own storage and on this one share a budget (rolling upgrades)."""
    import redis.asyncio as aioredis
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    item = limits.parse("5/minute")
    key = f"user:{uuid.uuid4()}"
    ours = RedisWindows(redis_url)
    pool = aioredis.ConnectionPool.from_url(redis_url)
    theirs = RedisStorage("async+" + redis_url, implementation="redispy",
                          connection_pool=pool)  # type: ignore[arg-type]
    try:
        assert (await ours.hit(item.key_for("hooks", key), item.get_expiry()))[0] == 1
        assert await FixedWindowRateLimiter(theirs).hit(item, "hooks", key)
        count, reset_in = await ours.hit(item.key_for("hooks", key), item.get_expiry())
        assert count == 3
        assert 0 < reset_in <= 60
    finally:
        await ours.close()
        await pool.aclose()


@pytest.mark.redis
async def test_redis_windows_count_ahead_but_never_let_more_than_the_budget_through(
    redis_url: str,
) -> None:
    """Two processes on one budget of 3,000: each leases 16 hits per round trip, and no hit
    beyond the budget is ever allowed; at most 15 per process are lost to unused leases."""
    amount, key = 3_000, f"test:{uuid.uuid4()}"
    size = lease_size(amount)
    assert size == MAX_LEASE == 16
    one, two = RedisWindows(redis_url), RedisWindows(redis_url)
    try:
        counts = []
        for i in range(4_000):
            count, reset_in = await (one if i % 3 else two).hit(key, 60, amount)
            assert 0 < reset_in <= 60
            counts.append(count)
        allowed = sum(1 for c in counts if c <= amount)
        assert amount - 2 * (size - 1) <= allowed <= amount
        assert len(set(counts)) == len(counts)  # every hit a place of its own in the window
        assert one.calls + two.calls <= 4_000 // size + 2
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_windows_count_a_small_budget_hit_by_hit(redis_url: str) -> None:
    key = f"test:{uuid.uuid4()}"
    windows = RedisWindows(redis_url)
    try:
        counts = [(await windows.hit(key, 60, 150))[0] for _ in range(160)]
        assert counts == list(range(1, 161))
        assert windows.calls == 160
    finally:
        await windows.close()


@pytest.mark.redis
async def test_a_lease_is_not_used_past_its_window(redis_url: str) -> None:
    now = [1000.0]
    key = f"test:{uuid.uuid4()}"
    windows = RedisWindows(redis_url, clock=lambda: now[0])
    try:
        assert (await windows.hit(key, 60, 100_000))[0] == 1  # leases 16
        assert (await windows.hit(key, 60, 100_000))[0] == 2  # from the lease
        assert windows.calls == 1
        now[0] += 61  # the window (and the lease with it) is over
        await windows.hit(key, 60, 100_000)
        assert windows.calls == 2
    finally:
        await windows.close()
