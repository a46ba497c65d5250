"""The circuit breaker (SPEC §4): a plugin whose calls fail N times in a row is disabled.

Only what a plugin's own worker did counts: a status in :data:`FAILURES` reported by the pool.
A hook the plugin lacks the permission for, a pool shutting down or a runtime fault never
counts. The breaker only counts and decides; the bus disables the plugin when it trips.
"""

from __future__ import annotations

from typing import Final

from proofpix_plugins.runtime.outcome import CallStatus

__all__ = ["FAILURES", "CircuitBreaker", "trip_reason"]

#: Statuses that count as a failure for the circuit breaker.
FAILURES: Final[frozenset[CallStatus]] = frozenset({"error", "timeout", "crashed", "denied"})

Key = tuple[str, str]


class CircuitBreaker:
    """Consecutive failures per (org, plugin); trips once at ``threshold``."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._failures: dict[Key, int] = {}
        # Tripped and being disabled: failures of calls still in flight count no further.
        self._tripped: set[Key] = set()

    def forget(self, key: Key) -> None:
        """Start counting afresh, e.g. when the plugin is registered again."""
        self._failures.pop(key, None)

    def succeeded(self, key: Key) -> None:
        if self._failures.get(key):
            self._failures[key] = 0

    def failed(self, key: Key) -> int | None:
        """Count one failure; when it trips the breaker, the count (call :meth:`done` once the
        plugin is disabled), else None."""
        if key in self._tripped:
            return None
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        if n < self.threshold:
            return None
        self._tripped.add(key)
        return n

    def done(self, key: Key) -> None:
        """The plugin tripped by :meth:`failed` is disabled: the breaker may trip for it again."""
        self._tripped.discard(key)


def trip_reason(failures: int, status: str, error: str | None) -> str:
    """Why the plugin was disabled, as recorded in its ``disabled`` event and shown to admins."""
    return (
        f"circuit breaker: {failures} consecutive failures (last: {status}"
        + (f": {error}" if error else "")
        + ")"
    )
