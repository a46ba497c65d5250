"""The database readiness probe behind ``GET /api/health``, shared by concurrent checks.

Load balancers and monitors poll health often, many at once: each poll answers from the last
probe when it is younger than ``max_age`` seconds, and concurrent polls share one probe in
flight, so health costs the database at most one ``SELECT 1`` per ``max_age``.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("proofpix.app")


class DatabaseProbe:
    def __init__(self, engine: AsyncEngine, *, max_age: float = 1.0, timeout: float = 2.0) -> None:
        self._engine = engine
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
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            ok = True
        except Exception as exc:  # any driver or network failure means "not ready"
            log.warning("health_database_error", error=type(exc).__name__)
            ok = False
        self._ok, self._checked_at, self._inflight = ok, time.monotonic(), None
        return ok
