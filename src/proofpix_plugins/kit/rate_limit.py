"""Rate limits per route class, keyed by user (by client IP when anonymous), with ``limits``.

Storage is in memory by default (one process) and Redis when ``PROOFPIX_REDIS_URL`` is set, so
several API processes share one budget. Every limited response carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds); going over raises :class:`RateLimited`
(429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import limits
from fastapi import Request
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
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


class RateLimiter:
    """One ``limits`` storage and the parsed limit of each route class."""

    def __init__(self, storage: Storage, items: Mapping[str, limits.RateLimitItem]) -> None:
        self._storage = storage
        self._strategy = FixedWindowRateLimiter(storage)
        self._items = dict(items)
        self._close: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        items = {name: _parse(name, getattr(settings, f"rate_limit_{name}")) for name in
                 ROUTE_CLASSES}
        if settings.redis_url:
            import redis.asyncio as aioredis

            pool: Any = aioredis.ConnectionPool.from_url(settings.redis_url)
            # limits names its asyncio storages async+redis://, async+rediss://, ...
            uri = "async+" + settings.redis_url
            storage = storage_from_string(uri, implementation="redispy", connection_pool=pool)
            limiter = cls(storage, items)  # type: ignore[arg-type]

            async def close_pool() -> None:
                await pool.aclose()

            limiter._close = close_pool
            return limiter
        return cls(MemoryStorage(), items)

    async def hit(self, route_class: str, key: str) -> RateLimitResult:
        item = self._items[route_class]
        try:
            allowed = await self._strategy.hit(item, route_class, key)
            stats = await self._strategy.get_window_stats(item, route_class, key)
        except Exception as exc:  # the storage's own errors (connection refused, timeouts)
            raise ServiceUnavailable(
                detail=f"rate-limit storage unavailable: {type(exc).__name__}",
                headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
            ) from None
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return RateLimitResult(allowed, item.amount, stats.remaining, reset)

    @property
    def shared(self) -> bool:
        """Whether the budget lives in Redis (shared by API processes) rather than in memory."""
        return self._close is not None

    async def healthy(self, timeout: float = 2.0) -> bool:  # noqa: ASYNC109 - a plain bound
        """Whether the storage answers now (always true in memory)."""
        try:
            async with asyncio.timeout(timeout):
                return bool(await self._storage.check())
        except Exception:  # connection refused, timeouts: not healthy, whatever the cause
            return False

    async def close(self) -> None:
        timer = getattr(self._storage, "timer", None)
        if timer is not None and not timer.done():
            timer.cancel()
        if self._close is not None:
            await self._close()


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
