"""The host's budgets on what a worker sends and asks for, one rule each, without a sandbox
where none is needed: the frame measure, decoding and hashing off the event loop, and the
kernel's CPU figures. (The red team, tests/redteam/test_host_availability.py, runs the attacks.)
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio

from proofpix_plugins.runtime.host import frame_budget
from proofpix_plugins.runtime.host.capabilities import CallCounters, CapabilityHost
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.usage import Usage
from proofpix_plugins.runtime.host.worker_handle import WorkerHandle
from proofpix_plugins.runtime.limits import FRAME_MAX_DEPTH, FRAME_MAX_OBJECTS, RESULT_MAX_BYTES
from proofpix_plugins.runtime.sandbox import wire
from proofpix_plugins.runtime.spec import CallInfo, PluginSpec

SPEC = PluginSpec(org_id="o", plugin_id="acme.p", version="1.0.0", root=Path("/"),
                  permissions=frozenset({"crypto"}))
INFO = CallInfo(org_id="o", plugin_id="acme.p", hook="t:x", call_id="c-1")


def _body(message: msgspec.Struct) -> bytes:
    return wire.encode(message)[wire.HEADER.size:]


# -- measuring a frame --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, [1, "a", b"b", 2.5, -3, 2**40], {"a": {"b": [[]]}},
                                   "x" * 70_000, list(range(1000))])
def test_measure_counts_what_msgspec_decodes(value: object) -> None:
    body = _body(wire.Result(id=300, ok=True, value=value))
    shape = frame_budget.measure(body)
    assert (shape.kind, shape.id, shape.over) == ("result", 300, None)
    assert frame_budget.prepare(body) == wire.decode_worker(body)


def test_a_frame_over_the_object_budget_is_refused_as_its_kind() -> None:
    body = _body(wire.Result(id=7, ok=True, value=[[]] * (FRAME_MAX_OBJECTS + 1)))
    refused = frame_budget.prepare(body)
    assert refused == frame_budget.Refused(
        "result", 7, f"result refused: more than {FRAME_MAX_OBJECTS} objects")


def test_a_frame_nested_past_the_depth_budget_is_refused() -> None:
    value: object = None
    for _ in range(FRAME_MAX_DEPTH):
        value = [value]
    refused = frame_budget.prepare(_body(wire.Result(id=1, ok=True, value=value)))
    assert isinstance(refused, frame_budget.Refused)
    assert refused.reason.endswith(f"nested deeper than {FRAME_MAX_DEPTH} levels")


def test_a_result_over_its_byte_budget_is_refused() -> None:
    refused = frame_budget.prepare(_body(wire.Result(id=1, ok=True,
                                                     value=b"x" * RESULT_MAX_BYTES)))
    assert isinstance(refused, frame_budget.Refused)
    assert f"over the {RESULT_MAX_BYTES}-byte limit" in refused.reason


@pytest.mark.parametrize("body", [b"\x92\x01", b"\xc1", b"\x91\xc0\xc0", b"\xdb\xff\xff\xff\xff"])
def test_malformed_msgpack_is_a_bad_frame(body: bytes) -> None:
    with pytest.raises(wire.FrameError):
        frame_budget.measure(body)


def test_small_plain_frames_take_the_inline_path_and_container_heavy_ones_do_not() -> None:
    assert frame_budget.inline_ok(_body(wire.Result(id=1, ok=True, value={"a": [1, 2]})))
    assert not frame_budget.inline_ok(_body(wire.Result(id=1, ok=True, value=[[]] * 100)))
    assert not frame_budget.inline_ok(_body(wire.Result(id=1, ok=True, value="x" * 70_000)))


# -- off the event loop -------------------------------------------------------------------------


@pytest_asyncio.fixture
async def handle() -> AsyncIterator[tuple[WorkerHandle, socket.socket]]:
    ours, theirs = socket.socketpair()
    h = WorkerHandle(SPEC, CapabilityHost(MemoryBroker()), 64 << 20, 50.0)
    await asyncio.get_running_loop().connect_accepted_socket(lambda: h, ours)
    try:
        yield h, theirs
    finally:
        h.kill("test over")
        theirs.close()


async def test_a_large_frame_is_decoded_off_the_event_loop(
    handle: tuple[WorkerHandle, socket.socket],
) -> None:
    h, _ = handle
    cur = h.begin(INFO)
    value = [[i] for i in range(40_000)]  # 80,001 objects: within budget
    h.data_received(wire.encode(wire.Result(id=cur.id, ok=True, value=value)))
    assert not cur.fut.done()  # data_received returned without decoding it
    result = await asyncio.wait_for(cur.fut, 10)
    assert result.value == value


async def test_a_small_frame_is_decoded_at_once(
    handle: tuple[WorkerHandle, socket.socket],
) -> None:
    h, _ = handle
    cur = h.begin(INFO)
    h.data_received(wire.encode(wire.Result(id=cur.id, ok=True, value={"n": 1})))
    assert cur.fut.done()
    assert cur.fut.result().value == {"n": 1}


async def test_a_large_hash_runs_off_the_event_loop() -> None:
    caps = CapabilityHost(MemoryBroker())
    data = b"z" * (1024 * 1024)
    req = wire.CapRequest(id=1, call=1, cap="crypto.sha256", args={"data": data})
    task = asyncio.ensure_future(caps.handle(SPEC, INFO, req, CallCounters()))
    await asyncio.sleep(0)
    assert not task.done()  # the loop runs on while a thread hashes
    reply = await task
    assert reply.value == hashlib.sha256(data).hexdigest()


# -- CPU as the kernel counts it ----------------------------------------------------------------


def test_cpu_of_a_process_without_a_cgroup_comes_from_proc() -> None:
    spin = "import time\nend = time.perf_counter() + 0.3\nwhile time.perf_counter() < end: pass"
    proc = subprocess.Popen([sys.executable, "-c", spin + "\ntime.sleep(5)"])
    try:
        usage = Usage(proc.pid, None)
        time.sleep(0.6)
        used = usage.call_cpu_ms()
        assert used is not None
        assert used >= 100
        assert (usage.peak_kb() or 0) > 1024
        usage.close()
    finally:
        proc.kill()
        proc.wait()
