"""Pool lifecycle: warm reuse, config updates, idle eviction, LRU cap, recycling, unload,
load errors that name the field, the sandbox report, and no process left after close."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import select
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.runtime.sandbox_kit import (
    info_for,
    make_spec,
    parent_pid,
    pid_exists,
    plugin_tree,
    template_children,
    traversable_dir,
)
from tests.waiting import eventually

from proofpix_plugins.runtime import limits
from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.errors import LoadError, NotLoaded, PoolClosed
from proofpix_plugins.runtime.host import scratch_fs
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.spec import PluginSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''
import os


def whoami(event, ctx):
    return {"pid": os.getpid(), "config": dict(ctx.config)}


def nap(event, ctx):
    import time
    ctx.events.emit("t:napping", None)  # tells the test the call is running in the worker
    time.sleep(event)
    return os.getpid()


def grow(event, ctx):
    global BALLAST
    BALLAST = bytearray(event["mb"] * 1024 * 1024)
    BALLAST[::4096] = b"x" * len(BALLAST[::4096])
    return os.getpid()
'''
HOOKS = {"t:whoami": "whoami", "t:grow": "grow", "t:nap": "nap"}


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    with traversable_dir("pp-life") as path:
        yield path


@pytest.fixture(scope="module")
def root(base: Path) -> Path:
    return plugin_tree(base, "life", SOURCE)


async def _started(
    base: Path, name: str, broker: MemoryBroker | None = None, **kw: Any
) -> WorkerPool:
    pool = WorkerPool(RuntimeConfig(base_dir=base / name, **kw), broker or MemoryBroker())
    await pool.start()
    return pool


@pytest.fixture(scope="module")
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(base: Path, broker: MemoryBroker) -> AsyncIterator[WorkerPool]:
    p = await _started(base, "main", broker=broker)
    try:
        yield p
    finally:
        await p.close()


async def _loaded(pool: WorkerPool, root: Path, plugin_id: str, **kw: Any) -> PluginSpec:
    spec = make_spec(root, plugin_id, HOOKS, **kw)
    await pool.load(spec)
    return spec


async def _whoami(pool: WorkerPool, spec: PluginSpec) -> dict[str, Any]:
    outcome = await pool.call(spec.key, "t:whoami", None, timeout_ms=3000,
                              info=info_for(spec, "t:whoami"))
    assert outcome.status == "ok", outcome.error
    result: dict[str, Any] = outcome.result
    return result


async def test_warm_calls_reuse_one_worker(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.warm")
    pids = {(await _whoami(pool, spec))["pid"] for _ in range(5)}
    assert len(pids) == 1
    [live] = [w for w in pool.live_workers() if w.plugin_id == "acme.warm"]
    assert (live.pid, live.calls) == (pids.pop(), 5)
    assert live.rss_kb is not None


async def test_worker_is_not_a_child_of_the_host(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.parent")
    pid = (await _whoami(pool, spec))["pid"]
    ppid = parent_pid(pid)
    assert ppid == pool.template_pid
    assert ppid != os.getpid()


async def test_config_update_reaches_the_running_worker(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.config", config={"level": 1})
    before = await _whoami(pool, spec)
    await pool.update_config(*spec.key, {"level": 2, "token": "abc"})
    after = await _whoami(pool, spec)
    assert after == {"pid": before["pid"], "config": {"level": 2, "token": "abc"}}


async def test_config_update_keeps_secrets_redacted(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.redact", secret_keys=frozenset({"token"}))
    await pool.update_config(*spec.key, {"token": "abc"})
    assert (await _whoami(pool, spec))["config"] == {"token": "***"}


async def test_config_update_of_an_unloaded_plugin_is_not_loaded(pool: WorkerPool) -> None:
    with pytest.raises(NotLoaded):
        await pool.update_config("org-1", "acme.ghost", {})


async def test_unload_kills_the_worker_and_refuses_calls(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.gone")
    pid = (await _whoami(pool, spec))["pid"]
    await pool.unload(*spec.key)
    assert not pool.is_loaded(*spec.key)
    await eventually(lambda: not pid_exists(pid), what=f"unloaded worker {pid} exits")
    with pytest.raises(NotLoaded):
        await pool.call(spec.key, "t:whoami", None, timeout_ms=1000, info=info_for(spec, "x"))


async def test_unload_ends_the_running_call_and_refuses_the_queued_one(
    pool: WorkerPool, broker: MemoryBroker, root: Path
) -> None:
    spec = await _loaded(pool, root, "acme.busy", permissions=frozenset({"events"}))

    async def nap() -> Any:
        # Long enough that only unload() ends it; unload comes well before.
        return await pool.call(spec.key, "t:nap", 3.0, timeout_ms=4000, info=info_for(spec, "n"))

    running = asyncio.create_task(nap())
    await eventually(lambda: [e for e in broker.emitted if e.plugin_id == "acme.busy"],
                     what="the first call is running in the worker")
    queued = asyncio.create_task(nap())
    # pool.call() runs without suspending up to the worker's lock, which the first call holds:
    # after one turn of the loop the second call is queued on it.
    await asyncio.sleep(0)
    await pool.unload(*spec.key)
    first = await running
    assert (first.status, first.error) == ("crashed", "unloaded")
    with pytest.raises(NotLoaded, match="was unloaded"):
        await queued
    assert "acme.busy" not in [w.plugin_id for w in pool.live_workers()]


async def test_reload_replaces_the_worker(pool: WorkerPool, root: Path) -> None:
    spec = await _loaded(pool, root, "acme.reload")
    first = (await _whoami(pool, spec))["pid"]
    await pool.load(spec)
    assert (await _whoami(pool, spec))["pid"] != first


async def test_sandbox_report_is_full_on_this_host(pool: WorkerPool) -> None:
    report = pool.sandbox_report()
    assert report.level == "full"
    assert report.missing == []
    assert report.landlock_abi >= 1
    assert set(report.as_dict()["layers"]) == {
        "netns", "ipcns", "mountns", "landlock", "seccomp", "rlimits", "uid", "uid_table", "nnp",
        "cgroup", "import_policy", "scratch_quota",
    }


def _proc_limit(pid: int, name: str) -> tuple[str, str]:
    """(soft, hard) of one row of /proc/<pid>/limits, e.g. ``Max open files``."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(name):
            soft, hard = line[len(name):].split()[:2]
            return soft, hard
    raise AssertionError(f"no {name!r} row in /proc/{pid}/limits")


