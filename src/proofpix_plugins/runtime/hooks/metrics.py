"""Per-(organization, plugin) call metrics, aggregated in memory and drained in batches.

Every sandboxed call ends in one :meth:`MetricsRegistry.record`; the lifecycle layer calls
:meth:`MetricsRegistry.drain` on a timer and persists the snapshots, so the hot path never
touches the database.

Latencies go into a histogram with *fixed* log-spaced buckets (four per doubling, from 10 µs to
~168 s). Fixed bounds are what make snapshots mergeable: two windows, two nodes or two rows in
``plugin_metrics`` add bucket by bucket, and p50/p95/p99 are estimated from the merged counts.
The estimate is the geometric middle of the bucket holding the quantile, so its relative error is
at most ±9 % (half a bucket of ratio 2**0.25), which is plenty for an operations dashboard.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

CallStatus = Literal["ok", "error", "timeout", "denied", "crashed"]
STATUSES: Final[tuple[CallStatus, ...]] = ("ok", "error", "timeout", "denied", "crashed")

#: Lower edge of bucket 1, in milliseconds; bucket 0 holds everything faster.
BUCKET_LOW_MS: Final = 0.01
#: Ratio between consecutive bucket edges (four buckets per doubling).
BUCKET_GROWTH: Final = 2.0**0.25
#: Number of buckets; the last one is the overflow bucket (≥ ~168 s).
BUCKET_COUNT: Final = 98

_LOG_GROWTH: Final = math.log(BUCKET_GROWTH)
_LOG_LOW: Final = math.log(BUCKET_LOW_MS)


def bucket_index(latency_ms: float) -> int:
    """The bucket a latency falls in: 0 below 10 µs, ``BUCKET_COUNT - 1`` for overflow."""
    if not latency_ms >= BUCKET_LOW_MS:  # also catches NaN and negatives
        return 0
    index = int((math.log(latency_ms) - _LOG_LOW) / _LOG_GROWTH) + 1
    if index >= BUCKET_COUNT - 1:
        return BUCKET_COUNT - 1
    # The logarithm can land one bucket off exactly at an edge; the edges are the contract.
    lower, upper = bucket_bounds(index)
    if latency_ms < lower:
        return index - 1
    if latency_ms >= upper:
        return index + 1
    return index


def bucket_bounds(index: int) -> tuple[float, float]:
    """``[lower, upper)`` edges of bucket ``index`` in ms (0 and ``inf`` at the ends)."""
    if not 0 <= index < BUCKET_COUNT:
        raise ValueError(f"bucket index must be in [0, {BUCKET_COUNT}), got {index}")
    lower = 0.0 if index == 0 else BUCKET_LOW_MS * BUCKET_GROWTH ** (index - 1)
    upper = math.inf if index == BUCKET_COUNT - 1 else BUCKET_LOW_MS * BUCKET_GROWTH**index
    return lower, upper


def _representative(index: int) -> float:
    lower, upper = bucket_bounds(index)
    if index == 0:
        return BUCKET_LOW_MS / 2
    if math.isinf(upper):
        return lower
    return math.sqrt(lower * upper)


#: Each bucket's representative value, computed once: a metrics read asks for three
#: quantiles of every minute of its window (61 histograms for an hour).
REPRESENTATIVES: tuple[float, ...] = tuple(_representative(i) for i in range(BUCKET_COUNT))


def clean_counts(pairs: Iterable[tuple[int | str, int]]) -> dict[int, int]:
    """Persisted (bucket, count) pairs (JSON turns keys into strings) as bucket counts: an index
    out of range or a negative count refused, empty buckets dropped, repeated buckets added."""
    clean: dict[int, int] = {}
    for key, n in pairs:
        index = int(key)
        if not 0 <= index < BUCKET_COUNT:
            raise ValueError(f"bucket index must be in [0, {BUCKET_COUNT}), got {key!r}")
        if n < 0:
            raise ValueError(f"bucket {key!r} has a negative count")
        if n:
            clean[index] = clean.get(index, 0) + int(n)
    return clean


def ranked_values(
    pairs: Iterable[tuple[int, int]], total: int, qs: Sequence[float]
) -> list[float | None]:
    """Each quantile of ``qs`` (ascending) as its bucket's representative, in one walk over
    ascending (bucket, count) pairs summing to ``total``; None where the walk ends first."""
    out: list[float | None] = [None] * len(qs)
    if total == 0:
        return out
    ranks = [math.ceil(q * total) for q in qs]
    at = seen = 0
    for index, n in pairs:
        seen += n
        while at < len(ranks) and seen >= ranks[at]:
            out[at] = REPRESENTATIVES[index]
            at += 1
        if at == len(ranks):
            break
    return out


@dataclass
class LatencyHistogram:
    """Sparse counts over the fixed buckets, plus exact count, sum and max."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0

    def record(self, latency_ms: float) -> None:
        index = bucket_index(latency_ms)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        if latency_ms > 0:
            self.sum_ms += latency_ms
            self.max_ms = max(self.max_ms, latency_ms)

    def merge(self, other: LatencyHistogram) -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.total += other.total
        self.sum_ms += other.sum_ms
        self.max_ms = max(self.max_ms, other.max_ms)

    def quantile(self, q: float) -> float | None:
        """Estimated latency at quantile ``q`` (0 < q ≤ 1), ``None`` when empty.

        Never above the exact maximum seen, so a single sample reports itself closely.
        """
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        if self.total == 0:
            return None
        rank = math.ceil(q * self.total)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                value = _representative(index)
                return min(value, self.max_ms) if self.max_ms > 0 else value
        return self.max_ms  # unreachable while counts and total agree

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """:meth:`quantile` for each of ``qs`` (ascending), in one pass over the buckets."""
        if any(not 0 < q <= 1 for q in qs) or list(qs) != sorted(qs):
            raise ValueError(f"quantiles must be ascending in (0, 1], got {qs}")
        if self.total == 0:
            return [None] * len(qs)
        values = ranked_values(sorted(self.counts.items()), self.total, qs)
        # None only where counts and total disagree (unreachable): the exact maximum then.
        return [self.max_ms if v is None else min(v, self.max_ms) if self.max_ms > 0 else v
                for v in values]

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.total if self.total else None

    @classmethod
    def from_counts(
        cls, counts: Mapping[int | str, int], *, sum_ms: float = 0.0, max_ms: float = 0.0
    ) -> LatencyHistogram:
        """Rebuild from persisted bucket counts (JSON turns the keys into strings)."""
        clean = clean_counts(counts.items())
        return cls(counts=clean, total=sum(clean.values()), sum_ms=sum_ms, max_ms=max_ms)


