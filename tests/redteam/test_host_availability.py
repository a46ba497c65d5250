"""Attacks on the host's availability through what the sandbox legitimately hands it: frames to
decode, replies to buffer, capability work, log lines, event rows, resource figures.

Runs on a runtime with the default 64 MiB frame cap (the red team's other module lowers it to
1 MiB), so every frame here reaches the host's decoder; each attack runs while the bystander of
another organization is called again and again and must answer ``ok`` within 0.5 s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from proofpix_plugins.runtime.host.capabilities import BUDGETS, MAX_EMITS_PER_CALL
from proofpix_plugins.runtime.limits import (
    CRYPTO_MAX_BYTES,
    DENIED_EVENTS_PER_CALL,
    FRAME_MAX_DEPTH,
    FRAME_MAX_OBJECTS,
    LOG_BYTES_PER_CALL,
    LOG_FIELD_MAX_CHARS,
    LOG_LINE_MAX_BYTES,
    LOG_MSG_MAX_CHARS,
)
from proofpix_plugins.runtime.spec import CallInfo, HookBinding
from tests.redteam.harness import ORG, Host, Runtime, hook_of, plugin_id, start_runtime

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rt(host: Host) -> AsyncIterator[Runtime]:
    async with start_runtime(host, name="availability") as runtime:
        yield runtime


# -- decoding: bytes, objects, depth -------------------------------------------------------------


async def test_a_result_of_millions_of_tiny_objects_is_the_plugins_error(rt: Runtime) -> None:
    r = await rt.attack_while_serving("reply_bomb", {"mode": "many", "n": 3_000_000})
    assert r.status == "error"
    assert f"more than {FRAME_MAX_OBJECTS} objects" in (r.error or "")
    assert r.result is None


async def test_a_deeply_nested_result_is_the_plugins_error(rt: Runtime) -> None:
    r = await rt.attack_while_serving("reply_bomb", {"mode": "deep", "n": 500})
    assert r.status == "error"
    assert f"nested deeper than {FRAME_MAX_DEPTH} levels" in (r.error or "")


async def test_a_result_over_one_mib_is_the_plugins_error_and_the_worker_stays(
    rt: Runtime,
) -> None:
    r = await rt.attack_while_serving("reply_bomb", {"mode": "many", "n": 90_000})
    assert r.status == "ok"  # within budget: decoded (in a thread) and returned
    assert len(r.result) == 90_000
    await rt.load(rt.spec("huge_reply"))
    pid = rt.worker_pid("huge_reply")
    big = await rt.attack_while_serving("huge_reply", {"reply_mb": 8})
    assert big.status == "error"
    assert "result refused" in (big.error or "")
    assert "-byte limit" in (big.error or "")
    assert rt.worker_pid("huge_reply") == pid  # an over-budget reply is not a crash


async def test_a_capability_request_of_millions_of_objects_is_refused_to_the_plugin(
    rt: Runtime,
) -> None:
    r = await rt.attack_while_serving("reply_bomb", {"mode": "cap", "n": 2_000_000})
    assert r.status == "ok", r.error
    assert r.result["got"] == {}
    assert "capability request refused" in r.result["errors"][0]


async def test_a_log_frame_of_millions_of_objects_is_dropped(rt: Runtime) -> None:
    with capture_logs() as logs:
        r = await rt.attack_while_serving("reply_bomb", {"mode": "log", "n": 2_000_000})
    assert r.status == "ok", r.error
    assert [e for e in logs if e.get("event") == "reply-bomb log"] == []


# -- backpressure on capability replies -----------------------------------------------------------


async def test_a_worker_that_reads_no_replies_is_killed_not_buffered_for(rt: Runtime) -> None:
    rt.broker.add_file(ORG, "f-4mib", b"\0" * (4 * 1024 * 1024))
    r = await rt.attack_while_serving("unread_replies", {"count": 40}, file_id="f-4mib",
                                      permissions=frozenset({"files"}), timeout_ms=10_000)
    assert r.status == "crashed"
    assert "capability replies not read" in (r.error or "")
    assert r.duration_ms < 5000  # killed at the mark, not waited out to the 10 s deadline


# -- capability work and budgets -------------------------------------------------------------------


async def test_crypto_work_per_call_is_bounded_and_huge_inputs_are_refused(rt: Runtime) -> None:
    r = await rt.attack_while_serving(
        "crypto_flood", {"bytes": 1024 * 1024, "count": 40, "small": 800},
        permissions=frozenset({"crypto"}), timeout_ms=20_000)
    assert r.status == "ok", r.error
    got = r.result["got"]
    assert got["huge"] is False
    assert "bad arguments" in r.result["errors"][0]  # 32 MiB > CRYPTO_MAX_BYTES
    assert CRYPTO_MAX_BYTES == 4 * 1024 * 1024
    # 16 MiB of crypto.sha256 input and 500 crypto.random_bytes requests per call.
    assert BUDGETS["crypto.sha256"][1] == 16 * 1024 * 1024
    assert got["hashed"] == 16
    assert BUDGETS["crypto.random_bytes"][0] == 500
    assert got["random"] == 500
    assert any("per call" in e for e in r.result["errors"][1:])


# -- logs ----------------------------------------------------------------------------------------


async def test_log_lines_are_capped_per_field_per_line_and_per_call(rt: Runtime) -> None:
    with capture_logs() as logs:
        r = await rt.attack_while_serving(
            "log_bytes", {"lines": 200, "msg_chars": 30_000, "fields": 20,
                          "field_chars": 1500})
    assert r.status == "ok", r.error
    lines = [e for e in logs if e.get("source") == "plugin"
             and e.get("plugin") == plugin_id("log_bytes")]
    assert lines
    total = 0
    for line in lines:
        assert len(line["event"]) <= LOG_MSG_MAX_CHARS
        fields: dict[str, Any] = line["fields"]
        assert all(len(str(v)) <= LOG_FIELD_MAX_CHARS for v in fields.values())
        size = len(line["event"]) + sum(len(k) + len(str(v)) for k, v in fields.items())
        assert size <= LOG_LINE_MAX_BYTES
        total += size
    assert total <= LOG_BYTES_PER_CALL


# -- budgets per top-level call -------------------------------------------------------------------


async def test_a_nested_call_shares_its_roots_event_budget(rt: Runtime) -> None:
    perms = frozenset({"events"})
    first = rt.spec("emit_nested", permissions=perms, timeout_ms=10_000)
    second = dataclasses.replace(first, plugin_id="red.emit-nested-b",
                                 hooks={"redteam:emit-nested-b": HookBinding("attack")})
    await rt.load(second)
    r = await rt.attack_while_serving(
        "emit_nested", {"count": 80, "next": "redteam:emit-nested-b"}, permissions=perms,
        timeout_ms=10_000)
    assert r.status == "ok", r.error
    mine = {first.plugin_id, second.plugin_id}
    emitted = [e for e in rt.broker.emitted if e.plugin_id in mine]
    assert r.result["got"]["emitted"] == 80
    assert len(emitted) <= MAX_EMITS_PER_CALL


async def test_permission_refusals_past_the_budget_are_one_event_with_a_count(
    rt: Runtime,
) -> None:
    me = plugin_id("denied_flood")
    r = await rt.attack_while_serving("denied_flood", {"count": 300})
    assert r.status == "ok", r.error
    assert r.result["denied"] == 300
    events = rt.broker.events_of(me, "permission_denied")
    assert len(events) <= DENIED_EVENTS_PER_CALL + 1
    assert sum(e.details.get("suppressed", 1) for e in events) == 300


# -- resource figures ------------------------------------------------------------------------


async def test_cpu_time_is_measured_by_the_host_whatever_the_worker_reports(rt: Runtime) -> None:
    spec = rt.spec("fake_cpu")
    await rt.load(spec)
    hook = hook_of("fake_cpu")
    outcome = await rt.pool.call(
        spec.key, hook, {"seconds": 0.4}, timeout_ms=3000,
        info=CallInfo(org_id=ORG, plugin_id=spec.plugin_id, hook=hook, call_id="cpu-1"))
    assert outcome.status == "ok", outcome.error
    # 0.4 s of spinning; the machine is shared, so ask for a quarter of it.
    assert (outcome.cpu_ms or 0.0) >= 100.0
    assert (outcome.peak_rss_kb or 0) > 1024
