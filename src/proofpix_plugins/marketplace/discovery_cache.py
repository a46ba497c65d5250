"""Discovery's caches (featured list, facet counts, compatible ranges), coherent across processes.

Every cached value is stored with the *validity token* it was computed under: the newest
``marketplace_listings.updated_at``, and the newest ``marketplace_featured.created_at`` with the
entry count. Every writer already moves one of these (publish, yank, suspend, re-scan and
reviews bump the listing's ``updated_at``; curation rewrites the featured rows), so a value is
dropped the moment the database changes, in whichever process holds it, with no invalidation
message to lose. Reading the token is one statement: the listings' maximum from the end of the
``updated_at`` index (O(log n)) and the featured table's aggregates (at most 100 rows). The
listings are not counted: counting read every index entry (1.2 ms per request at 10,000
listings on SQLite, 12 ms at 100,000), and nothing removes a listing (``developers`` are
``RESTRICT``, a takedown is a status); a row deleted by hand is seen when the TTL runs out.
A TTL bounds what the token cannot see: download counts (flushed without touching
``updated_at``) that feed the featured score and the listings' ``downloads`` figures.

The cache is per process on purpose: a shared store (the database table or Redis) would cost a
round trip per hit, about what recomputing a facet costs at 10,000 listings, and the token
already makes every process's copy exact.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.db import read_connection
from proofpix_plugins.models.marketplace import FeaturedEntry, MarketplaceListing

T = TypeVar("T")

Token = tuple[Any, ...]


_TOKEN = select(
    select(func.max(MarketplaceListing.updated_at)).scalar_subquery(),
    select(func.max(FeaturedEntry.created_at)).scalar_subquery(),
    select(func.count()).select_from(FeaturedEntry).scalar_subquery(),
)


async def validity_token(session: AsyncSession) -> Token:
    # On the session's connection, past the ORM's statement handling: read on every request,
    # and a discovery request only reads (one round trip on PostgreSQL).
    connection = await read_connection(session)
    listings_at, featured_at, featured_n = (await connection.execute(_TOKEN)).one()
    return (str(listings_at), str(featured_at), int(featured_n))


class DiscoveryCache:
    """A bounded LRU of values, each valid while the token is unchanged and its TTL runs."""

    def __init__(self, *, ttl_seconds: float, max_entries: int = 2048) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Token, float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def get(
        self, key: Hashable, token: Token, compute: Callable[[], Awaitable[T]]
    ) -> T:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == token and entry[1] > now:
            self._entries.move_to_end(key)
            self.hits += 1
            value: T = entry[2]
            return value
        self.misses += 1
        value = await compute()
        if self.ttl > 0:
            self._entries[key] = (token, now + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
