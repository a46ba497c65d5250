"""The featured score's 30-day download window (migration 0017): reading its end, moving it.

``marketplace_listings.recent_downloads`` holds each listing's downloads over the 30 days ending
``marketplace_recent_window.through``; triggers on ``marketplace_downloads`` keep it as rows
change. Moving the window to a new day is :func:`roll_window`, run by the counters' background
task (``counters.DiscoveryCounters``) in every process; one of them does the work.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.marketplace import MarketplaceDownload, MarketplaceListing
from proofpix_plugins.models.marketplace_search import (
    RECENT_DOWNLOADS_COLUMN,
    RECENT_WINDOW_TABLE,
)

#: Days in the window, today included (``featured.RECENT_DAYS``; the migration's triggers too).
DAYS: Final = 30

_WINDOW = table(RECENT_WINDOW_TABLE, column("id", Integer()), column("through", Date()))
#: ``recent_downloads`` in a statement over the listings (not on the ORM model: migration DDL).
RECENT = literal_column(f"marketplace_listings.{RECENT_DOWNLOADS_COLUMN}", type_=BigInteger())
# The columns the window's move writes, as a plain table: and so no ``onupdate`` of updated_at
# (a download is not an edit of the listing).
_LISTINGS = table("marketplace_listings",
                  column("id", MarketplaceListing.__table__.c.id.type),
                  column(RECENT_DOWNLOADS_COLUMN, BigInteger()))
#: Listings per UPDATE when the window moves.
_ROLL_BATCH: Final = 500


async def window_end(session: AsyncSession) -> date | None:
    """The last day ``recent_downloads`` counts."""
    end: date | None = await session.scalar(
        select(_WINDOW.c.through).where(_WINDOW.c.id == 1))
    return end


async def roll_window(session: AsyncSession, day: date) -> bool:
    """Move the stored window to end on ``day`` (today); False if it already does.

    The move is claimed first (compare-and-set on ``through``), so of several processes one
    does it; on PostgreSQL that update waits for writers holding the window ``FOR SHARE`` and
    makes later ones wait for this transaction, so each download row is counted once. Then
    every listing with downloads on a day leaving or entering the window is adjusted.
    """
    through = await window_end(session)
    if through is None or through >= day:
        return False
    claimed = await session.execute(
        update(_WINDOW).where(_WINDOW.c.id == 1, _WINDOW.c.through == through)
        .values(through=day))
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    span = timedelta(days=DAYS - 1)
    leave = (through - span, min(day - span - timedelta(days=1), through))
    enter = (max(through + timedelta(days=1), day - span), day)
    d = MarketplaceDownload
    leaving = d.day.between(*leave)
    delta = func.sum(case((leaving, -d.downloads), else_=d.downloads))
    # Both ranges are non-empty (day > through) and disjoint (leave ends before day - span).
    rows = (await session.execute(
        select(d.listing_id, delta)
        .where(or_(leaving, d.day.between(*enter)))
        .group_by(d.listing_id))).all()
    changes = {lid: int(n) for lid, n in rows if n}
    ids = list(changes)
    recent = _LISTINGS.c[RECENT_DOWNLOADS_COLUMN]
    for start in range(0, len(ids), _ROLL_BATCH):
        batch = {lid: changes[lid] for lid in ids[start:start + _ROLL_BATCH]}
        await session.execute(
            update(_LISTINGS).where(_LISTINGS.c.id.in_(list(batch)))
            .values({recent: recent + case(batch, value=_LISTINGS.c.id, else_=0)}))
    return True