async def test_a_worker_runs_under_the_bounds_runtime_limits_defines(
    pool: WorkerPool, root: Path
) -> None:
    spec = await _loaded(pool, root, "acme.bounds")
    pid = (await _whoami(pool, spec))["pid"]
    files = str(limits.WORKER_OPEN_FILES)
    assert _proc_limit(pid, "Max open files") == (files, files)
    size = str(limits.WORKER_FILE_SIZE_MB * 1024 * 1024)
    assert _proc_limit(pid, "Max file size") == (size, size)
    [group] = [w.group for w in pool._live.values() if w.pid == pid]
    assert group is not None
    assert (group.pids / "pids.max").read_text().strip() == str(limits.WORKER_PIDS_MAX)


# -- load errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"permissions": frozenset({"files", "root"})}, "permissions"),
        ({"entry": "json"}, "entry"),
        ({"entry": "../evil"}, "entry"),
        ({"entry": "missing_module"}, "entry"),
        ({"entry": "plugin.class"}, "entry"),
        ({"entry": "plugin\n"}, "entry"),
        ({"memory_mb": 4096}, "resources.memory_mb"),
        ({"timeout_ms": 0}, "resources.timeout_ms"),
        ({"timeout_ms": 9}, "resources.timeout_ms"),  # below the manifest's floor too
        ({"cpu_seconds": -1.0}, "resources.cpu_seconds"),
        ({"root": Path("/nonexistent/plugin")}, "root"),
    ],
)
async def test_bad_spec_is_refused_naming_the_field(
    pool: WorkerPool, root: Path, change: dict[str, Any], field: str
) -> None:
    spec = make_spec(root, "acme.bad", HOOKS)
    with pytest.raises(LoadError) as err:
        await pool.load(dataclasses.replace(spec, **change))
    assert field in [e.field for e in err.value.errors]
    assert not pool.is_loaded("org-1", "acme.bad")


