"""The featured list: the curated head, then the top of the catalogue by a documented score.

Score of a listing not curated (``docs/marketplace-discovery.md``)::

    bayes = (rating_avg * rating_count + PRIOR_MEAN * PRIOR_WEIGHT) / (rating_count + PRIOR_WEIGHT)
    score = bayes * ln(1 + downloads over the last 30 days)

The Bayesian average keeps one 5-star review from outranking a hundred 4.8s; the logarithm keeps
a download spike from burying every well-rated plugin. Suspended listings and listings with no
visible version appear in neither part. The whole list (at most ``MAX_FEATURED``) is cached
under the validity token and a short TTL (downloads move the score without moving the token).

The database keeps each listing's 30-day downloads and the score (migration 0017: triggers on
``marketplace_downloads``, a generated ``featured_score`` indexed with ``listed``), so the top is
an index read. The window ends on the day in ``marketplace_recent_window``; the counters'
background task moves it to today (``recent_window.roll_window``). Until it has (the first
seconds of a UTC day, or a process without that task), the list is computed from the per-day
rows instead, the same answer at the old cost.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal

from sqlalchemy import (
    Float,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.errors import FieldError, ValidationFailed
from proofpix_plugins.marketplace import recent_window
from proofpix_plugins.marketplace.catalog import (
    L,
    ListingSummary,
    discoverable,
    summary_of,
    summary_select,
)
from proofpix_plugins.marketplace.counters import today
from proofpix_plugins.marketplace.discovery_cache import DiscoveryCache, Token, validity_token
from proofpix_plugins.models.marketplace import (
    FeaturedEntry,
    ListingStatus,
    MarketplaceDownload,
)
from proofpix_plugins.models.marketplace_search import FEATURED_SCORE_COLUMN

#: The advisory-lock key serializing curated-list replacements on PostgreSQL.
_CURATION_LOCK: Final = 0x70707846  # "ppxF"
PRIOR_MEAN: Final = 3.0
PRIOR_WEIGHT: Final = 5
RECENT_DAYS: Final = recent_window.DAYS
MAX_FEATURED: Final = 100

_RECENT = recent_window.RECENT
_SCORE = literal_column(f"marketplace_listings.{FEATURED_SCORE_COLUMN}", type_=Float())


def score(rating_avg: float, rating_count: int, recent_downloads: int) -> float:
    bayes = (rating_avg * rating_count + PRIOR_MEAN * PRIOR_WEIGHT) / (rating_count + PRIOR_WEIGHT)
    return bayes * math.log1p(max(recent_downloads, 0))


@dataclass(frozen=True, slots=True)
class FeaturedItem:
    listing: ListingSummary
    source: Literal["curated", "top"]
    score: float | None
    recent_downloads: int


async def featured(session: AsyncSession, *, cache: DiscoveryCache | None = None,
                   token: Token | None = None) -> list[FeaturedItem]:
    """The whole featured list (curated, then top by score), at most ``MAX_FEATURED``.

    ``token``: the validity token when the caller has just read it.
    """
    if cache is None:
        return await _compute(session)
    if token is None:
        token = await validity_token(session)
    return await cache.get(("featured",), token, lambda: _compute(session))


async def _recent_downloads(session: AsyncSession) -> dict[uuid.UUID, int]:
    since = today() - timedelta(days=RECENT_DAYS - 1)
    rows = await session.execute(
        select(MarketplaceDownload.listing_id, func.sum(MarketplaceDownload.downloads))
        .where(MarketplaceDownload.day >= since)
        .group_by(MarketplaceDownload.listing_id)
    )
    return {lid: int(n or 0) for lid, n in rows}


async def _curated(session: AsyncSession, recent: Callable[[Any], int]) -> list[FeaturedItem]:
    """The curated head in its order, visible listings only; ``recent`` reads a row's 30-day
    downloads. The ids first, then their listings by primary key: joined in one statement,
    SQLite's planner walks every listed listing to probe the (tiny) curated table."""
    ids = (await session.scalars(
        select(FeaturedEntry.listing_id).order_by(FeaturedEntry.position))).all()
    if not ids:
        return []
    by_id = {r.id: r for r in await session.execute(
        summary_select(_RECENT.label("recent")).where(L.id.in_(ids), discoverable()))}
    return [FeaturedItem(summary_of(by_id[lid]), "curated", None, recent(by_id[lid]))
            for lid in ids if lid in by_id]


