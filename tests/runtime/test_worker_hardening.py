"""Each hardening layer is really in place in a running worker, seen from the host's /proc
and from inside the plugin."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.runtime.sandbox_kit import info_for, make_spec, plugin_tree, traversable_dir

from proofpix_plugins.runtime.config import RuntimeConfig
from proofpix_plugins.runtime.host.memory_broker import MemoryBroker
from proofpix_plugins.runtime.host.pool import WorkerPool
from proofpix_plugins.runtime.sandbox.hardening.uid import UID_BASE, UID_SPAN
from proofpix_plugins.runtime.spec import PluginSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = '''
import os
import threading


def _try(fn):
    try:
        return {"ok": fn()}
    except OSError as exc:
        return {"errno": exc.errno}


def probe(event, ctx):
    def write_scratch():
        with open("note.txt", "w") as fh:
            fh.write("x")
        return os.path.abspath("note.txt")

    def write_tree():
        with open(event["tree"] + "/planted.py", "w") as fh:
            fh.write("x")

    def thread():
        box = []
        t = threading.Thread(target=lambda: box.append(1))
        t.start()
        t.join()
        return box

    return {
        "pid": os.getpid(),
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
        "passwd": _try(lambda: open("/etc/passwd").read(10)),
        "own_tree": _try(lambda: len(open(event["tree"] + "/plugin/__init__.py").read())),
        "write_tree": _try(write_tree),
        "scratch": _try(write_scratch),
        "fork": _try(os.fork),
        "thread": _try(thread),
        "proc_1": _try(lambda: open("/proc/1/environ", "rb").read(10)),
        "data_dir_stat": _try(lambda: os.stat(event["data_dir"]).st_size),
    }
'''


@dataclass
class World:
    pool: WorkerPool
    root: Path
    spec: PluginSpec
    probe: dict[str, Any]
    other_pid: int


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    with traversable_dir("pp-hard") as base:
        pool = WorkerPool(RuntimeConfig(base_dir=base / "rt"), MemoryBroker())
        await pool.start()
        root = plugin_tree(base, "hard", SOURCE)
        spec = make_spec(root, "acme.hard", {"t:probe": "probe"}, memory_mb=128)
        await pool.load(spec)
        other = make_spec(root, "acme.other", {"t:probe": "probe"}, memory_mb=128)
        await pool.load(other)
        data_dir = base / "server-data"
        data_dir.mkdir(mode=0o755)
        event = {"tree": str(root), "data_dir": str(data_dir)}
        outcome = await pool.call(spec.key, "t:probe", event, timeout_ms=5000,
                                  info=info_for(spec, "t:probe"))
        assert outcome.status == "ok", outcome.error
        (other_pid,) = [w.pid for w in pool.live_workers() if w.plugin_id == "acme.other"]
        try:
            yield World(pool, root, spec, outcome.result, other_pid)
        finally:
            await pool.close()


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _limits(pid: int) -> str:
    return _read(f"/proc/{pid}/limits")


async def test_worker_runs_as_the_plugins_own_uid_without_groups(world: World) -> None:
    uid = world.probe["ids"][0]
    assert UID_BASE <= uid < UID_BASE + UID_SPAN
    assert world.probe["ids"] == [uid, uid, uid, []]
    status = _status(world.probe["pid"])
    assert status["Uid"].split() == [str(uid)] * 4


async def test_worker_has_no_new_privs_and_a_seccomp_filter(world: World) -> None:
    status = _status(world.probe["pid"])
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    assert status["CapEff"].strip() == "0000000000000000"


async def test_worker_lives_in_another_network_namespace(world: World) -> None:
    pid = world.probe["pid"]
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


async def test_worker_has_rlimits(world: World) -> None:
    limits = _limits(world.probe["pid"])
    rows = {line[:26].strip(): line[26:].split() for line in limits.splitlines()[1:]}
    assert rows["Max core file size"][:2] == ["0", "0"]
    assert rows["Max open files"][:2] == ["64", "64"]
    assert rows["Max address space"][0] != "unlimited"
    assert rows["Max cpu time"][0] != "unlimited"
    assert rows["Max file size"][0] == str(64 * 1024 * 1024)


async def test_worker_is_in_its_own_cgroup(world: World) -> None:
    lines = _read(f"/proc/{world.probe['pid']}/cgroup").splitlines()
    memory = next(line for line in lines if ":memory:" in line or line.startswith("0::"))
    assert "/proofpix-" in memory


async def test_host_files_are_not_in_the_workers_view(world: World) -> None:
    # ENOENT, not EACCES: the mount namespace shows only the readable trees (Landlock would
    # refuse the open as well; the layer matrix switches each off).
    assert world.probe["passwd"] == {"errno": errno.ENOENT}
    assert world.probe["proc_1"] == {"errno": errno.ENOENT}
    assert world.probe["data_dir_stat"] == {"errno": errno.ENOENT}


async def test_worker_has_its_own_ipc_and_mount_namespaces(world: World) -> None:
    pid, other = world.probe["pid"], world.other_pid
    for ns in ("ipc", "mnt"):
        mine = os.readlink(f"/proc/{pid}/ns/{ns}")
        assert mine != os.readlink(f"/proc/self/ns/{ns}")
        assert mine != os.readlink(f"/proc/{other}/ns/{ns}")


async def test_own_tree_is_readable_but_not_writable(world: World) -> None:
    assert world.probe["own_tree"]["ok"] > 0
    assert world.probe["write_tree"] == {"errno": errno.EROFS}  # a read-only bind mount
    assert not (world.root / "planted.py").exists()


async def test_scratch_dir_is_writable_and_is_the_cwd(world: World) -> None:
    path = Path(world.probe["scratch"]["ok"])
    # <base>/scratch/<this pool's process instance>/<sha256(org, plugin)>/file
    assert path.parent.parent.parent == world.pool.config.base_dir / "scratch"
    assert _read(str(path)) == "x"


async def test_fork_is_refused_but_threads_work(world: World) -> None:
    assert world.probe["fork"] == {"errno": 1}
    assert world.probe["thread"] == {"ok": [1]}
