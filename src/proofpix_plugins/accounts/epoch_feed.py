"""PostgreSQL's own announcements of auth-epoch changes, followed by each API process.

Migration 0015's trigger sends ``NOTIFY proofpix_auth_epoch, '<user id>'`` when a transaction
that changed a user's epoch (or deleted the user) commits, whoever wrote it: this process,
another API process, the CLI, hand-written SQL. :class:`PostgresEpochFeed` keeps one connection
of its own (outside the pool) listening on that channel and drops the user's cached epoch
(accounts/epochs.py) as each notification arrives, so on PostgreSQL cached epochs are as
trustworthy as on SQLite (whose processes watch the file's ``data_version``) with or without
Redis.

The cache is trusted only while the feed listens: :meth:`delivery_generation` is None from
the moment the connection is lost (notifications sent meanwhile are lost with it) until a new
one listens, and a new number each time it does, so :class:`AuthEpochs` forgets what it cached
before. A connection that dies silently (no reset) is caught by a ping every few seconds.

The window that remains: a notification reaches the listener a moment after the commit that
sent it (on one machine, well under a millisecond), and a write checked in that moment is
checked against the old epoch, as with an invalidation published through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import structlog
from sqlalchemy.engine import URL

from proofpix_plugins.accounts.epochs import AuthEpochs

log = structlog.get_logger(__name__)

#: Migration 0015's channel.
CHANNEL = "proofpix_auth_epoch"


class PostgresEpochFeed:
    def __init__(self, url: URL, epochs: AuthEpochs, *, ping_seconds: float = 5.0,
                 retry_seconds: float = 1.0) -> None:
        self._url = url
        self._epochs = epochs
        self._ping_seconds = ping_seconds
        self._retry_seconds = retry_seconds
        self._listening: int | None = None
        self._connections = 0
        #: The listening connection's server process (tests terminate it).
        self.backend_pid: int | None = None
        #: Set while listening (start-up waits for it, bounded).
        self.listening = asyncio.Event()
        #: Notifications applied so far.
        self.received = 0

    def delivery_generation(self) -> int | None:
        """None while not listening; otherwise a number that changes with each new connection."""
        return self._listening

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any loss."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, reset, timeouts: retry
                log.warning("auth_epochs.feed_lost", error=type(exc).__name__)
            await asyncio.sleep(self._retry_seconds)

    async def _listen(self) -> None:
        import asyncpg

        url = self._url
        conn: Any = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password,
            database=url.database, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
            # From here on no notification is missed: trust the cache, forgetting what was
            # cached while nothing listened.
            self._connections += 1
            self.backend_pid = conn.get_server_pid()
            self._epochs.invalidate()
            self._listening = self._connections
            self.listening.set()
            log.info("auth_epochs.feed_listening", generation=self._listening)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._ping_seconds)
                    break
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self._ping_seconds)
            raise ConnectionError("the listening connection was closed")
        finally:
            self._listening = None
            self.listening.clear()
            self.backend_pid = None
            self._epochs.invalidate()
            with contextlib.suppress(Exception):
                conn.terminate()

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        try:
            user = uuid.UUID(payload)
        except ValueError:
            self._epochs.invalidate()  # not ours to parse: forget everything
            return
        self._epochs.invalidate([user])

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.run(), name="auth-epoch-feed")
