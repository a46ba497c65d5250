"""Metric flushes add to the minute rows in the database: concurrent flushes lose nothing, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs.registry import JobContext, JobRegistry
from proofpix_plugins.models.accounts import Organization
from proofpix_plugins.models.plugins import Plugin, PluginMetric
from proofpix_plugins.plugins import metrics_store
from proofpix_plugins.plugins import tasks as plugin_tasks
from proofpix_plugins.runtime.hooks.metrics import BUCKET_COUNT, LatencyHistogram, MetricsSnapshot


async def _plugin(sessions: async_sessionmaker[AsyncSession]) -> tuple[uuid.UUID, uuid.UUID]:
    async with session_scope(sessions) as s:
        org = Organization(name="m", slug=f"m-{uuid.uuid4().hex[:12]}")
        s.add(org)
        await s.flush()
        row = Plugin(organization_id=org.id, plugin_id="acme.m", name="m", version="1.0.0",
                     type="analyzer", category="metadata", artifact_sha256="0" * 64,
                     install_path="/nowhere")
        s.add(row)
        await s.flush()
        return org.id, row.id


def _snapshot(org: uuid.UUID, at: float, latency_ms: float) -> MetricsSnapshot:
    hist = LatencyHistogram()
    for _ in range(3):
        hist.record(latency_ms)
    return MetricsSnapshot(org_id=str(org), plugin_id="acme.m", started_at=at, ended_at=at + 1,
                           count=3, errors=1, timeouts=1, cpu_ms=2.5, peak_rss_kb=int(latency_ms),
                           http_calls=2, storage_bytes=10, latency=hist)


async def test_concurrent_flushes_into_one_minute_row_lose_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    org, row_id = await _plugin(session_factory)
    minute = (time.time() // 60) * 60 + 1  # every flush lands in the same bucket
    flushes = 12

    async def flush(i: int) -> int:
        async with session_scope(session_factory) as s:
            return await metrics_store.persist(s, [_snapshot(org, minute, 10.0 * (i + 1))])

    assert await asyncio.gather(*(flush(i) for i in range(flushes))) == [1] * flushes
    async with session_scope(session_factory) as s:
        summary = await metrics_store.window(s, row_id, 5)
    [bucket] = summary["buckets"]
    assert (summary["calls"], summary["errors"], summary["timeouts"]) == (
        3 * flushes, flushes, flushes)
    assert (summary["httpCalls"], summary["storageBytes"]) == (2 * flushes, 10 * flushes)
    assert summary["cpuMs"] == 2.5 * flushes
    assert summary["maxRssKb"] == 10 * flushes
    assert bucket["calls"] == 3 * flushes
    # Every latency sample is in the histogram: the mean is over all of them.
    expected_mean = sum(10.0 * (i + 1) for i in range(flushes)) / flushes
    assert abs(summary["latencyMs"]["mean"] - expected_mean) < 1e-6


async def test_the_retention_job_deletes_only_buckets_older_than_the_retention(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    org, row_id = await _plugin(session_factory)
    now = time.time()
    old, recent = now - 40 * 86400, now - 2 * 86400
    async with session_scope(session_factory) as s:
        await metrics_store.persist(s, [_snapshot(org, old, 5.0), _snapshot(org, recent, 5.0)])
    registry = JobRegistry()
    plugin_tasks.register(registry, retention=timedelta(days=30))
    spec = registry.get(plugin_tasks.METRICS_RETENTION)
    assert spec is not None

    # The handler only needs the session factory; the queue's own tests cover claiming it.
    await spec.handler(JobContext(cast(Any, None), session_factory))

    async with session_scope(session_factory) as s:
        starts = (await s.scalars(
            select(PluginMetric.bucket_start).where(PluginMetric.plugin_row_id == row_id))).all()
    assert [b.timestamp() for b in starts] == [(recent // 60) * 60]


async def test_the_one_statement_window_matches_the_row_window_and_scopes_by_organization(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    org, row_id = await _plugin(session_factory)
    now = time.time()
    async with session_scope(session_factory) as s:
        await metrics_store.persist(s, [_snapshot(org, now - 120, 5.0), _snapshot(org, now, 40.0),
                                        _snapshot(org, now - 3 * 3600, 7.0)])
    async with session_scope(session_factory) as s:
        by_row = await metrics_store.window(s, row_id, 60)
        by_name = await metrics_store.plugin_window(s, org, "acme.m", 60)
        assert by_name == by_row
        assert len(by_row["buckets"]) == 2  # the 3-hour-old minute is out of the window
        assert by_row["calls"] == 6
        # Another organization, an unknown id: no plugin (the API's 404), not an empty window.
        assert await metrics_store.plugin_window(s, uuid.uuid4(), "acme.m", 60) is None
        assert await metrics_store.plugin_window(s, org, "acme.none", 60) is None
        # A plugin with no calls: one joined row of NULLs, shaped as an empty window.
        s.add(Plugin(organization_id=org, plugin_id="acme.quiet", name="q", version="1.0.0",
                     type="analyzer", category="metadata", artifact_sha256="0" * 64,
                     install_path="/nowhere"))
        await s.flush()
        empty = await metrics_store.plugin_window(s, org, "acme.quiet", 60)
    assert empty is not None
    assert (empty["calls"], empty["crashed"], empty["buckets"]) == (0, 0, [])
    assert empty["windowMinutes"] == 60


def test_quantiles_in_one_pass_equal_each_quantile() -> None:
    hist = LatencyHistogram()
    for ms in (0.01, 0.4, 0.4, 3.0, 7.5, 12.0, 80.0, 80.0, 900.0, 2500.0, 1e6):
        hist.record(ms)
    qs = (0.01, 0.5, 0.9, 0.95, 0.99, 1.0)
    assert hist.quantiles(qs) == [hist.quantile(q) for q in qs]
    assert LatencyHistogram().quantiles(qs) == [None] * len(qs)


def _reference_summary(hist: LatencyHistogram, rows: Sequence[Any]) -> dict[str, Any]:
    calls = errors = timeouts = denied = crashed = http_calls = storage_bytes = max_rss = 0
    cpu_ms = 0.0
    for r in rows:
        calls += r.calls
        errors += r.errors
        timeouts += r.timeouts
        denied += r.denied
        crashed += r.crashed
        cpu_ms += r.cpu_ms
        http_calls += r.http_calls
        storage_bytes += r.storage_bytes
        if r.max_rss_kb > max_rss:
            max_rss = r.max_rss_kb
    return {
        "calls": calls,
        "errors": errors,
        "timeouts": timeouts,
        "denied": denied,
        "crashed": crashed,
        "latencyMs": metrics_store._latency(hist),
        "cpuMs": round(cpu_ms, 3),
        "maxRssKb": max_rss,
        "httpCalls": http_calls,
        "storageBytes": storage_bytes,
    }


def _reference_shape(minutes: int, rows: list[Any]) -> dict[str, Any]:
    """The read's shape as it was computed before the fast path: a LatencyHistogram and a
    one-row summary per minute (what the API answered until then)."""
    total = LatencyHistogram()
    buckets = []
    for row in rows:
        hist = LatencyHistogram.from_counts(
            {int(i): int(n) for i, n in (row.latency_hist or [])}, sum_ms=row.total_ms)
        total.merge(hist)
        buckets.append({"bucketStart": row.bucket_start,
                        **_reference_summary(hist, [row])})
    return {"windowMinutes": minutes, **_reference_summary(total, rows),
            "buckets": buckets}


_minute_rows = st.lists(st.builds(
    lambda k, calls, hist, total_ms, cpu, rss: metrics_store._Minute(
        bucket_start=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=k), calls=calls,
        errors=calls // 3, timeouts=calls // 5, denied=calls // 7, crashed=calls // 11,
        total_ms=total_ms, latency_hist=[[i, n] for i, n in sorted(hist.items())],
        cpu_ms=cpu, max_rss_kb=rss, http_calls=calls // 2, storage_bytes=calls * 3),
    st.integers(0, 1000), st.integers(0, 10_000),
    st.dictionaries(st.integers(0, BUCKET_COUNT - 1), st.integers(0, 10_000), max_size=8),
    st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e4, allow_nan=False),
    st.integers(0, 10**7),
), max_size=30)


@given(rows=_minute_rows)
def test_the_fast_window_shape_answers_what_the_histogram_path_answered(
    rows: list[Any],
) -> None:
    rows = sorted(rows, key=lambda r: r.bucket_start)
    expected = _reference_shape(60, rows)
    assert metrics_store._shape(60, rows) == expected
    # As the window's statement reads them: the histogram as its JSON text.
    as_text = [r._replace(latency_hist=json.dumps(r.latency_hist)) for r in rows]
    assert metrics_store._shape(60, as_text) == expected


def test_a_corrupt_stored_histogram_is_refused_not_misread() -> None:
    bad = metrics_store._Minute(bucket_start=datetime(2026, 1, 1, tzinfo=UTC),
                                latency_hist=[[BUCKET_COUNT, 1]])
    with pytest.raises(ValueError, match="histogram"):
        metrics_store._shape(60, [bad])
    with pytest.raises(ValueError, match="histogram"):
        metrics_store._shape(60, [metrics_store._Minute(
            bucket_start=datetime(2026, 1, 1, tzinfo=UTC), latency_hist=[[3, -1]])])
