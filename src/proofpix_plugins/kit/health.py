"""The readiness probes behind ``GET /api/health`` (database, Redis), shared by concurrent checks.

Load balancers and monitors poll health often, many at once: each poll answers from the last
probe when it is younger than ``max_age`` seconds, and concurrent polls share one probe in
flight, so health costs the database at most one ``SELECT 1`` (and Redis one ``PING``) per
``max_age``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("proofpix.app")


class CachedProbe:
    """``check`` (true when ready) at most once per ``max_age``; a raised error is "not ready"."""

    def __init__(self, check: Callable[[], Awaitable[bool]], *, max_age: float = 1.0,
                 timeout: float = 2.0, name: str = "dependency") -> None:
        self._check = check
        self._name = name
        self._max_age = max_age
        self._timeout = timeout
        self._checked_at = float("-inf")
        self._ok = False
        self._inflight: asyncio.Task[bool] | None = None

    async def ok(self) -> bool:
        if time.monotonic() - self._checked_at < self._max_age:
            return self._ok
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._probe())
        # Shielded: a poll that gives up must not cancel the probe others are waiting on.
        return await asyncio.shield(self._inflight)

    async def _probe(self) -> bool:
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout):
                ok = await self._check()
        except Exception as exc:  # any driver or network failure means "not ready"
            error, ok = type(exc).__name__, False
        if not ok:
            log.warning(f"health_{self._name}_error", error=error)
        self._ok, self._checked_at, self._inflight = ok, time.monotonic(), None
        return ok


class DatabaseProbe(CachedProbe):
    def __init__(self, engine: AsyncEngine, *, max_age: float = 1.0, timeout: float = 2.0) -> None:
        async def select_one() -> bool:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True

        super().__init__(select_one, max_age=max_age, timeout=timeout, name="database")
