"""Persisting the runtime's in-memory call metrics in per-plugin, per-minute rows, and reading
them back as a window summary with per-bucket detail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.plugins import PluginMetric
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.runtime.hooks.metrics import LatencyHistogram, MetricsSnapshot


def bucket_of(ts: float) -> datetime:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.replace(second=0, microsecond=0)


def _hist_of(row: PluginMetric) -> LatencyHistogram:
    counts: dict[int | str, int] = {int(i): int(n) for i, n in (row.latency_hist or [])}
    return LatencyHistogram.from_counts(counts, sum_ms=row.total_ms)


async def persist(session: AsyncSession, snapshots: Sequence[MetricsSnapshot]) -> int:
    """Fold each snapshot into its plugin's minute row; returns the rows touched.

    Snapshots of plugins no longer installed are dropped (nothing to attach them to).
    """
    repo = PluginRepository(session)
    touched = 0
    for snap in snapshots:
        org = uuid.UUID(snap.org_id)
        row_id = await repo.row_id(org, snap.plugin_id)
        if row_id is None or snap.count == 0:
            continue
        bucket = bucket_of(snap.started_at)
        row = await repo.metric_row(row_id, bucket)
        if row is None:
            row = PluginMetric(
                plugin_row_id=row_id, organization_id=org, bucket_start=bucket,
                calls=0, errors=0, timeouts=0, denied=0, crashed=0, total_ms=0.0,
                latency_hist=[], cpu_ms=0.0, max_rss_kb=0, http_calls=0, storage_bytes=0,
            )
            session.add(row)
        hist = _hist_of(row)
        hist.merge(snap.latency)
        row.calls += snap.count
        row.errors += snap.errors
        row.timeouts += snap.timeouts
        row.denied += snap.denied
        row.crashed += snap.crashed
        row.total_ms = hist.sum_ms
        row.latency_hist = [[i, n] for i, n in sorted(hist.counts.items())]
        row.cpu_ms += snap.cpu_ms
        row.max_rss_kb = max(row.max_rss_kb, snap.peak_rss_kb)
        row.http_calls += snap.http_calls
        row.storage_bytes += snap.storage_bytes
        touched += 1
    await session.flush()
    return touched


def _summary(hist: LatencyHistogram, rows: Sequence[PluginMetric]) -> dict[str, Any]:
    calls = sum(r.calls for r in rows)
    return {
        "calls": calls,
        "errors": sum(r.errors for r in rows),
        "timeouts": sum(r.timeouts for r in rows),
        "denied": sum(r.denied for r in rows),
        "crashed": sum(r.crashed for r in rows),
        "latencyMs": {
            "p50": hist.quantile(0.5),
            "p95": hist.quantile(0.95),
            "p99": hist.quantile(0.99),
            "mean": hist.mean_ms,
        },
        "cpuMs": round(sum(r.cpu_ms for r in rows), 3),
        "maxRssKb": max((r.max_rss_kb for r in rows), default=0),
        "httpCalls": sum(r.http_calls for r in rows),
        "storageBytes": sum(r.storage_bytes for r in rows),
    }


async def window(
    session: AsyncSession, plugin_row_id: uuid.UUID, minutes: int, now: datetime | None = None
) -> dict[str, Any]:
    end = now or datetime.now(UTC)
    since = bucket_of((end - timedelta(minutes=minutes)).timestamp())
    rows = await PluginRepository(session).metric_rows(plugin_row_id, since)
    total = LatencyHistogram()
    buckets = []
    for row in rows:
        hist = _hist_of(row)
        total.merge(hist)
        buckets.append({"bucketStart": row.bucket_start, **_summary(hist, [row])})
    return {"windowMinutes": minutes, **_summary(total, rows), "buckets": buckets}
