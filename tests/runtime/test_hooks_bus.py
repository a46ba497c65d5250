"""Rules of the hook bus, through the real WorkerPool and real sandboxed workers."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.runtime.sandbox_kit import plugin_tree, traversable_dir

from proofpix_plugins.errors import ValidationFailed
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError
from proofpix_plugins.runtime.hooks.bus import HookBus, HookRecursionLimit
from proofpix_plugins.runtime.hooks.options import HookOptions
from proofpix_plugins.runtime.hooks.results import CallRecord, HookResult
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import HookBinding, PluginSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOOLKIT = '''
import time


def echo(event, ctx):
    return {"plugin": ctx.plugin_id, "event": event}


def tag(event, ctx):
    return {"trail": list(event.get("trail", [])) + [ctx.config["tag"]]}


def fail(event, ctx):
    raise ValueError("handler failed on purpose")


def sleepy(event, ctx):
    started = time.time()
    time.sleep(event.get("sleep", 0.2))
    return {"plugin": ctx.plugin_id, "start": started, "end": time.time()}


def maybe_fail(event, ctx):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return "fine"


def read_file(event, ctx):
    return {"size": len(ctx.files.read()), "info": ctx.files.info()["sha256"]}


def call_next(event, ctx):
    try:
        return {"depth": ctx.depth, "inner": ctx.events.call(ctx.config["next"], event)}
    except Exception as exc:
        return {"depth": ctx.depth, "refused": type(exc).__name__ + ": " + str(exc)}


def nothing(event, ctx):
    return None


def broken(event, ctx):
    raise SystemExit(3)
'''


@dataclass
class World:
    pool: WorkerPool
    broker: MemoryBroker
    config: RuntimeConfig
    tree: Path
    bad_tree: Path


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    with traversable_dir("pp-hooks-bus") as path:
        yield path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(base: Path) -> AsyncIterator[World]:
    runtime_dir = base / "runtime"
    runtime_dir.mkdir(mode=0o711)
    runtime_dir.chmod(0o711)
    config = RuntimeConfig(base_dir=runtime_dir, max_hook_depth=2)
    broker = MemoryBroker()
    pool = WorkerPool(config, broker)
    await pool.start()
    try:
        yield World(pool, broker, config, plugin_tree(base, "toolkit", TOOLKIT),
                    plugin_tree(base, "bad", "raise ImportError('no such thing')\n"))
    finally:
        await pool.close()


def _org() -> str:
    return "org-" + secrets.token_hex(3)


def spec(
    w: World, org: str, pid: str, hooks: dict[str, tuple[str, int]], **kw: Any
) -> PluginSpec:
    return PluginSpec(
        org_id=org, plugin_id=pid, version="1.0.0", root=kw.pop("root", w.tree),
        hooks={h: HookBinding(handler, prio) for h, (handler, prio) in hooks.items()}, **kw,
    )


def bus_for(w: World, **kw: Any) -> HookBus:
    config = RuntimeConfig(
        base_dir=w.config.base_dir, max_hook_depth=2,
        circuit_breaker_threshold=kw.pop("threshold", 5),
    )
    return HookBus(w.pool, w.broker, config, **kw)


# -- routing -----------------------------------------------------------------------------------


async def test_results_come_highest_priority_first_ties_by_plugin_id(world: World) -> None:
    bus, org = bus_for(world), _org()
    for pid, prio in (("acme.low", 10), ("acme.b-high", 90), ("acme.a-high", 90), ("acme.mid", 50)):
        await bus.activate(spec(world, org, pid, {"photo:seen": ("echo", prio)}))
    result = await bus.execute_hook(org, "photo:seen", {"n": 1})
    assert [r.plugin_id for r in result.results] == [
        "acme.a-high", "acme.b-high", "acme.mid", "acme.low"]
    assert all(r.status == "ok" for r in result.results)
    assert result.results[0].result == {"plugin": "acme.a-high", "event": {"n": 1}}


async def test_only_the_callers_org_is_reached(world: World) -> None:
    bus, mine, theirs = bus_for(world), _org(), _org()
    await bus.activate(spec(world, mine, "acme.mine", {"photo:seen": ("echo", 50)}))
    await bus.activate(spec(world, theirs, "acme.theirs", {"photo:seen": ("echo", 50)}))
    result = await bus.execute_hook(mine, "photo:seen", {})
    assert [r.plugin_id for r in result.results] == ["acme.mine"]


async def test_a_hook_nobody_bound_returns_no_results(world: World) -> None:
    result = await bus_for(world).execute_hook(_org(), "photo:nobody", {})
    assert result.results == []
    assert result.to_wire()["results"] == []


async def test_unregistered_plugin_receives_nothing(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.gone", {"photo:seen": ("echo", 50)}))
    await bus.deactivate(org, "acme.gone")
    assert (await bus.execute_hook(org, "photo:seen", {})).results == []
    assert not world.pool.is_loaded(org, "acme.gone")


async def test_a_plugin_that_fails_to_load_is_not_registered(world: World) -> None:
    bus, org = bus_for(world), _org()
    with pytest.raises(LoadError):
        await bus.activate(spec(world, org, "acme.bad", {"photo:seen": ("echo", 50)},
                                root=world.bad_tree))
    assert not bus.is_registered(org, "acme.bad")


async def test_a_plugin_receives_hooks_only_once_its_worker_is_up(world: World) -> None:
    bus, org = bus_for(world), _org()
    loading = asyncio.ensure_future(
        bus.activate(spec(world, org, "acme.late", {"photo:seen": ("echo", 50)})))
    await asyncio.sleep(0)  # activate() is now waiting for the worker to start
    during = await bus.execute_hook(org, "photo:seen", {})
    await loading
    after = await bus.execute_hook(org, "photo:seen", {})
    assert during.results == []
    assert [r.status for r in after.results] == ["ok"]


@pytest.mark.parametrize(
    ("hooks", "field"),
    [
        ({"NotAHook": ("echo", 50)}, "hooks.NotAHook"),
        ({"photo:seen\n": ("echo", 50)}, "hooks.photo:seen\n"),
        ({"a:" + "b" * 99: ("echo", 50)}, "hooks.a:" + "b" * 99),  # 101 characters
        ({"photo:seen": ("class", 50)}, "hooks.photo:seen.handler"),
        ({"photo:seen": ("echo", 101)}, "hooks.photo:seen.priority"),
        ({"photo:seen": ("not a name", 50)}, "hooks.photo:seen.handler"),
    ],
)
async def test_register_refuses_a_bad_binding_naming_the_field(
    world: World, hooks: dict[str, tuple[str, int]], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        bus_for(world).register(spec(world, _org(), "acme.x", hooks))
    assert field in [e.field for e in info.value.errors]
    assert "acme.x" in info.value.detail


@pytest.mark.parametrize("name", ["../etc", "photo:seen\n", "a:" + "b" * 99])
async def test_execute_refuses_a_malformed_hook_name(world: World, name: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await bus_for(world).execute_hook(_org(), name, {})
    assert info.value.errors[0].field == "hook"


# -- modes -------------------------------------------------------------------------------------


async def test_parallel_mode_overlaps_calls_and_sequential_does_not(world: World) -> None:
    bus, org = bus_for(world), _org()
    for pid in ("acme.s1", "acme.s2", "acme.s3"):
        await bus.activate(spec(world, org, pid, {"photo:slow": ("sleepy", 50)}))
    par = await bus.execute_hook(org, "photo:slow", {"sleep": 0.15})
    seq = await bus.execute_hook(org, "photo:slow", {"sleep": 0.15},
                                 HookOptions(mode="sequential"))

    def spans(r: HookResult) -> list[tuple[float, float]]:
        return sorted((x.result["start"], x.result["end"]) for x in r.results)

    p = spans(par)
    # parallel: each started before the previous one ended; sequential: never.
    assert p[1][0] < p[0][1]
    assert p[2][0] < p[1][1]
    s = spans(seq)
    assert s[0][1] <= s[1][0]
    assert s[1][1] <= s[2][0]


async def test_waterfall_feeds_each_ok_output_forward_and_skips_failures(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.first", {"photo:fix": ("tag", 90)},
                            config={"tag": "a"}))
    await bus.activate(spec(world, org, "acme.middle", {"photo:fix": ("fail", 50)}))
    await bus.activate(spec(world, org, "acme.last", {"photo:fix": ("tag", 10)},
                            config={"tag": "c"}))
    result = await bus.execute_hook(org, "photo:fix", {"trail": []},
                                    HookOptions(mode="waterfall"))
    assert [r.status for r in result.results] == ["ok", "error", "ok"]
    assert result.output == {"trail": ["a", "c"]}
    assert result.to_wire()["output"] == {"trail": ["a", "c"]}


async def test_waterfall_passes_the_input_on_when_a_plugin_returns_nothing(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.first", {"photo:fix": ("tag", 90)},
                            config={"tag": "a"}))
    await bus.activate(spec(world, org, "acme.silent", {"photo:fix": ("nothing", 50)}))
    result = await bus.execute_hook(org, "photo:fix", {"trail": []},
                                    HookOptions(mode="waterfall"))
    assert [r.status for r in result.results] == ["ok", "ok"]
    assert result.output == {"trail": ["a"]}


async def test_stop_on_error_stops_sequential_and_waterfall_runs(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.first", {"photo:fix": ("fail", 90)}))
    await bus.activate(spec(world, org, "acme.second", {"photo:fix": ("echo", 10)}))
    for mode in ("sequential", "waterfall"):
        result = await bus.execute_hook(
            org, "photo:fix", {}, HookOptions(mode=mode, stop_on_error=True)
        )
        assert [r.plugin_id for r in result.results] == ["acme.first"]
    parallel = await bus.execute_hook(org, "photo:fix", {}, HookOptions(stop_on_error=True))
    assert [r.status for r in parallel.results] == ["error", "ok"]


async def test_one_plugins_failure_never_fails_the_others(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.crash", {"photo:seen": ("broken", 90)}))
    await bus.activate(spec(world, org, "acme.raise", {"photo:seen": ("fail", 80)}))
    await bus.activate(spec(world, org, "acme.fine", {"photo:seen": ("echo", 10)}))
    result = await bus.execute_hook(org, "photo:seen", {})
    by = result.by_plugin()
    assert by["acme.raise"].status == "error"
    assert "handler failed on purpose" in (by["acme.raise"].error or "")
    assert by["acme.crash"].status in {"error", "crashed"}
    assert by["acme.fine"].status == "ok"


# -- timeouts ----------------------------------------------------------------------------------


async def test_timeout_option_caps_the_plugins_own_timeout(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=5000))
    started = time.monotonic()
    result = await bus.execute_hook(org, "photo:slow", {"sleep": 3}, HookOptions(timeout_ms=200))
    # Uncapped, the 3 s nap would end "ok" inside the plugin's own 5 s: the status is the proof.
    # The bound (the behaviour too: the 200 ms cap fired, not a later deadline) is generous for
    # a loaded machine, still below the nap.
    assert result.results[0].status == "timeout"
    assert time.monotonic() - started < 2.5


async def test_the_plugins_own_timeout_wins_when_smaller(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=200))
    started = time.monotonic()
    result = await bus.execute_hook(org, "photo:slow", {"sleep": 3},
                                    HookOptions(timeout_ms=30_000))
    # As above: under the caller's 30 s the nap would end "ok"; the bound, generous, says the
    # plugin's 200 ms fired rather than something near the nap's 3 s.
    assert result.results[0].status == "timeout"
    assert time.monotonic() - started < 2.5


async def test_a_call_timing_out_queued_for_a_busy_worker_does_not_count(world: World) -> None:
    # Found by bench/load.py: under load, calls queued behind the plugin's one worker timed
    # out before reaching it, and the breaker disabled a healthy plugin for the host's queue.
    bus, org = bus_for(world, threshold=1), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=1000))
    busy = asyncio.ensure_future(bus.execute_hook(org, "photo:slow", {"sleep": 0.8}))
    await asyncio.sleep(0.05)
    queued = await bus.execute_hook(org, "photo:slow", {"sleep": 0.1}, HookOptions(timeout_ms=300))
    assert (await busy).results[0].status == "ok"
    [res] = queued.results
    assert res.status == "timeout"
    assert "waiting for a busy worker" in (res.error or "")
    assert bus.disabled(org) == {}
    assert bus.is_registered(org, "acme.slow")


async def test_time_queued_for_a_busy_worker_is_not_taken_from_the_plugins_budget(
    world: World,
) -> None:
    bus, org = bus_for(world, threshold=1), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=1000))
    first = asyncio.ensure_future(bus.execute_hook(org, "photo:slow", {"sleep": 0.6}))
    await asyncio.sleep(0.05)
    # Queued ~0.55 s, then runs 0.6 s: over 1 s in all, within its own 1 s budget.
    [second] = (await bus.execute_hook(org, "photo:slow", {"sleep": 0.6})).results
    assert (await first).results[0].status == "ok"
    assert second.status == "ok", second.error
    assert bus.disabled(org) == {}


async def test_with_no_caller_timeout_a_call_may_queue_past_the_plugins_budget(
    world: World,
) -> None:
    # Found by the soak (bench/load.py): a burst queued an upload's call more than the
    # plugin's 1 s budget behind its one worker; the budget is the plugin's run, the wait is
    # the host's (RuntimeConfig.queue_wait_s), and a caller's own timeout bounds it instead.
    bus, org = bus_for(world, threshold=1), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=400))
    first = asyncio.ensure_future(bus.execute_hook(org, "photo:slow", {"sleep": 0.35}))
    second = asyncio.ensure_future(bus.execute_hook(org, "photo:slow", {"sleep": 0.35}))
    await asyncio.sleep(0.05)
    # Queued behind both (~0.65 s, past the 400 ms budget), then runs 0.05 s.
    [third] = (await bus.execute_hook(org, "photo:slow", {"sleep": 0.05})).results
    assert [(await f).results[0].status for f in (first, second)] == ["ok", "ok"]
    assert third.status == "ok", third.error
    assert bus.disabled(org) == {}


async def test_the_host_queue_bound_still_ends_a_wait_for_a_stuck_worker(world: World) -> None:
    bus = HookBus(world.pool, world.broker, RuntimeConfig(
        base_dir=world.config.base_dir, circuit_breaker_threshold=1, queue_wait_s=0.3))
    org = _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:slow": ("sleepy", 50)},
                            timeout_ms=2000))
    busy = asyncio.ensure_future(bus.execute_hook(org, "photo:slow", {"sleep": 1.0}))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    [queued] = (await bus.execute_hook(org, "photo:slow", {"sleep": 0.01})).results
    assert queued.status == "timeout"
    assert "300 ms waiting for a busy worker" in (queued.error or "")
    assert time.monotonic() - started < 0.9
    assert (await busy).results[0].status == "ok"
    assert bus.disabled(org) == {}


# -- permissions -------------------------------------------------------------------------------


async def test_file_hooks_reach_only_plugins_holding_files(world: World) -> None:
    bus, org = bus_for(world), _org()
    world.broker.add_file(org, "f-1", b"\xff\xd8photo-bytes")
    await bus.activate(spec(world, org, "acme.reader", {"file:uploaded": ("read_file", 50)},
                            permissions=frozenset({"files"})))
    await bus.activate(spec(world, org, "acme.nosy", {"file:uploaded": ("read_file", 50)}))
    for _ in range(2):
        result = await bus.execute_hook(org, "file:uploaded", {}, file_id="f-1")
        by = result.by_plugin()
        assert by["acme.reader"].status == "ok"
        assert by["acme.reader"].result["size"] == 13
        assert by["acme.nosy"].status == "denied"
        assert "files" in (by["acme.nosy"].error or "")
    events = world.broker.events_of("acme.nosy", "permission_denied")
    assert [e.details["hook"] for e in events if e.org_id == org] == ["file:uploaded"]


async def test_a_denied_hook_does_not_trip_the_circuit_breaker(world: World) -> None:
    bus, org = bus_for(world, threshold=2), _org()
    await bus.activate(spec(world, org, "acme.nosy", {"file:process": ("echo", 50)}))
    for _ in range(4):
        await bus.execute_hook(org, "file:process", {}, HookOptions(mode="waterfall"))
    assert bus.is_registered(org, "acme.nosy")


# -- circuit breaker ---------------------------------------------------------------------------


async def test_circuit_breaker_disables_after_consecutive_failures(world: World) -> None:
    disabled: list[tuple[str, str, str]] = []

    async def on_disabled(org: str, pid: str, reason: str) -> None:
        disabled.append((org, pid, reason))

    bus, org = bus_for(world, threshold=3, on_disabled=on_disabled), _org()
    await bus.activate(spec(world, org, "acme.flaky", {"photo:seen": ("fail", 50)}))
    await bus.activate(spec(world, org, "acme.fine", {"photo:seen": ("echo", 40)}))
    for _ in range(3):
        await bus.execute_hook(org, "photo:seen", {})
    after = await bus.execute_hook(org, "photo:seen", {})
    # The disabled plugin is no longer called, but it is reported, with the reason.
    assert [(r.plugin_id, r.status) for r in after.results] == [
        ("acme.fine", "ok"), ("acme.flaky", "skipped")]
    assert "disabled" in (after.results[1].error or "")
    assert not world.pool.is_loaded(org, "acme.flaky")
    assert [(o, p) for o, p, _ in disabled] == [(org, "acme.flaky")]
    (event,) = [e for e in world.broker.events_of("acme.flaky", "disabled") if e.org_id == org]
    assert event.details["consecutiveFailures"] == 3
    assert "handler failed on purpose" in event.details["lastError"]


async def test_a_success_resets_the_failure_count(world: World) -> None:
    bus, org = bus_for(world, threshold=3), _org()
    await bus.activate(spec(world, org, "acme.flaky", {"photo:seen": ("maybe_fail", 50)}))
    for fail in (True, True, False, True, True):
        await bus.execute_hook(org, "photo:seen", {"fail": fail})
    assert bus.is_registered(org, "acme.flaky")
    assert world.pool.is_loaded(org, "acme.flaky")


# -- nested calls ------------------------------------------------------------------------------


async def test_a_plugin_can_call_another_hook_with_events(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.outer", {"photo:outer": ("call_next", 50)},
                            permissions=frozenset({"events"}), config={"next": "photo:inner"}))
    await bus.activate(spec(world, org, "acme.inner", {"photo:inner": ("echo", 50)}))
    result = await bus.execute_hook(org, "photo:outer", {"x": 1})
    (outer,) = result.results
    assert outer.status == "ok"
    inner = outer.result["inner"]
    assert inner["hook"] == "photo:inner"
    assert inner["results"][0]["result"] == {"plugin": "acme.inner", "event": {"x": 1}}


async def test_nested_calls_stop_at_the_depth_limit(world: World) -> None:
    bus, org = bus_for(world), _org()  # max_hook_depth=2
    for i in range(5):
        await bus.activate(spec(world, org, f"acme.chain{i}", {f"chain:h{i}": ("call_next", 50)},
                                permissions=frozenset({"events"}),
                                config={"next": f"chain:h{i + 1}"}))
    result = await bus.execute_hook(org, "chain:h0", {})
    depth0 = result.results[0].result
    depth1 = depth0["inner"]["results"][0]["result"]
    depth2 = depth1["inner"]["results"][0]["result"]
    assert (depth0["depth"], depth1["depth"], depth2["depth"]) == (0, 1, 2)
    assert "depth" in depth2["refused"]


async def test_execute_refuses_a_depth_beyond_the_limit(world: World) -> None:
    with pytest.raises(HookRecursionLimit):
        await bus_for(world).execute_hook(_org(), "photo:seen", {}, depth=3)


# -- metrics and wire --------------------------------------------------------------------------


async def test_every_call_is_counted_per_plugin_and_reported(world: World) -> None:
    records: list[CallRecord] = []
    bus, org = bus_for(world, on_metrics=records.append), _org()
    await bus.activate(spec(world, org, "acme.ok", {"photo:seen": ("echo", 50)}))
    await bus.activate(spec(world, org, "acme.err", {"photo:seen": ("fail", 40)}))
    for _ in range(3):
        await bus.execute_hook(org, "photo:seen", {})
    snaps = {s.plugin_id: s for s in bus.metrics.drain() if s.org_id == org}
    assert (snaps["acme.ok"].count, snaps["acme.ok"].ok) == (3, 3)
    assert (snaps["acme.err"].count, snaps["acme.err"].errors) == (3, 3)
    p50 = snaps["acme.ok"].p50_ms
    assert p50 is not None
    assert p50 > 0
    assert snaps["acme.ok"].peak_rss_kb > 0
    assert sorted((r.plugin_id, r.status) for r in records) == sorted(
        [("acme.ok", "ok")] * 3 + [("acme.err", "error")] * 3)


async def test_many_plugins_in_parallel_all_answer(world: World) -> None:
    bus, org = bus_for(world), _org()
    await asyncio.gather(*(
        bus.activate(spec(world, org, f"acme.p{i:02d}", {"photo:seen": ("echo", 50)}))
        for i in range(8)
    ))
    result = await bus.execute_hook(org, "photo:seen", {"i": 1})
    assert [r.status for r in result.results] == ["ok"] * 8


async def test_a_closing_pool_does_not_trip_the_circuit_breaker(world: World, base: Path) -> None:
    runtime_dir = base / f"closing-{secrets.token_hex(2)}"
    runtime_dir.mkdir(mode=0o711)
    runtime_dir.chmod(0o711)
    config = RuntimeConfig(base_dir=runtime_dir, circuit_breaker_threshold=2)
    broker = MemoryBroker()
    pool = WorkerPool(config, broker)
    await pool.start()
    bus, org = HookBus(pool, broker, config), _org()
    await bus.activate(spec(world, org, "acme.calm", {"photo:seen": ("echo", 50)}))
    await pool.close()
    for _ in range(3):
        (res,) = (await bus.execute_hook(org, "photo:seen", {})).results
        assert res.status == "error"
        assert "shutting down" in (res.error or "")
    assert bus.is_registered(org, "acme.calm")
    assert broker.events_of("acme.calm", "disabled") == []


async def test_a_failing_metrics_sink_never_fails_the_hook_call(world: World) -> None:
    def sink(record: CallRecord) -> None:
        raise RuntimeError("metrics backend down")

    bus, org = bus_for(world, on_metrics=sink), _org()
    await bus.activate(spec(world, org, "acme.ok", {"photo:seen": ("echo", 50)}))
    (res,) = (await bus.execute_hook(org, "photo:seen", {"n": 2})).results
    assert res.status == "ok"
    assert res.result == {"plugin": "acme.ok", "event": {"n": 2}}


# -- feedback: skipped plugins, tracebacks -------------------------------------------------------


async def test_a_plugin_unloaded_while_a_call_waits_is_reported_skipped(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.slow", {"photo:seen": ("sleepy", 50)}))
    first = asyncio.ensure_future(bus.execute_hook(org, "photo:seen", {"sleep": 0.5}))
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(bus.execute_hook(org, "photo:seen", {"sleep": 0.5}))
    await asyncio.sleep(0.05)  # the second call now waits for the busy worker
    await bus.deactivate(org, "acme.slow")
    [waiting] = (await second).results
    await first
    assert waiting.plugin_id == "acme.slow"
    assert waiting.status == "skipped"
    assert "unloaded" in (waiting.error or "")


async def test_an_admin_unload_is_not_reported_as_skipped(world: World) -> None:
    bus, org = bus_for(world, threshold=1), _org()
    await bus.activate(spec(world, org, "acme.flaky", {"photo:seen": ("fail", 50)}))
    await bus.execute_hook(org, "photo:seen", {})
    assert bus.disabled(org)
    assert "acme.flaky" in bus.disabled(org)
    await bus.deactivate(org, "acme.flaky")
    assert (await bus.execute_hook(org, "photo:seen", {})).results == []
    assert bus.disabled(org) == {}


async def test_errors_carry_only_the_plugins_frames(world: World) -> None:
    bus, org = bus_for(world), _org()
    await bus.activate(spec(world, org, "acme.fail", {"photo:seen": ("fail", 50)}))
    [res] = (await bus.execute_hook(org, "photo:seen", {})).results
    assert res.status == "error"
    assert [(t.file, t.function) for t in res.trace] == [("plugin/__init__.py", "fail")]
    assert res.trace[0].code == 'raise ValueError("handler failed on purpose")'
    wire = res.to_wire()
    assert wire["traceback"][0]["line"] == res.trace[0].line
    assert res.error_text().splitlines()[-1] == "ValueError: handler failed on purpose"


async def test_frames_a_worker_forges_outside_its_package_are_hidden() -> None:
    from proofpix_plugins.runtime.host.pool import trace_lines
    from proofpix_plugins.runtime.sandbox import wire

    lines = trace_lines([wire.TraceFrame("/srv/host/secret.py", 3, "f", "x"),
                         wire.TraceFrame("../other/plugin.py", 4, "g"),
                         wire.TraceFrame("plugin/__init__.py", 5, "h", "y")])
    assert [t.file for t in lines] == ["<outside the package>", "<outside the package>",
                                       "plugin/__init__.py"]


async def test_the_call_that_trips_the_breaker_reports_the_plugin_once(world: World) -> None:
    bus, org = bus_for(world, threshold=1), _org()
    await bus.activate(spec(world, org, "acme.flaky", {"photo:seen": ("fail", 50)}))
    tripping = await bus.execute_hook(org, "photo:seen", {})
    assert [(r.plugin_id, r.status) for r in tripping.results] == [("acme.flaky", "error")]
    later = await bus.execute_hook(org, "photo:seen", {})
    assert [(r.plugin_id, r.status) for r in later.results] == [("acme.flaky", "skipped")]
