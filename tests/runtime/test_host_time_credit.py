"""A plugin's timeout is charged for its own time, not for the host's: the time the host spends
serving its storage requests is credited back to the call's deadline, at most once its budget
(found by bench/load.py's soak: on a loaded SQLite host, upload-counter's three storage writes
queued for the write lock past its 1 s budget)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
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
from proofpix_plugins.runtime.host.pool import WorkerPool, _result_by
from proofpix_plugins.runtime.host.usage import Usage
from proofpix_plugins.runtime.host.worker_handle import InFlight, _waited_since
from proofpix_plugins.runtime.sandbox import wire

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


def cpu_work(event, ctx):
    started = time.process_time()
    while time.process_time() - started < event["cpu"]:
        pass
    return "worked"
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
        "custom:slow": ("slow_self", 50), "custom:reads": ("reads_after_a_nap", 50),
        "custom:cpu": ("cpu_work", 50)},
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


# -- the time a worker waits for a CPU -------------------------------------------------------------


def _in_flight() -> InFlight:
    loop = asyncio.get_running_loop()
    return InFlight(id=1, info=None, fut=loop.create_future())  # type: ignore[arg-type]


async def test_a_worker_waiting_for_a_cpu_is_credited_when_its_deadline_passes() -> None:
    loop = asyncio.get_running_loop()
    cur = _in_flight()
    loop.call_later(0.25, cur.fut.set_result, wire.Result(id=1, ok=True, value="done"))
    # Deadline in 0.1 s; the worker has waited 0.3 s for a core by then: the call lives on.
    result = await _result_by(cur, loop.time() + 0.1, 1.0, lambda: 0.3)
    assert result.value == "done"


async def test_without_a_wait_for_a_cpu_the_deadline_stands() -> None:
    loop = asyncio.get_running_loop()
    cur = _in_flight()
    loop.call_later(0.25, cur.fut.set_result, wire.Result(id=1, ok=True, value="done"))
    started = loop.time()
    with pytest.raises(TimeoutError):
        await _result_by(cur, started + 0.1, 1.0, lambda: 0.0)
    assert loop.time() - started < 0.2


async def test_the_cpu_wait_shares_the_cap_with_the_hosts_time() -> None:
    loop = asyncio.get_running_loop()
    cur = _in_flight()
    cur.host_s = 0.1
    started = loop.time()
    # A reading however large (a worker's own threads crowding it) adds at most the cap.
    with pytest.raises(TimeoutError):
        await _result_by(cur, started + 0.1, 0.3, lambda: 1e9)
    assert 0.35 < loop.time() - started < 0.6


async def test_the_kernel_says_how_long_a_process_waited_for_a_cpu() -> None:
    usage = Usage(os.getpid(), None)
    try:
        first = usage.run_delay_s()
        assert first >= 0.0
        assert usage.run_delay_s() >= first
    finally:
        usage.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="pinning another user's worker needs root")
async def test_a_worker_starved_of_cpu_by_other_processes_is_not_timed_out(
    world: World,
) -> None:
    """0.35 s of the plugin's own CPU under a 1 s budget, its worker and three CPU hogs pinned
    to one core: ~1.4 s of wall clock, ~1 s of it waiting for the core. Charged for its own time
    it finishes; charged for the wall clock (before the credit) it timed out."""
    bus, org = await _bus(world, timeout_ms=1000)
    await bus.execute_hook(org, "custom:cpu", {"cpu": 0.01})  # warm: the worker is started
    [worker] = [w for w in world.pool.live_workers() if w.org_id == org]
    core = max(os.sched_getaffinity(0))
    # Each hog in a session of its own: with autogroup scheduling the kernel shares a core
    # between sessions first, so hogs of one session would leave the worker half of it.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],  # noqa: ASYNC220
                             start_new_session=True) for _ in range(3)]
    try:
        for hog in hogs:
            os.sched_setaffinity(hog.pid, {core})
        os.sched_setaffinity(worker.pid, {core})
        await asyncio.sleep(0.3)  # the hogs running, their fresh-task placement spent
        started = time.monotonic()
        [res] = (await bus.execute_hook(org, "custom:cpu", {"cpu": 0.35})).results
        elapsed = time.monotonic() - started
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert elapsed > 1.0, f"not starved enough to test anything ({elapsed:.2f} s)"
    assert res.status == "ok", (res.error, elapsed)