@pytest.mark.parametrize("handler", ["not an identifier", "class", "h" * 101, "h\n"])
async def test_bad_handler_name_is_refused_naming_the_hook(
    pool: WorkerPool, root: Path, handler: str
) -> None:
    with pytest.raises(LoadError) as err:
        await pool.load(make_spec(root, "acme.bad", {"t:x": handler}))
    assert [e.field for e in err.value.errors] == ["hooks.t:x.handler"]


async def test_missing_handler_fails_the_load_with_the_name(pool: WorkerPool, root: Path) -> None:
    with pytest.raises(LoadError, match=r"plugin\.nowhere is not a function"):
        await pool.load(make_spec(root, "acme.nohandler", {"t:x": "nowhere"}))
    assert not pool.is_loaded("org-1", "acme.nohandler")


async def test_import_error_in_the_plugin_fails_the_load(pool: WorkerPool, base: Path) -> None:
    broken = plugin_tree(base, "broken", "raise RuntimeError('boom at import')\n")
    with pytest.raises(LoadError, match="plugin import: RuntimeError: boom at import"):
        await pool.load(make_spec(broken, "acme.broken", {"t:x": "x"}))


async def test_tree_unreadable_by_the_plugin_uid_is_refused(pool: WorkerPool, base: Path) -> None:
    private = plugin_tree(base, "private", "def x(e, c):\n    return 1\n")
    (private / "plugin").chmod(0o700)
    with pytest.raises(LoadError, match="needs o\\+rx"):
        await pool.load(make_spec(private, "acme.private", {"t:x": "x"}))


# -- pool policies --------------------------------------------------------------------------------


async def test_idle_workers_are_evicted_and_respawned(base: Path, root: Path) -> None:
    pool = await _started(base, "idle", idle_seconds=0.2)
    try:
        spec = await _loaded(pool, root, "acme.idle")
        pid = (await _whoami(pool, spec))["pid"]
        await eventually(lambda: pool.live_workers() == [], what="the idle worker is evicted")
        await eventually(lambda: not pid_exists(pid), what=f"evicted worker {pid} exits")
        assert pool.is_loaded(*spec.key)
        assert (await _whoami(pool, spec))["pid"] != pid
    finally:
        await pool.close()


async def test_live_workers_are_capped_least_recently_used_first(base: Path, root: Path) -> None:
    pool = await _started(base, "lru", max_live_workers=2)
    try:
        a = await _loaded(pool, root, "acme.a")
        b = await _loaded(pool, root, "acme.b")
        await _whoami(pool, a)  # b is now the least recently used
        await _loaded(pool, root, "acme.c")
        assert sorted(w.plugin_id for w in pool.live_workers()) == ["acme.a", "acme.c"]
        assert (await _whoami(pool, b))["pid"] > 0  # respawned on demand, evicting acme.a
        assert sorted(w.plugin_id for w in pool.live_workers()) == ["acme.b", "acme.c"]
    finally:
        await pool.close()


async def test_workers_are_recycled_after_n_calls(base: Path, root: Path) -> None:
    pool = await _started(base, "recycle", recycle_calls=3)
    try:
        spec = await _loaded(pool, root, "acme.recycle")
        pids = [(await _whoami(pool, spec))["pid"] for _ in range(4)]
        assert pids[0] == pids[1] == pids[2] != pids[3]
    finally:
        await pool.close()


async def test_workers_are_recycled_after_rss_growth(base: Path, root: Path) -> None:
    pool = await _started(base, "rss", recycle_rss_mb=48)
    try:
        spec = await _loaded(pool, root, "acme.fat")
        grown = await pool.call(spec.key, "t:grow", {"mb": 64}, timeout_ms=3000,
                                info=info_for(spec, "t:grow"))
        assert grown.status == "ok"
        assert (grown.peak_rss_kb or 0) > 48 * 1024
        assert (await _whoami(pool, spec))["pid"] != grown.result
    finally:
        await pool.close()


