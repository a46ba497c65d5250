"""A misbehaving plugin costs only its own call: timeouts, crashes and protocol abuse end as
``timeout``/``crashed`` with the reason, and the next call is served by a fresh worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.runtime.sandbox_kit import info_for, make_spec, pid_exists, plugin_tree, traversable_dir
from tests.waiting import eventually

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.outcome import CallOutcome
from proofpix_plugins.runtime.spec import PluginSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''
import os
import stat
import struct
import time


def ok(event, ctx):
    return {"pid": os.getpid()}


def sleep(event, ctx):
    time.sleep(event["s"])
    return "woke"


def spin(event, ctx):
    while True:
        pass


def exit_now(event, ctx):
    os._exit(event.get("code", 9))


def segfault(event, ctx):
    os.kill(os.getpid(), 11)  # SIGSEGV; the signal module is not importable in the sandbox


def hog(event, ctx):
    chunks = []
    while True:
        chunks.append(bytearray(16 * 1024 * 1024))


def raises(event, ctx):
    raise ValueError("bad input: " + str(event))


def unserializable(event, ctx):
    return object()


def too_deep(event, ctx):
    value = None
    for _ in range(200_000):
        value = [value]
    return value


def _channel():
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            continue
    raise RuntimeError("no channel")


def huge_frame(event, ctx):
    os.write(_channel(), struct.pack(">I", 0xFFFFFFF0))
    time.sleep(5)


def garbage_frame(event, ctx):
    body = b"\\xc1\\xc1 not msgpack"
    os.write(_channel(), struct.pack(">I", len(body)) + body)
    time.sleep(5)


def _s(text):
    return bytes([0xa0 | len(text)]) + text.encode()


def stray_cap(event, ctx):
    # A well-formed capability request naming a call that is not in flight.
    body = (bytes([0x85]) + _s("type") + _s("cap") + _s("id") + bytes([1]) + _s("call")
            + bytes([0xcd, 0x03, 0xe7]) + _s("cap") + _s("files.read") + _s("args")
            + bytes([0x80]))
    os.write(_channel(), struct.pack(">I", len(body)) + body)
    time.sleep(5)
'''

HOOKS = {
    f"t:{name}": name
    for name in ("ok", "sleep", "spin", "exit_now", "segfault", "hog", "raises",
                 "unserializable", "too_deep", "huge_frame", "garbage_frame", "stray_cap")
}


@dataclass
class World:
    pool: WorkerPool
    broker: MemoryBroker
    root: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    with traversable_dir("pp-fail") as base:
        broker = MemoryBroker()
        pool = WorkerPool(RuntimeConfig(base_dir=base / "rt", max_frame_bytes=1024 * 1024),
                          broker)
        await pool.start()
        try:
            yield World(pool, broker, plugin_tree(base, "fail", SOURCE))
        finally:
            await pool.close()


async def _spec(world: World, plugin_id: str, **kw: Any) -> PluginSpec:
    spec = make_spec(world.root, plugin_id, HOOKS, **kw)
    if not world.pool.is_loaded(*spec.key):
        await world.pool.load(spec)
    return spec


async def _call(world: World, spec: PluginSpec, name: str, data: Any = None,
                timeout_ms: int = 3000) -> CallOutcome:
    hook = f"t:{name}"
    return await world.pool.call(spec.key, hook, data, timeout_ms=timeout_ms,
                                 info=info_for(spec, hook))


async def _recovers(world: World, spec: PluginSpec, old_pid: int | None) -> None:
    again = await _call(world, spec, "ok")
    assert again.status == "ok"
    assert again.result["pid"] != old_pid
    if old_pid is not None:
        # Killed, but the kernel takes its time to reap it on a loaded machine.
        await eventually(lambda: not pid_exists(old_pid), what=f"the old worker {old_pid} exits")


async def _pid(world: World, spec: PluginSpec) -> int:
    return int((await _call(world, spec, "ok")).result["pid"])


async def test_timeout_kills_the_worker_and_the_next_call_respawns(world: World) -> None:
    spec = await _spec(world, "acme.timeout")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "sleep", {"s": 10}, timeout_ms=150)
    assert outcome.status == "timeout"
    # The bounds are the behaviour: the call's 150 ms deadline fired, neither early nor at the
    # plugin's own 5 s. The upper one is generous for a loaded machine.
    assert 150 <= outcome.duration_ms < 2500
    await _recovers(world, spec, pid)
    assert world.broker.events_of("acme.timeout", "timed_out")


async def test_hook_timeout_is_capped_by_the_plugins_own_limit(world: World) -> None:
    spec = await _spec(world, "acme.short", timeout_ms=100)
    outcome = await _call(world, spec, "sleep", {"s": 10}, timeout_ms=5000)
    assert outcome.status == "timeout"
    # The bound is the behaviour: the plugin's 100 ms fired, not the caller's 5 s. Generous for
    # a loaded machine.
    assert outcome.duration_ms < 2500


async def test_exit_is_crashed_with_the_status(world: World) -> None:
    spec = await _spec(world, "acme.exit")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "exit_now", {"code": 9})
    assert outcome.status == "crashed"
    assert outcome.error == "exited with status 9"
    await _recovers(world, spec, pid)
    assert world.broker.events_of("acme.exit", "crashed")[0].details["reason"] == outcome.error


async def test_signal_is_crashed_with_the_signal_name(world: World) -> None:
    spec = await _spec(world, "acme.segv")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "segfault")
    assert outcome.status == "crashed"
    assert "SIGSEGV" in (outcome.error or "")
    await _recovers(world, spec, pid)


async def test_cpu_limit_is_crashed_with_sigxcpu(world: World) -> None:
    spec = await _spec(world, "acme.spin", cpu_seconds=0.5, timeout_ms=10000)
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "spin", timeout_ms=10000)
    assert outcome.status == "crashed"
    assert "SIGXCPU" in (outcome.error or "")
    await _recovers(world, spec, pid)


async def test_memory_bomb_is_crashed_as_out_of_memory(world: World) -> None:
    spec = await _spec(world, "acme.hog", memory_mb=64)
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "hog")
    assert outcome.status == "crashed"
    assert "out of memory" in (outcome.error or "")
    await _recovers(world, spec, pid)


async def test_handler_exception_is_error_and_keeps_the_worker(world: World) -> None:
    spec = await _spec(world, "acme.raises")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "raises", {"x": 1})
    assert outcome.status == "error"
    assert outcome.error == "ValueError: bad input: {'x': 1}"
    assert await _pid(world, spec) == pid


async def test_unserializable_result_is_error_not_crash(world: World) -> None:
    spec = await _spec(world, "acme.unser")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "unserializable")
    assert outcome.status == "error"
    assert "non-serializable" in (outcome.error or "")
    assert await _pid(world, spec) == pid


async def test_pathologically_deep_result_is_error_not_crash(world: World) -> None:
    spec = await _spec(world, "acme.unser")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "too_deep")
    assert outcome.status == "error"
    assert "non-serializable" in (outcome.error or "")
    assert await _pid(world, spec) == pid


async def test_unserializable_hook_data_is_error_before_the_worker(world: World) -> None:
    spec = await _spec(world, "acme.unser")
    outcome = await _call(world, spec, "ok", {"x": object()})
    assert outcome.status == "error"
    assert "not serializable" in (outcome.error or "")


async def test_oversized_frame_is_refused_from_its_header(world: World) -> None:
    spec = await _spec(world, "acme.huge")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "huge_frame")
    assert outcome.status == "crashed"
    assert "exceeds the 1048576-byte cap" in (outcome.error or "")
    assert outcome.duration_ms < 2000
    await _recovers(world, spec, pid)


async def test_malformed_frame_is_crashed_as_bad_frame(world: World) -> None:
    spec = await _spec(world, "acme.garbage")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "garbage_frame")
    assert outcome.status == "crashed"
    assert "bad frame" in (outcome.error or "")
    await _recovers(world, spec, pid)


async def test_capability_request_for_another_call_is_a_protocol_violation(world: World) -> None:
    spec = await _spec(world, "acme.stray")
    pid = await _pid(world, spec)
    outcome = await _call(world, spec, "stray_cap")
    assert outcome.status == "crashed"
    assert outcome.error == "protocol violation: a capability request outside its call"
    await _recovers(world, spec, pid)


async def test_unknown_hook_is_an_error_without_touching_the_worker(world: World) -> None:
    spec = await _spec(world, "acme.raises")
    outcome = await _call(world, spec, "nope")
    assert outcome.status == "error"
    assert "no handler" in (outcome.error or "")


async def test_one_crashing_plugin_does_not_disturb_another(world: World) -> None:
    calm = await _spec(world, "acme.calm")
    pid = await _pid(world, calm)
    wild = await _spec(world, "acme.wild")
    assert (await _call(world, wild, "exit_now", {"code": 3})).status == "crashed"
    assert await _pid(world, calm) == pid


async def test_memory_past_the_cgroup_limit_is_an_oom_kill(world: World) -> None:
    # With the address-space limit off, the cgroup's memory limit is what stops the bomb.
    with traversable_dir("pp-oom") as base:
        pool = WorkerPool(RuntimeConfig(base_dir=base / "rt",
                                        disabled_layers=frozenset({"rlimits"})), MemoryBroker())
        await pool.start()
        try:
            spec = make_spec(world.root, "acme.oom", HOOKS, memory_mb=64)
            await pool.load(spec)
            outcome = await pool.call(spec.key, "t:hog", None, timeout_ms=5000,
                                      info=info_for(spec, "t:hog"))
            assert outcome.status == "crashed"
            assert outcome.error == "out of memory: killed by the cgroup OOM killer (SIGKILL)"
            again = await pool.call(spec.key, "t:ok", None, timeout_ms=5000,
                                    info=info_for(spec, "t:ok"))
            assert again.status == "ok"
        finally:
            await pool.close()
