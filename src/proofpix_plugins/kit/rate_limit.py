"""Rate limits per route class, keyed by user (by client IP when anonymous): fixed windows.

Limits are written and parsed as ``limits`` writes them (``10/15minutes``). Counters are in
memory by default (one process) and in Redis when ``PROOFPIX_REDIS_URL`` is set, so several API
processes share one budget (under ``limits``' own keys). Every limited response carries
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds); going over raises
:class:`RateLimited` (429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import limits
from fastapi import Request
from starlette.requests import HTTPConnection

from proofpix_plugins.config import Settings
from proofpix_plugins.errors import RateLimited, ServiceUnavailable
from proofpix_plugins.kit.problem_schema import answers

ROUTE_CLASSES = ("auth", "default", "plugin_ops", "hooks", "uploads")
# When Redis is lost the limited routes answer 503 (never run unlimited); clients retry after.
STORAGE_RETRY_AFTER_SECONDS = 5

# Request-state key the response middleware reads to add the RateLimit-* headers.
STATE_HEADERS_KEY = "rate_limit_headers"

Identify = Callable[[HTTPConnection], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class _Windows(Protocol):
    """Fixed-window counters: count one hit, answer (hits so far, seconds until the reset).
    ``amount`` is the window's budget (a storage may use it to count ahead, never to allow
    more)."""

    async def hit(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]: ...

    async def check(self) -> bool: ...


class MemoryWindows:
    """Counters of this process: plain dict operations on the loop, no lock, no task.

    (``limits``' async memory storage takes an ``asyncio.Lock`` and schedules an expiry task
    on most hits: a third of the hook route's own time.) Expired windows are swept at most
    once a second, on a hit.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # key -> [hits, ends_at]
        self._next_sweep = 0.0

    async def hit(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for stale in [k for k, w in self._windows.items() if w[1] <= now]:
                del self._windows[stale]
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            window = self._windows[key] = [0, now + expiry]
        window[0] += 1
        return int(window[0]), window[1] - now

    async def check(self) -> bool:
        return True


# The key, the increment and the expiry of `limits`' own Redis storage (LIMITS:<key>, INCRBY,
# EXPIRE on the first hit), so processes of either version share one budget; the TTL comes back
# in the same round trip (limits needs three: the script, GET and TTL).
_REDIS_HIT = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""
_REDIS_PREFIX = "LIMITS:"

#: A process counts ahead at most this many hits of one window at a time, and at most 1 % of
#: the window's budget: budgets under 200 are counted hit by hit, exactly.
MAX_LEASE = 16


def lease_size(amount: int) -> int:
    return max(1, min(MAX_LEASE, amount // 100))


@dataclass(slots=True)
class _Lease:
    """Hits of a window this process counted in Redis ahead of time and has not used yet."""

    left: int
    count: int  # the window's count at the last hit served from it
    ends_at: float


class RedisWindows:
    """Counters in Redis, shared by every API process.

    Counting ahead: for a large budget (the hook route's 6,000 a minute) a process adds a small
    lease of hits to the window at once (``INCRBY``, at most :data:`MAX_LEASE` and 1 % of the
    budget) and serves the next hits from it without a round trip, until it is used up or the
    window ends. Redis's count is never below the hits served, so no process ever lets through
    more than the budget; the price is that hits leased and not used before the window ends are
    lost to the budget (at most ``lease - 1`` per process and window: under 1 % each), and that
    ``RateLimit-Remaining`` counts them as used. A refused hit is served from the lease as well:
    a flood over the budget costs Redis one call per lease, not one per request.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        import redis.asyncio as aioredis

        self._pool: Any = aioredis.ConnectionPool.from_url(url)
        self._client: Any = aioredis.Redis(connection_pool=self._pool)
        self._script: Any = self._client.register_script(_REDIS_HIT)
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._next_sweep = 0.0
        #: Round trips to Redis for hits (tests, benchmarks).
        self.calls = 0

    async def hit(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        now = self._clock()
        lease = self._leases.get(key)
        if lease is not None and lease.left > 0 and lease.ends_at > now:
            lease.left -= 1
            lease.count += 1
            return lease.count, lease.ends_at - now
        size = lease_size(amount)
        self.calls += 1
        current, ttl = await self._script(keys=[_REDIS_PREFIX + key], args=[expiry, size])
        reset_in = float(max(int(ttl), 0))
        first = int(current) - size + 1
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for stale in [k for k, v in self._leases.items() if v.ends_at <= now]:
                del self._leases[stale]
        if size > 1:
            # Redis's TTL is whole seconds, rounded down: the lease ends no later than the window.
            self._leases[key] = _Lease(size - 1, first, now + reset_in)
        return first, reset_in

    async def check(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.aclose()


class RateLimiter:
    """Fixed-window budgets per route class (``limits``' syntax and keys), in memory or Redis."""

    def __init__(self, windows: _Windows, items: Mapping[str, limits.RateLimitItem]) -> None:
        self._windows = windows
        self._items = dict(items)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        items = {name: _parse(name, getattr(settings, f"rate_limit_{name}")) for name in
                 ROUTE_CLASSES}
        if settings.redis_url:
            return cls(RedisWindows(settings.redis_url), items)
        return cls(MemoryWindows(), items)

    async def hit(self, route_class: str, key: str) -> RateLimitResult:
        item = self._items[route_class]
        try:
            count, reset_in = await self._windows.hit(
                item.key_for(route_class, key), item.get_expiry(), item.amount)
        except Exception as exc:  # the storage's own errors (connection refused, timeouts)
            raise ServiceUnavailable(
                detail=f"rate-limit storage unavailable: {type(exc).__name__}",
                headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
            ) from None
        return RateLimitResult(count <= item.amount, item.amount,
                               max(0, item.amount - count), max(0, math.ceil(reset_in)))

    @property
    def shared(self) -> bool:
        """Whether the budget lives in Redis (shared by API processes) rather than in memory."""
        return isinstance(self._windows, RedisWindows)

    async def healthy(self, timeout: float = 2.0) -> bool:  # noqa: ASYNC109 - a plain bound
        """Whether the storage answers now (always true in memory)."""
        try:
            async with asyncio.timeout(timeout):
                return await self._windows.check()
        except Exception:  # connection refused, timeouts: not healthy, whatever the cause
            return False

    async def close(self) -> None:
        if isinstance(self._windows, RedisWindows):
            await self._windows.close()


def _parse(route_class: str, text: str) -> limits.RateLimitItem:
    try:
        return limits.parse(text)
    except ValueError:
        raise ValueError(
            f"PROOFPIX_RATE_LIMIT_{route_class.upper()}: {text!r} is not a rate limit "
            "(expected e.g. '10/15minutes' or '300 per minute')"
        ) from None


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"


def rate_limit(route_class: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency limiting the route to its class's budget: ``Depends(rate_limit(...))``.

    The key is the caller's user id when the app's identity hook recognises a valid bearer
    token, else the client address: an attacker cannot dodge the limit with a forged token.
    """
    if route_class not in ROUTE_CLASSES:
        raise ValueError(f"unknown rate-limit class {route_class!r}; one of {ROUTE_CLASSES}")

    @answers(429, 503)  # over the budget; the shared store (Redis) unreachable
    async def dependency(request: Request) -> None:
        await _limit(route_class, request)

    dependency.__name__ = f"rate_limit_{route_class}"
    return dependency


def rate_limit_reads(route_class: str = "default") -> Callable[[HTTPConnection], Awaitable[None]]:
    """A router-level dependency limiting its GET/HEAD routes to ``route_class``.

    ``APIRouter(dependencies=[Depends(rate_limit_reads())])``: writes keep the class their
    route declares (a router-wide ``rate_limit`` would charge them twice), and WebSocket routes
    of the router are left alone.
    """
    if route_class not in ROUTE_CLASSES:
        raise ValueError(f"unknown rate-limit class {route_class!r}; one of {ROUTE_CLASSES}")

    @answers(429, 503)  # over the budget; the shared store (Redis) unreachable
    async def dependency(connection: HTTPConnection) -> None:
        if connection.scope["type"] == "http" and connection.scope["method"] in ("GET", "HEAD"):
            await _limit(route_class, connection)

    dependency.__name__ = f"rate_limit_reads_{route_class}"
    return dependency


async def _limit(route_class: str, request: HTTPConnection) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    identify: Identify | None = getattr(request.app.state, "rate_limit_identity", None)
    who = await identify(request) if identify is not None else None
    key = f"user:{who}" if who else f"ip:{client_ip(request)}"
    result = await limiter.hit(route_class, key)
    request.state.rate_limit_headers = result.headers()
    if not result.allowed:
        raise RateLimited(
            detail=f"Rate limit for {route_class} requests exceeded "
            f"({result.limit} per window); retry in {result.reset_seconds} s "
            f"(the limit is PROOFPIX_RATE_LIMIT_{route_class.upper()})",
            headers={"Retry-After": str(max(1, result.reset_seconds))},
        )
