"""A plugin's timeout is charged for its own time, not for the host's: the time the host spends
serving its storage requests is credited back to the call's deadline, at most once its budget
(found by bench/load.py's soak: on a loaded SQLite host, upload-counter's three storage writes
queued for the write lock past its 1 s budget)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.runtime.sandbox_kit import plugin_tree, traversable_dir
from tests.runtime.test_hooks_bus import World, spec

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.hooks.bus import HookBus
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.host.worker_handle import _waited_since

SOURCE = '''
import time


def writes(event, ctx):
    for i in range(event["n"]):
        ctx.storage.set(f"k{i}", i)
    return {"wrote": event["n"]}


def write_forever(event, ctx):
    i = 0
    while True:
        ctx.storage.set("k", i)
        i += 1


def reads_after_a_nap(event, ctx):
    time.sleep(0.05)
    for _ in range(3):
        ctx.storage.get("k")
    return "read"


def slow_self(event, ctx):
    ctx.storage.set("k", 1)
    time.sleep(event["sleep"])
    return "late"
'''


class SlowStorage(MemoryBroker):
    """Storage writes that wait like a write queued for a busy database's lock."""

    delay_s = 0.25

    async def storage_set(self, org_id: str, plugin_id: str, key: str, value: Any) -> None:
        await asyncio.sleep(self.delay_s)
        await super().storage_set(org_id, plugin_id, key, value)


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    with traversable_dir("pp-credit") as path:
        yield path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(base: Path) -> AsyncIterator[World]:
    runtime_dir = base / "runtime"
    runtime_dir.mkdir(mode=0o711)
    runtime_dir.chmod(0o711)
    config = RuntimeConfig(base_dir=runtime_dir)
    broker = SlowStorage()
    pool = WorkerPool(config, broker)
    await pool.start()
    try:
        tree = plugin_tree(base, "credit", SOURCE)
        yield World(pool, broker, config, tree, tree)
    finally:
        await pool.close()


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _bus(world: World, timeout_ms: int) -> tuple[HookBus, str]:
    bus = HookBus(world.pool, world.broker, RuntimeConfig(base_dir=world.config.base_dir))
    org = "org-" + secrets.token_hex(3)
    await bus.activate(spec(world, org, "acme.writer", {
        "custom:writes": ("writes", 50), "custom:forever": ("write_forever", 50),
        "custom:slow": ("slow_self", 50), "custom:reads": ("reads_after_a_nap", 50)},
        permissions=frozenset({"storage"}), timeout_ms=timeout_ms))
    return bus, org


async def test_time_the_host_spends_on_storage_writes_is_not_the_plugins(world: World) -> None:
    bus, org = await _bus(world, timeout_ms=500)
    # Three writes of 0.25 s each: 0.75 s of the host's time, past the plugin's 500 ms.
    [res] = (await bus.execute_hook(org, "custom:writes", {"n": 3})).results
    assert res.status == "ok", res.error
    assert res.result == {"wrote": 3}


async def test_the_credit_is_capped_so_host_calls_cannot_stretch_a_call_for_ever(
    world: World,
) -> None:
    bus, org = await _bus(world, timeout_ms=400)
    started = time.monotonic()
    [res] = (await bus.execute_hook(org, "custom:forever", {})).results
    elapsed = time.monotonic() - started
    assert res.status == "timeout"
    # At most its budget again: 0.4 s + 0.4 s of credit (and a worker's kill), not for ever.
    assert 0.75 < elapsed < 1.6, elapsed


async def test_the_plugins_own_time_is_still_charged(world: World) -> None:
    bus, org = await _bus(world, timeout_ms=400)
    started = time.monotonic()
    # One 0.25 s write credited, then 1 s of its own: past 0.4 + 0.25 s.
    [res] = (await bus.execute_hook(org, "custom:slow", {"sleep": 1.0})).results
    assert res.status == "timeout"
    assert time.monotonic() - started < 0.95


async def test_a_request_waiting_for_a_busy_event_loop_is_the_hosts_time(world: World) -> None:
    # The host's loop is busy (other requests) while the worker's storage reads wait to be
    # read: ~0.75 s of the loop's lag, past the 500 ms budget, credited from the worker's
    # send stamp (capped at the budget: deadline 1.0 s; the call ends at ~0.8 s).
    bus, org = await _bus(world, timeout_ms=500)
    await bus.execute_hook(org, "custom:reads", {})  # warm: the worker is started
    call = asyncio.ensure_future(bus.execute_hook(org, "custom:reads", {}))
    await asyncio.sleep(0.02)
    for _ in range(3):
        time.sleep(0.25)  # noqa: ASYNC251 - the point: the loop is busy
        await asyncio.sleep(0)
    [res] = (await call).results
    assert res.status == "ok", res.error


async def test_the_workers_send_stamp_is_clamped() -> None:
    now = time.monotonic()
    assert _waited_since(now - 1, now - 2) == now - 1  # between the hand-over and now: trusted
    assert _waited_since(now - 5, now - 2) == now - 2  # before the hand-over: clamped to it
    for bogus in (float("nan"), float("inf"), float("-inf"), 1e18):  # no time, or later: none
        assert now <= _waited_since(bogus, now - 2) <= time.monotonic()
