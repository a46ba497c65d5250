"""Rules of the in-memory call metrics: counters, mergeable histogram, quantiles, drain."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofpix_plugins.runtime.hooks.metrics import (
    BUCKET_COUNT,
    LatencyHistogram,
    MetricsRegistry,
    MetricsSnapshot,
    bucket_bounds,
    bucket_index,
    merge_snapshots,
)


class FakeClock:
    """A settable clock: time is beyond the unit under test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(min_value=0.0, max_value=1e7, allow_nan=False))
def test_every_latency_falls_inside_its_bucket_bounds(latency: float) -> None:
    lower, upper = bucket_bounds(bucket_index(latency))
    assert lower <= latency < upper


def test_bucket_edges_are_contiguous_and_log_spaced() -> None:
    previous_upper = 0.0
    for index in range(BUCKET_COUNT):
        lower, upper = bucket_bounds(index)
        assert lower == pytest.approx(previous_upper)
        previous_upper = upper
    assert math.isinf(previous_upper)
    lo, hi = bucket_bounds(40)
    assert hi / lo == pytest.approx(2**0.25)


def test_buckets_cover_the_thirty_second_timeout_without_overflow() -> None:
    assert bucket_index(30_000.0) < BUCKET_COUNT - 1
    assert bucket_index(10**9) == BUCKET_COUNT - 1


def test_negative_and_nan_latencies_land_in_the_first_bucket() -> None:
    assert bucket_index(-5.0) == 0
    assert bucket_index(float("nan")) == 0


def test_bucket_bounds_reject_an_index_out_of_range() -> None:
    with pytest.raises(ValueError, match="bucket index"):
        bucket_bounds(BUCKET_COUNT)


def test_quantiles_of_a_known_distribution_are_within_the_bucket_error() -> None:
    rng = random.Random(7)  # noqa: S311 -- reproducible test data, not crypto
    samples = [rng.lognormvariate(0, 1.0) for _ in range(20_000)]
    hist = LatencyHistogram()
    for s in samples:
        hist.record(s)
    samples.sort()
    for q in (0.5, 0.95, 0.99):
        exact = samples[math.ceil(q * len(samples)) - 1]
        estimate = hist.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.10


def test_quantile_of_a_single_sample_is_close_to_it_and_never_above_the_max() -> None:
    hist = LatencyHistogram()
    hist.record(0.123)
    estimate = hist.quantile(0.99)
    assert estimate is not None
    assert 0.123 / 1.1 < estimate <= 0.123


def test_quantile_of_an_empty_histogram_is_none() -> None:
    assert LatencyHistogram().quantile(0.5) is None


def test_quantile_rejects_a_value_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="quantile"):
        LatencyHistogram().quantile(1.5)


def test_merged_histograms_equal_one_histogram_of_all_samples() -> None:
    rng = random.Random(3)  # noqa: S311 -- reproducible test data, not crypto
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(2000):
        v = rng.expovariate(1 / 5)
        (a if i % 2 else b).record(v)
        both.record(v)
    a.merge(b)
    assert a.counts == both.counts
    assert a.total == both.total
    assert a.quantile(0.95) == both.quantile(0.95)


def test_histogram_round_trips_through_json_bucket_counts() -> None:
    hist = LatencyHistogram()
    for v in (0.05, 0.2, 0.2, 3.0, 4000.0):
        hist.record(v)
    stored = json.loads(json.dumps({str(k): n for k, n in hist.counts.items()}))
    back = LatencyHistogram.from_counts(stored, sum_ms=hist.sum_ms, max_ms=hist.max_ms)
    assert back.counts == hist.counts
    assert back.quantile(0.5) == hist.quantile(0.5)


def test_histogram_from_counts_refuses_a_foreign_bucket_index() -> None:
    with pytest.raises(ValueError, match="bucket index"):
        LatencyHistogram.from_counts({"999": 1})


def test_histogram_from_counts_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        LatencyHistogram.from_counts({"3": -1})