@dataclass
class MetricsSnapshot:
    """What one (organization, plugin) did during one window ``[started_at, ended_at)``."""

    org_id: str
    plugin_id: str
    started_at: float
    ended_at: float
    count: int = 0
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    denied: int = 0
    crashed: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    cpu_ms: float = 0.0
    peak_rss_kb: int = 0
    http_calls: int = 0
    storage_bytes: int = 0

    def percentile(self, p: float) -> float | None:
        """Latency in ms at percentile ``p`` (e.g. 95), estimated from the buckets."""
        return self.latency.quantile(p / 100)

    @property
    def p50_ms(self) -> float | None:
        return self.latency.quantile(0.50)

    @property
    def p95_ms(self) -> float | None:
        return self.latency.quantile(0.95)

    @property
    def p99_ms(self) -> float | None:
        return self.latency.quantile(0.99)

    @property
    def failures(self) -> int:
        return self.errors + self.timeouts + self.denied + self.crashed

    def merge(self, other: MetricsSnapshot) -> None:
        """Fold a later (or concurrent) window of the same plugin into this one."""
        if (other.org_id, other.plugin_id) != (self.org_id, self.plugin_id):
            raise ValueError(
                f"cannot merge metrics of {other.org_id}/{other.plugin_id} "
                f"into {self.org_id}/{self.plugin_id}"
            )
        self.started_at = min(self.started_at, other.started_at)
        self.ended_at = max(self.ended_at, other.ended_at)
        self.count += other.count
        self.ok += other.ok
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.denied += other.denied
        self.crashed += other.crashed
        self.latency.merge(other.latency)
        self.cpu_ms += other.cpu_ms
        self.peak_rss_kb = max(self.peak_rss_kb, other.peak_rss_kb)
        self.http_calls += other.http_calls
        self.storage_bytes += other.storage_bytes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``latencyBuckets`` keys are bucket indexes (see ``bucket_bounds``)."""
        return {
            "orgId": self.org_id,
            "pluginId": self.plugin_id,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "count": self.count,
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "denied": self.denied,
            "crashed": self.crashed,
            "latencyMs": {
                "p50": self.p50_ms,
                "p95": self.p95_ms,
                "p99": self.p99_ms,
                "mean": self.latency.mean_ms,
                "max": self.latency.max_ms,
            },
            "latencyBuckets": {str(k): v for k, v in sorted(self.latency.counts.items())},
            "latencySumMs": self.latency.sum_ms,
            "cpuMs": self.cpu_ms,
            "peakRssKb": self.peak_rss_kb,
            "httpCalls": self.http_calls,
            "storageBytes": self.storage_bytes,
        }


class MetricsRegistry:
    """In-memory aggregation of call metrics per (organization, plugin).

    ``record`` is called on the event loop for every call; ``drain`` and ``peek`` may come from
    another thread (a flush task), hence the lock: it is uncontended and costs well under a µs.
    """

    def __init__(self, *, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._current: dict[tuple[str, str], MetricsSnapshot] = {}

    def record(
        self,
        org_id: str,
        plugin_id: str,
        status: str,
        duration_ms: float,
        *,
        cpu_ms: float | None = None,
        peak_rss_kb: int | None = None,
        http_calls: int = 0,
        storage_bytes: int = 0,
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        key = (org_id, plugin_id)
        with self._lock:
            snap = self._current.get(key)
            if snap is None:
                now = self._clock()
                snap = MetricsSnapshot(org_id, plugin_id, started_at=now, ended_at=now)
                self._current[key] = snap
            snap.count += 1
            if status == "ok":
                snap.ok += 1
            elif status == "error":
                snap.errors += 1
            elif status == "timeout":
                snap.timeouts += 1
            elif status == "denied":
                snap.denied += 1
            else:
                snap.crashed += 1
            snap.latency.record(duration_ms)
            if cpu_ms is not None and cpu_ms > 0:
                snap.cpu_ms += cpu_ms
            if peak_rss_kb is not None and peak_rss_kb > snap.peak_rss_kb:
                snap.peak_rss_kb = peak_rss_kb
            if http_calls > 0:
                snap.http_calls += http_calls
            if storage_bytes > 0:
                snap.storage_bytes += storage_bytes

    def drain(self) -> list[MetricsSnapshot]:
        """Hand over every window collected since the last drain and start new ones."""
        now = self._clock()
        with self._lock:
            taken, self._current = self._current, {}
        for snap in taken.values():
            snap.ended_at = now
        return sorted(taken.values(), key=lambda s: (s.org_id, s.plugin_id))

    def restore(self, snapshots: Iterable[MetricsSnapshot]) -> None:
        """Put back windows taken by :meth:`drain` that could not be persisted (a failed
        flush), merged with what was recorded since, so the next flush writes them."""
        with self._lock:
            for snap in snapshots:
                key = (snap.org_id, snap.plugin_id)
                since = self._current.get(key)
                if since is not None:
                    snap.merge(since)
                self._current[key] = snap

    def peek(self, org_id: str, plugin_id: str) -> MetricsSnapshot | None:
        """A copy of the current (undrained) window of one plugin, for live views."""
        with self._lock:
            snap = self._current.get((org_id, plugin_id))
            if snap is None:
                return None
            copy = MetricsSnapshot(org_id, plugin_id, snap.started_at, self._clock())
            copy.merge(snap)
            copy.started_at = snap.started_at
            return copy

    def forget(self, org_id: str, plugin_id: str) -> MetricsSnapshot | None:
        """Remove and return one plugin's window (on uninstall, so it can still be persisted)."""
        with self._lock:
            snap = self._current.pop((org_id, plugin_id), None)
        if snap is not None:
            snap.ended_at = self._clock()
        return snap


def merge_snapshots(snapshots: Iterable[MetricsSnapshot]) -> list[MetricsSnapshot]:
    """Fold many windows into one per (organization, plugin), e.g. for a time-bucket rollup."""
    merged: dict[tuple[str, str], MetricsSnapshot] = {}
    for snap in snapshots:
        key = (snap.org_id, snap.plugin_id)
        into = merged.get(key)
        if into is None:
            into = MetricsSnapshot(snap.org_id, snap.plugin_id, snap.started_at, snap.ended_at)
            merged[key] = into
        into.merge(snap)
    return sorted(merged.values(), key=lambda s: (s.org_id, s.plugin_id))
