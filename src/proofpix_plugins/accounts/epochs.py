"""The current auth epoch of each user, cached per process (the guard's cheap re-check).

``users.auth_epoch`` is bumped by database triggers on every change to what an access token
asserts (role, membership, tier, activity, platform admin; a deleted user has none). A write
whose token carries the current epoch is confirmed without reading role and tier again; any
other goes through the full database re-check (accounts/auth.py).

How fresh "current" is — correctness before speed:

* On PostgreSQL a cached epoch is trusted only while this process listens to the database's
  own announcements (accounts/epoch_feed.py: migration 0015's trigger notifies every listener
  when a transaction that changed a user's epoch commits, whoever wrote it) and drops the
  user's entry as each arrives. While the listening connection is lost nothing cached is
  trusted. Changes made through the app also publish an invalidation through the event hub
  (:func:`publish_invalidation`), which :meth:`AuthEpochs.follow` applies too.
* On SQLite the cache is current while the database file's ``PRAGMA data_version`` is the one
  the entries were stored under (db_sqlite.DataVersion): any commit by any connection — another
  ``serve`` worker, the CLI, the sqlite3 shell — changes it, and the whole cache is dropped
  before the next write is checked. Every change, hand-written SQL included, counts at once.
* Without such a feed (a hub that does not reach every process, an engine that is neither)
  nothing is cached: every write reads the user's epoch, one primary-key read instead of the
  two reads of the full re-check.
* While a followed Redis hub is away (events published meanwhile are lost) and no database
  feed decides, nothing cached is trusted, and what was cached before is forgotten when it is
  back.
* Entries are re-read after ``ttl`` seconds anyway (``PROOFPIX_AUTH_EPOCH_CACHE_SECONDS``, 1 s;
  0 disables the cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.accounts import User

log = structlog.get_logger(__name__)

#: The event-hub "organization" carrying invalidations (never a UUID, so no real org's stream).
HUB_CHANNEL = "_auth-epochs"
MAX_ENTRIES = 100_000


class AuthEpochs:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ttl: float = 1.0,
        changes: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``changes``: a value that changes with every commit to the database by anyone
        (SQLite's data_version); when given, it alone decides whether the cache is current."""
        self._sf = session_factory
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[uuid.UUID, tuple[int, float]] = {}
        # Bumped by every invalidation: a read that raced one must not store its stale answer.
        self._generation = 0
        # What the followed hub says about its delivery (None: the cache is not trusted), and
        # the value the cached entries were stored under.
        self._changes = changes
        self._delivery: Callable[[], object | None] = changes or _never
        self._delivery_seen: object | None = None

    async def current(self, user_id: uuid.UUID) -> int | None:
        """The user's epoch (None: no such user)."""
        now = self._clock()
        delivery = self._delivery() if self.ttl > 0 else None
        if delivery is not None and delivery != self._delivery_seen:
            # The hub lost its connection since these were cached: invalidations may be lost.
            self.invalidate()
            self._delivery_seen = delivery
        hit = self._cache.get(user_id) if delivery is not None else None
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0]
        generation = self._generation
        async with session_scope(self._sf) as session:
            value = (
                await session.execute(select(User.auth_epoch).where(User.id == user_id))
            ).scalar_one_or_none()
        if (
            value is not None
            and delivery is not None
            and generation == self._generation
            and self._delivery() == delivery
        ):
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[user_id] = (value, now)
        return value

    def trust(self, delivery: Callable[[], object | None]) -> None:
        """Trust the cache while ``delivery()`` is not None and unchanged: a feed that sees
        every change by anyone (PostgreSQL's notifications, accounts/epoch_feed.py). Like the
        SQLite ``changes``, it alone decides: a followed hub then only adds invalidations."""
        self._changes = delivery
        self._delivery = delivery

    def invalidate(self, user_ids: Iterable[uuid.UUID] | None = None) -> None:
        """Forget the cached epochs of ``user_ids`` (every user when None)."""
        self._generation += 1
        if user_ids is None:
            self._cache.clear()
            return
        for user_id in user_ids:
            self._cache.pop(user_id, None)

    async def follow(self, hub: Any) -> None:
        """Apply the invalidations other processes publish (runs until cancelled).

        The cache is trusted only while this runs, and only when ``hub`` reaches every process
        (its ``delivery_generation()`` is not None).
        """
        with hub.subscribe(HUB_CHANNEL) as stream:
            # Subscribed: from here on no published invalidation is missed. (On SQLite the
            # database's own change counter already sees every commit, by anyone.)
            if self._changes is None:
                self._delivery = hub.delivery_generation
            try:
                async for event in stream:
                    users = event.get("users")
                    if users is None or stream.dropped:
                        # Everything, also when invalidations were lost to a full queue.
                        stream.dropped = 0
                        self.invalidate()
                        continue
                    with contextlib.suppress(ValueError, TypeError):
                        self.invalidate(uuid.UUID(str(u)) for u in users)
            finally:
                self._delivery = self._changes or _never
                self.invalidate()

    def start_following(self, hub: Any) -> asyncio.Task[None]:
        return asyncio.create_task(self.follow(hub), name="auth-epoch-invalidations")


def _never() -> None:
    return None


async def publish_invalidation(hub: Any, user_ids: Iterable[uuid.UUID] | None) -> bool:
    """After committing a change to users' roles, tiers or state: tell every process.

    False when the hub refused it: processes that cache epochs then see the change within
    their ttl, not at once — the caller should say so.
    """
    event = {"type": "auth_epoch", "users": None if user_ids is None else
             [str(u) for u in user_ids]}
    try:
        await hub.publish(HUB_CHANNEL, event)
    except Exception:
        log.warning("auth_epochs.publish_failed")
        return False
    return True
