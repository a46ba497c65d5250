"""The current auth epoch of each user, cached per process (the guard's cheap re-check).

``users.auth_epoch`` is bumped by database triggers on every change to what an access token
asserts (role, membership, tier, activity, platform admin). A write whose token carries the
current epoch is confirmed without reading role and tier again; any other goes through the full
database re-check (accounts/auth.py).

How fresh "current" is: a change made through a process of this deployment invalidates the
cached epochs of the users it touched in every process, through the event hub
(:func:`publish_invalidation`); a change made where no hub reaches (the CLI without Redis,
hand-written SQL) is seen within ``ttl`` seconds, when the cached value expires. ``ttl = 0``
reads the epoch on every write (one primary-key read instead of two joins).
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sf = session_factory
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[uuid.UUID, tuple[int, float]] = {}
        # Bumped by every invalidation: a read that raced one must not store its stale answer.
        self._generation = 0

    async def current(self, user_id: uuid.UUID) -> int | None:
        """The user's epoch (None: no such user)."""
        now = self._clock()
        hit = self._cache.get(user_id)
        if hit is not None and now - hit[1] < self.ttl:
            return hit[0]
        generation = self._generation
        async with session_scope(self._sf) as session:
            value = (
                await session.execute(select(User.auth_epoch).where(User.id == user_id))
            ).scalar_one_or_none()
        if value is not None and self.ttl > 0 and generation == self._generation:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[user_id] = (value, now)
        return value

    def invalidate(self, user_ids: Iterable[uuid.UUID] | None = None) -> None:
        """Forget the cached epochs of ``user_ids`` (every user when None)."""
        self._generation += 1
        if user_ids is None:
            self._cache.clear()
            return
        for user_id in user_ids:
            self._cache.pop(user_id, None)

    async def follow(self, hub: Any) -> None:
        """Apply the invalidations other processes publish (runs until cancelled)."""
        with hub.subscribe(HUB_CHANNEL) as stream:
            async for event in stream:
                users = event.get("users")
                if users is None or stream.dropped:
                    # Everything, also when invalidations were lost to a full queue.
                    stream.dropped = 0
                    self.invalidate()
                    continue
                with contextlib.suppress(ValueError, TypeError):
                    self.invalidate(uuid.UUID(str(u)) for u in users)

    def start_following(self, hub: Any) -> asyncio.Task[None]:
        return asyncio.create_task(self.follow(hub), name="auth-epoch-invalidations")


async def publish_invalidation(hub: Any, user_ids: Iterable[uuid.UUID] | None) -> None:
    """After committing a change to users' roles, tiers or state: tell every process."""
    event = {"type": "auth_epoch", "users": None if user_ids is None else
             [str(u) for u in user_ids]}
    try:
        await hub.publish(HUB_CHANNEL, event)
    except Exception:
        # The cached epochs then expire within their ttl: late, never wrong for long.
        log.warning("auth_epochs.publish_failed")
