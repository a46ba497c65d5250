"""Developer dashboard and marketplace analytics (issue #14), privacy first.

Counts come from ``marketplace_downloads`` (per version and day) and the live ``plugins`` rows;
usage (hook calls, error rate, p95 latency) from ``plugin_metrics`` summed over every
organization that runs the plugin. No figure ever names an organization, and a day's usage is
shown only when at least :data:`MIN_ORGANIZATIONS` organizations contributed to it: with fewer,
a developer could read one customer's activity (the k-anonymity threshold WordPress-style
bucketing aims at). Such a day says ``"suppressed": true`` and carries no figures.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.marketplace import (
    MarketplaceDownload,
    MarketplaceListing,
    SearchTermCount,
    Submission,
)
from proofpix_plugins.models.plugins import Plugin, PluginMetric
from proofpix_plugins.runtime.hooks.metrics import LatencyHistogram

MIN_ORGANIZATIONS = 3


def window_start(days: int, now: datetime | None = None) -> date:
    return (now or utcnow()).date() - timedelta(days=days - 1)


async def _daily_counts(
    session: AsyncSession, since: date, listing_ids: list[uuid.UUID] | None = None
) -> list[MarketplaceDownload]:
    stmt = select(MarketplaceDownload).where(MarketplaceDownload.day >= since)
    if listing_ids is not None:
        stmt = stmt.where(MarketplaceDownload.listing_id.in_(listing_ids))
    return list((await session.execute(stmt.order_by(MarketplaceDownload.day))).scalars())


async def _usage(session: AsyncSession, plugin_id: str, since: date) -> list[dict[str, Any]]:
    """Per day: calls, error rate and p95 over every organization, or suppressed."""
    start = datetime.combine(since, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    rows = (await session.execute(
        select(PluginMetric).join(Plugin, Plugin.id == PluginMetric.plugin_row_id)
        .where(Plugin.plugin_id == plugin_id, PluginMetric.bucket_start >= start)
    )).scalars().all()
    days: dict[date, list[PluginMetric]] = defaultdict(list)
    for row in rows:
        days[row.bucket_start.date()].append(row)
    out = []
    for day in sorted(days):
        group = days[day]
        orgs = {r.organization_id for r in group}
        if len(orgs) < MIN_ORGANIZATIONS:
            out.append({"day": day, "suppressed": True, "calls": None, "errors": None,
                        "errorRate": None, "p95LatencyMs": None})
            continue
        hist = LatencyHistogram()
        for r in group:
            counts: dict[int | str, int] = {int(i): int(n) for i, n in (r.latency_hist or [])}
            hist.merge(LatencyHistogram.from_counts(counts, sum_ms=r.total_ms))
        calls = sum(r.calls for r in group)
        failures = sum(r.errors + r.timeouts + r.crashed for r in group)
        out.append({"day": day, "suppressed": False, "calls": calls, "errors": failures,
                    "errorRate": round(failures / calls, 4) if calls else 0.0,
                    "p95LatencyMs": hist.quantile(0.95)})
    return out


async def dashboard(session: AsyncSession, developer_id: uuid.UUID, days: int) -> dict[str, Any]:
    since = window_start(days)
    listings = (await session.execute(
        select(MarketplaceListing).where(MarketplaceListing.developer_id == developer_id)
        .order_by(MarketplaceListing.plugin_id))).scalars().all()
    counts = await _daily_counts(session, since, [x.id for x in listings])
    installs_now = dict((await session.execute(
        select(Plugin.plugin_id, func.count()).where(
            Plugin.plugin_id.in_([x.plugin_id for x in listings])).group_by(Plugin.plugin_id)
    )).all())
    by_version = dict(((p, v), n) for p, v, n in (await session.execute(
        select(Plugin.plugin_id, Plugin.version, func.count()).where(
            Plugin.plugin_id.in_([x.plugin_id for x in listings]))
        .group_by(Plugin.plugin_id, Plugin.version))).all())
    plugins = []
    for listing in listings:
        versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in counts:
            if c.listing_id == listing.id:
                versions[c.version].append({"day": c.day, "downloads": c.downloads,
                                            "installs": c.installs})
        names = sorted(set(versions) | {v for p, v in by_version if p == listing.plugin_id})
        plugins.append({
            "pluginId": listing.plugin_id, "status": listing.status.value,
            "downloadsTotal": listing.downloads_total, "installsTotal": listing.installs_total,
            "activeInstalls": int(installs_now.get(listing.plugin_id, 0)),
            "ratingAvg": listing.rating_avg, "ratingCount": listing.rating_count,
            "versions": [{"version": v, "activeInstalls":
                          int(by_version.get((listing.plugin_id, v), 0)),
                          "daily": versions.get(v, [])} for v in names],
            "usage": await _usage(session, listing.plugin_id, since),
        })
    return {"days": days, "since": since, "minOrganizations": MIN_ORGANIZATIONS,
            "plugins": plugins}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


async def platform_analytics(session: AsyncSession, days: int) -> dict[str, Any]:
    since = window_start(days)
    daily: dict[date, dict[str, int]] = defaultdict(lambda: {"downloads": 0, "installs": 0})
    for c in await _daily_counts(session, since):
        daily[c.day]["downloads"] += c.downloads
        daily[c.day]["installs"] += c.installs
    terms = (await session.execute(
        select(SearchTermCount.term, func.sum(SearchTermCount.count).label("n"))
        .where(SearchTermCount.day >= since).group_by(SearchTermCount.term)
        .order_by(func.sum(SearchTermCount.count).desc(), SearchTermCount.term).limit(20)
    )).all()
    categories = (await session.execute(
        select(MarketplaceListing.category, func.count(),
               func.coalesce(func.sum(MarketplaceListing.installs_total), 0))
        .group_by(MarketplaceListing.category).order_by(MarketplaceListing.category))).all()
    start = datetime.combine(since, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    by_status = dict((await session.execute(
        select(Submission.status, func.count()).where(Submission.created_at >= start)
        .group_by(Submission.status))).all())
    decided = (await session.execute(
        select(Submission.created_at, Submission.decided_at).where(
            Submission.created_at >= start, Submission.decided_at.is_not(None)))).all()
    waits = [(d - c).total_seconds() for c, d in decided if d is not None]
    return {
        "days": days, "since": since,
        "daily": [{"day": d, **daily[d]} for d in sorted(daily)],
        "searchTerms": [{"term": t, "count": int(n)} for t, n in terms],
        "categories": [{"category": c, "listings": int(n), "installs": int(i)}
                       for c, n, i in categories],
        "submissions": {
            "byStatus": {s.value if hasattr(s, "value") else str(s): int(n)
                         for s, n in by_status.items()},
            "decided": len(waits),
            "decisionSecondsP50": _percentile(waits, 0.5),
            "decisionSecondsP95": _percentile(waits, 0.95),
        },
    }
