"""Wait for a condition with a deadline, instead of sleeping a fixed time and hoping.

A fixed sleep is either too short on a loaded CI machine (a flaky failure) or longer than needed
everywhere else. These poll instead, every ``interval`` seconds, until the condition holds or the
deadline passes:

- ``eventually`` / ``eventually_sync``: the condition must come true; fails the test with
  ``what`` after ``seconds`` (10 by default). The deadline is generous on purpose: it is only
  ever reached by a test that is failing anyway.
- ``within``: whether the condition came true within ``seconds``, for a check that may rightly
  stay false (an attack that should be stopped): then ``seconds`` is the grace period its
  evidence gets, and the only time the wait costs.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

TIMEOUT = 10.0
INTERVAL = 0.01


async def _probe(condition: Callable[[], T] | Callable[[], Awaitable[T]]) -> T:
    value = condition()
    if inspect.isawaitable(value):
        return await value
    return value


@overload
async def eventually(
    condition: Callable[[], Awaitable[T]], *, what: str, seconds: float = ..., interval: float = ...
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T], *, what: str, seconds: float = ..., interval: float = ...
) -> T: ...


async def eventually(
    condition: Callable[[], T] | Callable[[], Awaitable[T]],
    *,
    what: str,
    seconds: float = TIMEOUT,
    interval: float = INTERVAL,
) -> T:
    """Poll ``condition`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + seconds
    while True:
        value = await _probe(condition)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what} (last: {value!r})")
        await asyncio.sleep(interval)


def eventually_sync(
    condition: Callable[[], T],
    *,
    what: str,
    seconds: float = TIMEOUT,
    interval: float = INTERVAL,
) -> T:
    """``eventually`` for code with no event loop: blocks between polls."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what} (last: {value!r})")
        time.sleep(interval)


async def within(
    condition: Callable[[], object | Awaitable[object]],
    seconds: float,
    *,
    interval: float = INTERVAL,
) -> bool:
    """Whether ``condition`` became truthy within ``seconds`` (checked once more at the end)."""
    deadline = time.monotonic() + seconds
    while True:
        if await _probe(condition):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