async def test_close_leaves_no_process_and_no_cgroup(base: Path, root: Path) -> None:
    pool = await _started(base, "orphans")
    specs = [await _loaded(pool, root, f"acme.o{i}") for i in range(3)]
    pids = [(await _whoami(pool, s))["pid"] for s in specs]
    template = pool.template_pid
    assert template is not None
    groups = [w.group for w in pool._live.values() if w.group is not None]
    children = template_children(template)  # the workers plus the template's spare
    assert set(pids) < children
    await pool.close()
    assert not pid_exists(template)
    assert [p for p in children if pid_exists(p)] == []
    assert [g.memory for g in groups if g.memory.exists()] == []
    with pytest.raises(PoolClosed):
        await pool.call(specs[0].key, "t:whoami", None, timeout_ms=1000,
                        info=info_for(specs[0], "t:whoami"))


async def test_a_disabled_layer_shows_in_the_report(base: Path) -> None:
    pool = await _started(base, "nolandlock", disabled_layers=frozenset({"landlock"}))
    try:
        report = pool.sandbox_report()
        assert report.level == "degraded"
        assert report.missing == ["landlock"]
        assert "test-only" in report.details["landlock"]
    finally:
        await pool.close()


async def test_base_dir_behind_a_private_ancestor_is_refused(base: Path) -> None:
    private = base / "private-parent"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    pool = WorkerPool(RuntimeConfig(base_dir=private / "rt"), MemoryBroker())
    with pytest.raises(PoolClosed, match="not traversable by plugin uids"):
        await pool.start()
    await pool.close()


async def test_a_worker_that_died_idle_is_replaced_before_the_call_is_sent(
    pool: WorkerPool, root: Path
) -> None:
    spec = await _loaded(pool, root, "acme.idle-death")
    pid = (await _whoami(pool, spec))["pid"]
    os.kill(pid, signal.SIGKILL)
    # Block (without running the event loop) until the kernel says it has exited, so the
    # pool has had no chance to see its channel close: only the pidfd check can tell.
    pidfd = os.pidfd_open(pid)
    try:
        assert select.select([pidfd], [], [], 5.0)[0]
    finally:
        os.close(pidfd)
    again = await _whoami(pool, spec)  # not "crashed": the call went to a fresh worker
    assert again["pid"] != pid


async def test_two_pools_on_one_base_dir_keep_their_scratch_dirs_apart(
    base: Path, root: Path
) -> None:
    """API processes sharing a data dir: neither loading nor closing one touches the other."""
    first = await _started(base, "shared")
    second = await _started(base, "shared")
    try:
        spec = await _loaded(first, root, "acme.shared")
        await _loaded(second, root, "acme.shared")
        one = first._plugins[spec.key].scratch
        two = second._plugins[spec.key].scratch
        assert one != two
        assert one.parent.parent == two.parent.parent
        (one / "keep.txt").write_text("first")
        await second.close()
        assert (one / "keep.txt").read_text() == "first"
        assert (await _whoami(first, spec))["pid"]
        if os.geteuid() == 0:
            assert scratch_fs.mounted_under(base / "shared") == [one]
    finally:
        await second.close()
        await first.close()
    assert scratch_fs.mounted_under(base / "shared") == []


async def test_a_dead_template_is_restarted_on_the_next_call(base: Path, root: Path) -> None:
    pool = await _started(base, "phoenix")
    try:
        spec = await _loaded(pool, root, "acme.phoenix")
        pid = (await _whoami(pool, spec))["pid"]
        old_template = pool.template_pid
        assert old_template is not None
        os.kill(old_template, signal.SIGKILL)
        await eventually(lambda: not pid_exists(pid), what="the worker dies with its template")
        again = await _whoami(pool, spec)  # the first call after the death already succeeds
        assert again["pid"] != pid
        assert pool.template_pid not in (None, old_template)
        assert pid not in pool._by_pid  # the dead worker's pidfd and cgroup were released
    finally:
        await pool.close()


async def test_insecure_dev_loads_are_recorded_every_time(base: Path, root: Path) -> None:
    broker = MemoryBroker()
    pool = WorkerPool(RuntimeConfig(base_dir=base / "insecure", insecure_dev=True,
                                    disabled_layers=frozenset({"cgroup"})), broker)
    await pool.start()
    try:
        assert pool.sandbox_report().level == "insecure"
        spec = await _loaded(pool, root, "acme.insecure")
        await pool.load(spec)
        events = broker.events_of("acme.insecure", "insecure_load")
        assert [e.details["missing"] for e in events] == [["cgroup"], ["cgroup"]]
    finally:
        await pool.close()
