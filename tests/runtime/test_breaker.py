"""The circuit breaker's count: consecutive failures only, one trip per run of failures."""

from __future__ import annotations

from proofpix_plugins.runtime.hooks.breaker import CircuitBreaker, trip_reason

KEY = ("org-1", "acme.flaky")


def test_it_trips_at_the_threshold_and_says_how_many_failures() -> None:
    breaker = CircuitBreaker(3)
    assert [breaker.failed(KEY) for _ in range(3)] == [None, None, 3]


def test_a_success_starts_the_count_again() -> None:
    breaker = CircuitBreaker(2)
    assert breaker.failed(KEY) is None
    breaker.succeeded(KEY)
    assert breaker.failed(KEY) is None
    assert breaker.failed(KEY) == 2


def test_failures_while_it_disables_the_plugin_do_not_trip_it_again() -> None:
    breaker = CircuitBreaker(1)
    assert breaker.failed(KEY) == 1
    assert breaker.failed(KEY) is None  # a call still in flight fails too
    breaker.done(KEY)
    breaker.forget(KEY)  # registered again later
    assert breaker.failed(KEY) == 1


def test_the_reason_names_the_count_and_the_last_failure() -> None:
    assert trip_reason(5, "timeout", "timed out after 5000 ms") == (
        "circuit breaker: 5 consecutive failures (last: timeout: timed out after 5000 ms)"
    )
    assert trip_reason(2, "crashed", None) == (
        "circuit breaker: 2 consecutive failures (last: crashed)"
    )
