"""Persisting the runtime's in-memory call metrics in per-plugin, per-minute rows, and reading
them back as a window summary with per-bucket detail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Text, and_, bindparam, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from proofpix_plugins.models.plugins import Plugin, PluginMetric
from proofpix_plugins.plugins.repository import PluginRepository
from proofpix_plugins.runtime.hooks.metrics import (
    LatencyHistogram,
    MetricsSnapshot,
    clean_counts,
    ranked_values,
)


def bucket_of(ts: float) -> datetime:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.replace(second=0, microsecond=0)


def _hist_of(row: Any) -> LatencyHistogram:
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


_QUANTILES = (0.5, 0.95, 0.99)


def _latency(hist: LatencyHistogram) -> dict[str, float | None]:
    p50, p95, p99 = hist.quantiles(_QUANTILES)
    return {"p50": p50, "p95": p95, "p99": p99, "mean": hist.mean_ms}


def _since(minutes: int, now: datetime | None) -> datetime:
    end = now or datetime.now(UTC)
    return bucket_of((end - timedelta(minutes=minutes)).timestamp())


async def window(
    session: AsyncSession, plugin_row_id: uuid.UUID, minutes: int, now: datetime | None = None
) -> dict[str, Any]:
    rows = await PluginRepository(session).metric_rows(plugin_row_id, _since(minutes, now))
    return _shape(minutes, [_minute_of(r) for r in rows])


#: What the window reads of a minute row: no ``id``/``organization_id``, nothing the ORM builds.
_WINDOW_COLUMNS = tuple(
    PluginMetric.__table__.c[name] for name in (
        "bucket_start", "calls", "errors", "timeouts", "denied", "crashed", "total_ms",
        "latency_hist", "cpu_ms", "max_rss_kb", "http_calls", "storage_bytes",
    )
)


_PLUGINS = Plugin.__table__
_METRICS = PluginMetric.__table__
#: Built once: building the select per read cost more than PostgreSQL's execution of it.
#: The histogram comes as its JSON text, decoded by msgspec in :func:`_pairs` (the driver's
#: ``json.loads`` per minute row was a sixth of the statement's cost in process).
_WINDOW = (
    select(_PLUGINS.c.id, *(
        cast(c, Text).label(c.name) if c.name == "latency_hist" else c for c in _WINDOW_COLUMNS))
    .select_from(_PLUGINS.outerjoin(_METRICS, and_(
        _METRICS.c.plugin_row_id == _PLUGINS.c.id,
        _METRICS.c.bucket_start >= bindparam("since"),
    )))
    .where(_PLUGINS.c.organization_id == bindparam("org"),
           _PLUGINS.c.plugin_id == bindparam("plugin"))
    .order_by(_METRICS.c.bucket_start)
)


async def plugin_window(
    session: AsyncSession, org_id: uuid.UUID, plugin_id: str, minutes: int,
    now: datetime | None = None, *, pending: MetricsSnapshot | None = None,
) -> dict[str, Any] | None:
    """:func:`window` for a plugin named by its organization and id, in one statement: None
    when the organization has no such plugin.

    The plugin row LEFT JOINs its minute rows of the window (a range on the ``(plugin_row_id,
    bucket_start)`` unique index), so a plugin with no calls yet is one row of NULL counters,
    and an unknown plugin none. One round trip instead of four (BEGIN, the plugin's ORM row,
    the minute rows, COMMIT) when the caller runs it outside a transaction, and plain rows
    from the session's connection (a Core statement needs none of the ORM's execution).

    ``pending``: this process's calls not flushed yet (``PluginMetrics.peek``), added as
    :func:`persist` would add them, so the answer is what a flush then a read would give
    without the flush's write transaction on the read path.
    """
    since = _since(minutes, now)
    conn = await session.connection()
    rows = (await conn.execute(_WINDOW, {"since": since, "org": org_id,
                                         "plugin": plugin_id})).all()
    if not rows:
        return None
    minutes_rows: list[Any] = [r[1:] for r in rows if r[1] is not None]
    if pending is not None and pending.count > 0:
        minutes_rows = _with_pending(minutes_rows, pending, since)
    return _shape(minutes, minutes_rows)


class _Minute(NamedTuple):
    """A minute row as the window reads it (``_WINDOW_COLUMNS``' order), and as :func:`persist`
    leaves it for a read that adds unflushed calls. A plain tuple of the same fields serves too:
    :func:`_shape` unpacks rows instead of reading attributes."""

    bucket_start: datetime
    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    denied: int = 0
    crashed: int = 0
    total_ms: float = 0.0
    latency_hist: list[list[int]] | None = None
    cpu_ms: float = 0.0
    max_rss_kb: int = 0
    http_calls: int = 0
    storage_bytes: int = 0


def _minute_of(row: Any) -> _Minute:
    """An ORM minute row (:func:`window`) as the tuple the shape takes."""
    return _Minute(*(getattr(row, c.name) for c in _WINDOW_COLUMNS))


def _with_pending(rows: list[Any], snap: MetricsSnapshot, since: datetime) -> list[Any]:
    """``rows`` with ``snap`` added to its minute (the minute it started in, as persist)."""
    bucket = bucket_of(snap.started_at)
    if bucket < since:
        return rows
    at = next((i for i, r in enumerate(rows) if r[0] == bucket), None)
    base = _Minute(*rows[at]) if at is not None else None
    counts: dict[int, int] = {int(i): int(n) for i, n in (
        _hist_list(base.latency_hist) if base is not None else [])}
    for index, n in snap.latency.counts.items():
        counts[index] = counts.get(index, 0) + n
    minute = _Minute(
        bucket_start=bucket,
        calls=(base.calls if base else 0) + snap.count,
        errors=(base.errors if base else 0) + snap.errors,
        timeouts=(base.timeouts if base else 0) + snap.timeouts,
        denied=(base.denied if base else 0) + snap.denied,
        crashed=(base.crashed if base else 0) + snap.crashed,
        total_ms=(base.total_ms if base else 0.0) + snap.latency.sum_ms,
        latency_hist=[[i, n] for i, n in sorted(counts.items())],
        cpu_ms=(base.cpu_ms if base else 0.0) + snap.cpu_ms,
        max_rss_kb=max(base.max_rss_kb if base else 0, snap.peak_rss_kb),
        http_calls=(base.http_calls if base else 0) + snap.http_calls,
        storage_bytes=(base.storage_bytes if base else 0) + snap.storage_bytes,
    )
    out = list(rows)
    if at is not None:
        out[at] = minute
    else:
        out.append(minute)
        out.sort(key=lambda r: r[0])
    return out


def _hist_list(hist: Any) -> Any:
    """A stored histogram as its list: the window reads it as JSON text, the ORM as a list."""
    if isinstance(hist, str):
        return msgspec.json.decode(hist)
    return hist or ()


def _pairs(bucket_start: datetime, hist: Any) -> list[tuple[int, int]]:
    """A minute's histogram as ascending (bucket, count) pairs, checked as
    LatencyHistogram.from_counts checks them (the same :func:`clean_counts`)."""
    try:
        return sorted(clean_counts(_hist_list(hist)).items())
    except ValueError as exc:
        raise ValueError(f"metric row {bucket_start}: bad histogram: {exc}") from None


def _quick_latency(pairs: list[tuple[int, int]], sum_ms: float) -> dict[str, float | None]:
    """:func:`_latency` of a histogram given as ascending pairs, without building one."""
    total = sum(n for _, n in pairs)
    p50, p95, p99 = ranked_values(pairs, total, _QUANTILES)
    return {"p50": p50, "p95": p95, "p99": p99, "mean": sum_ms / total if total else None}


def _shape(minutes: int, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    # Per minute row: its own figures straight from its columns, its histogram walked once,
    # the window's sums in the same loop (the read's Python cost was a LatencyHistogram, a
    # one-row summary and a dozen attribute reads per minute).
    total = LatencyHistogram()
    counts = total.counts
    calls_t = errors_t = timeouts_t = denied_t = crashed_t = http_t = storage_t = rss_t = 0
    cpu_t = 0.0
    buckets = []
    for (bucket_start, calls, errors, timeouts, denied, crashed, total_ms, hist, cpu_ms,
         max_rss_kb, http_calls, storage_bytes) in rows:
        pairs = _pairs(bucket_start, hist)
        for index, n in pairs:
            counts[index] = counts.get(index, 0) + n
            total.total += n
        total.sum_ms += total_ms
        calls_t += calls
        errors_t += errors
        timeouts_t += timeouts
        denied_t += denied
        crashed_t += crashed
        cpu_t += cpu_ms
        http_t += http_calls
        storage_t += storage_bytes
        if max_rss_kb > rss_t:
            rss_t = max_rss_kb
        buckets.append({
            "bucketStart": bucket_start,
            "calls": calls,
            "errors": errors,
            "timeouts": timeouts,
            "denied": denied,
            "crashed": crashed,
            "latencyMs": _quick_latency(pairs, total_ms),
            "cpuMs": round(float(cpu_ms), 3),
            "maxRssKb": max(max_rss_kb, 0),
            "httpCalls": http_calls,
            "storageBytes": storage_bytes,
        })
    return {"windowMinutes": minutes, "calls": calls_t, "errors": errors_t,
            "timeouts": timeouts_t, "denied": denied_t, "crashed": crashed_t,
            "latencyMs": _latency(total), "cpuMs": round(cpu_t, 3), "maxRssKb": rss_t,
            "httpCalls": http_t, "storageBytes": storage_t, "buckets": buckets}