def test_registry_counts_each_status_separately_per_plugin() -> None:
    reg = MetricsRegistry()
    for status in ("ok", "ok", "error", "timeout", "denied", "crashed"):
        reg.record("org1", "acme.a", status, 1.0)
    reg.record("org1", "acme.b", "ok", 1.0)
    reg.record("org2", "acme.a", "error", 1.0)
    snaps = {(s.org_id, s.plugin_id): s for s in reg.drain()}
    a = snaps[("org1", "acme.a")]
    assert (a.count, a.ok, a.errors, a.timeouts, a.denied, a.crashed) == (6, 2, 1, 1, 1, 1)
    assert a.failures == 4
    assert snaps[("org1", "acme.b")].count == 1
    assert snaps[("org2", "acme.a")].errors == 1


def test_registry_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        MetricsRegistry().record("o", "p", "exploded", 1.0)


def test_registry_sums_cpu_http_and_storage_and_keeps_the_peak_rss() -> None:
    reg = MetricsRegistry()
    reg.record("o", "p", "ok", 1.0, cpu_ms=2.5, peak_rss_kb=9000, http_calls=2, storage_bytes=10)
    reg.record("o", "p", "ok", 1.0, cpu_ms=1.5, peak_rss_kb=7000, http_calls=1, storage_bytes=5)
    reg.record("o", "p", "crashed", 1.0, cpu_ms=None, peak_rss_kb=None)
    (snap,) = reg.drain()
    assert snap.cpu_ms == pytest.approx(4.0)
    assert snap.peak_rss_kb == 9000
    assert snap.http_calls == 3
    assert snap.storage_bytes == 15


def test_drain_empties_the_registry_and_stamps_the_window() -> None:
    clock = FakeClock()
    reg = MetricsRegistry(clock=clock)
    reg.record("o", "p", "ok", 1.0)
    clock.now = 1060.0
    (snap,) = reg.drain()
    assert (snap.started_at, snap.ended_at) == (1000.0, 1060.0)
    assert reg.drain() == []
    reg.record("o", "p", "ok", 1.0)
    (second,) = reg.drain()
    assert second.started_at == 1060.0
    assert second.count == 1


def test_peek_returns_a_copy_that_later_calls_do_not_change() -> None:
    reg = MetricsRegistry()
    reg.record("o", "p", "ok", 2.0)
    seen = reg.peek("o", "p")
    reg.record("o", "p", "error", 2.0)
    assert seen is not None
    assert seen.count == 1
    assert reg.peek("o", "missing") is None
    (snap,) = reg.drain()
    assert snap.count == 2


def test_forget_removes_one_plugin_and_returns_its_window() -> None:
    reg = MetricsRegistry()
    reg.record("o", "gone", "ok", 1.0)
    reg.record("o", "kept", "ok", 1.0)
    taken = reg.forget("o", "gone")
    assert taken is not None
    assert taken.count == 1
    assert [s.plugin_id for s in reg.drain()] == ["kept"]


def test_snapshots_of_the_same_plugin_merge_into_one_window() -> None:
    first = MetricsSnapshot("o", "p", started_at=10.0, ended_at=20.0, count=2, ok=2)
    first.latency.record(1.0)
    first.latency.record(2.0)
    second = MetricsSnapshot("o", "p", started_at=20.0, ended_at=30.0, count=1, timeouts=1)
    second.latency.record(5000.0)
    other = MetricsSnapshot("o", "q", started_at=0.0, ended_at=1.0, count=1, ok=1)
    merged = merge_snapshots([first, second, other])
    assert [m.plugin_id for m in merged] == ["p", "q"]
    p = merged[0]
    assert (p.started_at, p.ended_at, p.count, p.ok, p.timeouts) == (10.0, 30.0, 3, 2, 1)
    assert p.latency.total == 3


def test_snapshots_of_different_plugins_refuse_to_merge() -> None:
    a = MetricsSnapshot("o", "p", 0.0, 1.0)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(MetricsSnapshot("o", "q", 0.0, 1.0))


def test_snapshot_dict_is_json_ready_with_camel_case_percentiles() -> None:
    reg = MetricsRegistry()
    for v in (1.0, 2.0, 3.0, 100.0):
        reg.record("o", "p", "ok", v)
    (snap,) = reg.drain()
    wire = json.loads(json.dumps(snap.as_dict()))
    assert wire["pluginId"] == "p"
    assert wire["count"] == 4
    assert wire["latencyMs"]["max"] == 100.0
    assert wire["latencyMs"]["p50"] == pytest.approx(2.0, rel=0.1)
    assert sum(wire["latencyBuckets"].values()) == 4