async def _compute(session: AsyncSession) -> list[FeaturedItem]:
    through = await recent_window.window_end(session)
    if through is None or through < today():
        return await _compute_from_days(session)
    items = await _curated(session, lambda row: int(row.recent))
    room = MAX_FEATURED - len(items)
    if room > 0:
        top: Any = summary_select(_RECENT.label("recent")).where(discoverable())
        if items:
            top = top.where(L.id.not_in([item.listing.id for item in items]))
        # The order of _compute_from_days: score, then rating, then plugin id.
        top = top.order_by(_SCORE.desc(), L.rating_avg.desc(), L.plugin_id).limit(room)
        for r in await session.execute(top):
            recent = int(r.recent)
            items.append(FeaturedItem(
                summary_of(r), "top",
                round(score(float(r.rating_avg), int(r.rating_count), recent), 6), recent))
    return items


async def _compute_from_days(session: AsyncSession) -> list[FeaturedItem]:
    """The list from the per-day rows: used while the stored window is behind today."""
    recent = await _recent_downloads(session)
    items = await _curated(session, lambda row: recent.get(row.id, 0))
    curated = {item.listing.id for item in items}
    candidates = await session.execute(
        select(L.id, L.rating_avg, L.rating_count, L.plugin_id).where(discoverable()))
    ranked = sorted(
        ((score(float(avg), int(n), recent.get(lid, 0)), float(avg), pid, lid)
         for lid, avg, n, pid in candidates if lid not in curated),
        key=lambda t: (-t[0], -t[1], t[2]),
    )[: max(MAX_FEATURED - len(items), 0)]
    if ranked:
        rows = await session.execute(summary_select().where(L.id.in_([t[3] for t in ranked])))
        by_id = {r.id: summary_of(r) for r in rows}
        items += [FeaturedItem(by_id[lid], "top", round(s, 6), recent.get(lid, 0))
                  for s, _avg, _pid, lid in ranked if lid in by_id]
    return items


async def set_curated(session: AsyncSession, plugin_ids: list[str]) -> list[str]:
    """Replace the curated list; every id must name an active listing (422 naming the index),
    except one already curated: a curated listing suspended since stays placeable (the
    featured list skips it while suspended), so an admin can reorder or trim the list without
    first removing it.

    Concurrent replacements are serialized (PostgreSQL: a transaction-scoped advisory lock;
    SQLite: the delete below takes the database's write lock), so the last one wins whole
    instead of two interleaving into a key conflict (a 500 before).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_CURATION_LOCK)))
    current = set(await curated_ids(session))
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, pid in enumerate(plugin_ids):
        if pid in seen:
            errors.append(FieldError(f"pluginIds[{i}]", f"duplicate of pluginIds[{seen[pid]}]",
                                     "unique", pid))
        seen.setdefault(pid, i)
    rows = await session.execute(
        select(L.plugin_id, L.id, L.status).where(L.plugin_id.in_(list(seen))))
    found = {pid: (lid, status) for pid, lid, status in rows}
    for pid, i in seen.items():
        if pid not in found:
            errors.append(FieldError(f"pluginIds[{i}]", "no marketplace listing has this id",
                                     "exists", pid))
        elif found[pid][1] is not ListingStatus.active and pid not in current:
            errors.append(FieldError(f"pluginIds[{i}]", "the listing is suspended",
                                     "active", pid))
    if errors:
        raise ValidationFailed("the featured list names plugins that cannot be featured",
                               errors=sorted(errors, key=lambda e: _index(e.field)))
    await session.execute(delete(FeaturedEntry))
    session.add_all([FeaturedEntry(listing_id=found[pid][0], position=i)
                     for i, pid in enumerate(seen)])
    await session.flush()
    return list(seen)


def _index(field: str) -> int:
    return int(field[field.index("[") + 1: -1])


async def curated_ids(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(L.plugin_id).join(FeaturedEntry, FeaturedEntry.listing_id == L.id)
        .order_by(FeaturedEntry.position))
    return list(rows)
