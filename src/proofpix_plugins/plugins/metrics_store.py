"""Persisting the runtime's in-memory call metrics in per-plugin, per-minute rows, and reading
them back as a window summary with per-bucket detail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.plugins import PluginMetric
from proofpix_plugins.plugins.repository import MetricRow, PluginRepository
from proofpix_plugins.runtime.hooks.metrics import LatencyHistogram, MetricsSnapshot


def bucket_of(ts: float) -> datetime:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.replace(second=0, microsecond=0)


def _hist_of(row: PluginMetric | MetricRow) -> LatencyHistogram:
    counts: dict[int | str, int] = {int(i): int(n) for i, n in (row.latency_hist or [])}
    return LatencyHistogram.from_counts(counts, sum_ms=row.total_ms)


async def persist(session: AsyncSession, snapshots: Sequence[MetricsSnapshot]) -> int:
    """Add each snapshot to its plugin's minute row; returns the rows touched.

    Concurrent flushes (the periodic loop, a metrics read, other API processes) lose nothing:
    the counters are added in the database (``INSERT … ON CONFLICT DO UPDATE SET calls = calls +
    excluded.calls``), and that upsert holds the row's lock while the latency histogram, a JSON
    list no SQL adds, is merged and written in the same transaction. Snapshots of plugins no
    longer installed are dropped (nothing to attach them to).
    """
    repo = PluginRepository(session)
    touched = 0
    for snap in snapshots:
        org = uuid.UUID(snap.org_id)
        row_id = await repo.row_id(org, snap.plugin_id)
        if row_id is None or snap.count == 0:
            continue
        bucket = bucket_of(snap.started_at)
        stored = await repo.add_to_metric_row(
            row_id, org, bucket, calls=snap.count, errors=snap.errors, timeouts=snap.timeouts,
            denied=snap.denied, crashed=snap.crashed, total_ms=snap.latency.sum_ms,
            cpu_ms=snap.cpu_ms, max_rss_kb=snap.peak_rss_kb, http_calls=snap.http_calls,
            storage_bytes=snap.storage_bytes,
        )
        hist = _hist_of(stored)
        hist.merge(snap.latency)
        await repo.set_metric_histogram(stored.id, [[i, n] for i, n in sorted(hist.counts.items())])
        touched += 1
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
