"""The layer/attack matrix: which attacks each hardening layer ALONE stops.

For every row (an attack) we know the set of layers that each stop it on this kernel (Landlock ABI
7: no UDP, no pathname-UNIX control; see docs/security-model.md). Two kinds of test per row:

* ``alone``: every other stopping layer is switched off (RuntimeConfig.disabled_layers, a
  test-only switch) and only layer X stays on; the attack must fail. If X regresses, this fails.
* ``without``: all of the row's stopping layers are off; the attack must SUCCEED. This proves the
  attack is real (it is not failing for an unrelated reason) and that the row lists every layer
  that matters: a layer stopping it that we forgot would make this test fail.

``mechanics`` are layers switched off in every config of a row only so the attack can run at all
(e.g. ``uid``: after the uid drop the interpreter's own stdlib, under a 0700 home, cannot be
lazily imported, so ``import socket`` fails before the kernel is ever asked).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.redteam.harness import (
    OTHER_ORG,
    Host,
    Runtime,
    host_ipc_objects,
    load_victim,
    plant_zip,
    remove_host_ipc_objects,
    start_runtime,
    stolen,
    victim_state,
)
from tests.waiting import within

pytestmark = pytest.mark.asyncio(loop_scope="module")

Check = Callable[["Trial"], Awaitable[bool]]
#: Seconds an attack's evidence outside the sandbox (a listener's hit, a killed victim) gets to
#: appear after the call returned. Evidence that appears ends the wait at once; a stopped attack,
#: which leaves none, costs the whole grace.
EVIDENCE_GRACE = 0.5


@dataclass
class Trial:
    """One attack run: the runtime it ran in, the plugin's answer, and its evidence."""

    rt: Runtime
    host: Host
    result: Any = None
    status: str = ""
    error: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    attack: str
    stoppers: frozenset[str]
    run: Callable[[Trial], Awaitable[None]]
    succeeded: Check
    mechanics: frozenset[str] = frozenset()


class Pools:
    """One started runtime per distinct disabled-layer set, shared by the module's tests."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stack = contextlib.AsyncExitStack()
        self.by_set: dict[frozenset[str], Runtime] = {}

    async def get(self, disabled: frozenset[str]) -> Runtime:
        if disabled not in self.by_set:
            name = "m-" + ("-".join(sorted(disabled)) or "all") + "-" + secrets.token_hex(2)
            self.by_set[disabled] = await self.stack.enter_async_context(
                start_runtime(self.host, disabled=disabled, name=name, insecure_dev=True)
            )
        return self.by_set[disabled]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pools(host: Host) -> AsyncIterator[Pools]:
    pools = Pools(host)
    async with pools.stack:
        yield pools


# -- the attacks ---------------------------------------------------------------------------------


async def _attack(t: Trial, name: str, event: dict[str, Any], **kw: Any) -> None:
    r = await t.rt.attack(name, event, **kw)
    t.result, t.status, t.error = r.result, r.status, r.error


def _got(t: Trial) -> Any:
    return t.result.get("got") if isinstance(t.result, dict) else None


async def run_read_public(t: Trial) -> None:
    await _attack(t, "read_server_data", {"paths": [str(t.host.public_file)]})


async def run_read_secret(t: Trial) -> None:
    await _attack(t, "read_server_data", {"paths": [str(t.host.secret_file)]})


async def run_read_neighbour(t: Trial) -> None:
    """Another plugin's private scratch file, owned by that plugin's own uid (mode 0600)."""
    await t.rt.assert_serving()  # the bystander of another org is up and has a scratch dir
    scratch = t.rt.scratch("benign", OTHER_ORG)
    owner = scratch.stat()
    private = scratch / "private.txt"
    private.write_text(t.host.canary)
    os.chown(private, owner.st_uid, owner.st_gid)
    private.chmod(0o600)
    await _attack(t, "read_server_data", {"paths": [str(private)]})


async def stole_canary(t: Trial) -> bool:
    return bool(stolen(_got(t), t.host.canary))


async def run_write_closed(t: Trial) -> None:
    marker = t.host.closed_dir / f"m-{secrets.token_hex(4)}"
    t.context["marker"] = marker
    await _attack(t, "write_outside_scratch", {"targets": [str(marker)]})


async def marker_exists(t: Trial) -> bool:
    return bool(t.context["marker"].exists())


def _listener_run(
    name: str, listener: str, event: Callable[[Host], dict[str, Any]]
) -> Callable[[Trial], Awaitable[None]]:
    async def run(t: Trial) -> None:
        t.context["before"] = len(t.host.listener_hits()[listener])
        t.context["listener"] = listener
        await _attack(t, name, event(t.host))

    return run


async def listener_hit(t: Trial) -> bool:
    before: int = t.context["before"]
    return await within(
        lambda: len(t.host.listener_hits()[t.context["listener"]]) > before, EVIDENCE_GRACE)


async def _scratch_marker(t: Trial, name: str, **kw: Any) -> Path:
    await t.rt.load(t.rt.spec(name, **kw))
    marker = t.rt.scratch(name) / f"m-{secrets.token_hex(4)}"
    t.context["marker"] = marker
    return marker


async def run_fork(t: Trial) -> None:
    marker = await _scratch_marker(t, "fork_child")
    await _attack(t, "fork_child", {"marker": str(marker)})


async def run_fork_bomb(t: Trial) -> None:
    await _attack(t, "fork_bomb", {"count": 100, "hold": 2.0})


async def forked_all(t: Trial) -> bool:
    return t.status == "ok" and _got(t) == {"forked": 100}


async def run_exec(t: Trial) -> None:
    marker = await _scratch_marker(t, "exec_os_system")
    await _attack(t, "exec_os_system", {"marker": str(marker)})


async def run_signal(t: Trial) -> None:
    victim = t.host.new_victim()
    t.context["victim"] = victim
    await _attack(t, "signal_host", {"host_pid": 0, "victim_pid": victim.pid,
                                     "only_victim": True})


async def victim_killed(t: Trial) -> bool:
    return await within(lambda: t.context["victim"].poll() is not None, EVIDENCE_GRACE)


async def run_memory(t: Trial) -> None:
    # Generous deadline: on a loaded 2-core machine touching 384 MiB can take seconds.
    await _attack(t, "memory_bomb", {"target_mb": 384}, memory_mb=64, timeout_ms=20_000)


async def allocated_everything(t: Trial) -> bool:
    return t.status == "ok" and _got(t) == {"mb": 384}


async def run_fds(t: Trial) -> None:
    await _attack(t, "fd_exhaustion", {})


async def opened_many(t: Trial) -> bool:
    return t.status == "ok" and _got(t)["opened"] > 1000


async def run_disk(t: Trial) -> None:
    await _attack(t, "disk_fill", {"target_mb": 72})


async def filled_past_limit(t: Trial) -> bool:
    return t.status == "ok" and _got(t)["mb"] == 72


async def run_disk_many(t: Trial) -> None:
    # 96 MiB in 16 MiB files: each under RLIMIT_FSIZE, together over the 64 MiB scratch cap
    # (half the attack plugins' 128 MiB memory_mb).
    await _attack(t, "disk_fill", {"target_mb": 96, "file_mb": 16})


async def filled_past_quota(t: Trial) -> bool:
    return t.status == "ok" and _got(t)["mb"] == 96


async def run_inodes(t: Trial) -> None:
    await _attack(t, "disk_fill", {"inodes": 5000})


async def made_every_file(t: Trial) -> bool:
    return t.status == "ok" and _got(t)["files"] == 5000


async def run_import(t: Trial) -> None:
    await _attack(t, "import_forbidden", {})


async def imported(t: Trial) -> bool:
    return "socket" in (_got(t) or {})


async def run_setuid(t: Trial) -> None:
    await _attack(t, "setuid_exec", {"binary": str(_suid_id(t.host))})


async def became_root(t: Trial) -> bool:
    return (_got(t) or {}).get("euid") == "0"


def _suid_id(host: Host) -> Path:
    """A setuid-root copy of ``id`` the plugin uid may execute (a classic escalation path)."""
    target = host.base / "suid" / "id"
    if not target.exists():
        target.parent.mkdir(mode=0o755, exist_ok=True)
        target.parent.chmod(0o755)
        shutil.copyfile(shutil.which("id") or "/usr/bin/id", target)
        target.chmod(0o4755)
    return target


async def run_ipc(t: Trial) -> None:
    key = 0x5000_0000 + secrets.randbelow(1 << 24)
    t.context["key"] = key
    await _attack(t, "sysv_ipc", {"role": "send", "key": key, "message": t.host.canary})
    received = await t.rt.attack("sysv_ipc", {"role": "receive", "key": key}, org=OTHER_ORG)
    t.result, t.status, t.error = received.result, received.status, received.error
    t.context["left_on_host"] = host_ipc_objects(key)
    remove_host_ipc_objects(key)


async def received_or_left_behind(t: Trial) -> bool:
    return bool(stolen(_got(t), t.host.canary)) or bool(t.context["left_on_host"])


async def run_prlimit(t: Trial) -> None:
    victim = await load_victim(t.rt)
    t.context["victim"], t.context["before"] = victim, victim_state(victim)
    await _attack(t, "prlimit_neighbour", {"victim_pid": victim})


async def victim_changed(t: Trial) -> bool:
    return bool(victim_state(t.context["victim"]) != t.context["before"])


async def run_stat(t: Trial) -> None:
    await _attack(t, "stat_server_data", {"paths": [str(t.host.secret_file)]})


async def stat_succeeded(t: Trial) -> bool:
    return bool(_got(t))


async def run_zip(t: Trial) -> None:
    plant_zip(t.rt, "org-red", t.host.canary)
    await _attack(t, "zip_on_path", {})


async def run_handles(t: Trial) -> None:
    await _attack(t, "handle_hunt", {})


async def handle_found(t: Trial) -> bool:
    return bool((_got(t) or {}).get("found"))


NET = frozenset({"import_policy"})
ROWS: dict[str, Row] = {
    "read world-readable host file": Row(
        "read_server_data", frozenset({"landlock", "mountns"}), run_read_public, stole_canary),
    "read 0600 host secret": Row(
        "read_server_data", frozenset({"landlock", "uid", "mountns"}), run_read_secret,
        stole_canary),
    "read another plugin's 0600 scratch file": Row(
        "read_server_data", frozenset({"landlock", "uid", "mountns"}), run_read_neighbour,
        stole_canary),
    "write outside scratch": Row(
        "write_outside_scratch", frozenset({"landlock", "uid", "mountns"}), run_write_closed,
        marker_exists),
    "TCP to host loopback": Row(
        "tcp_loopback", frozenset({"netns", "landlock", "seccomp"}) | NET,
        _listener_run("tcp_loopback", "tcp", lambda h: {"tcp_port": h.tcp.sock.getsockname()[1]}),
        listener_hit, mechanics=frozenset({"uid"})),
    "UDP to host loopback": Row(
        "udp_loopback", frozenset({"netns", "seccomp"}) | NET,
        _listener_run("udp_loopback", "udp", lambda h: {"udp_port": h.udp.sock.getsockname()[1]}),
        listener_hit, mechanics=frozenset({"uid"})),
    "pathname UNIX socket": Row(
        "unix_path_socket", frozenset({"seccomp", "mountns"}) | NET,
        _listener_run("unix_path_socket", "unix", lambda h: {"unix_path": h.unix_path}),
        listener_hit, mechanics=frozenset({"uid"})),
    "abstract UNIX socket": Row(
        "unix_abstract_socket", frozenset({"netns", "landlock", "seccomp"}) | NET,
        _listener_run("unix_abstract_socket", "abstract",
                      lambda h: {"abstract_name": h.abstract_name}),
        listener_hit, mechanics=frozenset({"uid"})),
    "fork": Row("fork_child", frozenset({"seccomp"}), run_fork, marker_exists),
    "fork 100 live processes": Row(
        "fork_bomb", frozenset({"seccomp", "cgroup"}), run_fork_bomb, forked_all),
    "exec via os.system": Row(
        "exec_os_system", frozenset({"seccomp", "landlock", "mountns"}), run_exec,
        marker_exists),
    "signal another process": Row(
        "signal_host", frozenset({"uid", "landlock"}), run_signal, victim_killed),
    "memory bomb": Row(
        "memory_bomb", frozenset({"rlimits", "cgroup"}), run_memory, allocated_everything),
    "fd exhaustion": Row("fd_exhaustion", frozenset({"rlimits"}), run_fds, opened_many),
    "disk filling": Row(
        "disk_fill", frozenset({"rlimits", "scratch_quota"}), run_disk, filled_past_limit),
    "disk filling, many files": Row(
        "disk_fill", frozenset({"scratch_quota"}), run_disk_many, filled_past_quota),
    "inode exhaustion": Row(
        "disk_fill", frozenset({"scratch_quota"}), run_inodes, made_every_file),
    "import socket/ctypes/subprocess": Row(
        "import_forbidden", frozenset({"import_policy"}), run_import, imported,
        mechanics=frozenset({"uid"})),
    "setuid-root binary": Row(
        "setuid_exec", frozenset({"nnp", "seccomp", "landlock", "mountns"}), run_setuid,
        became_root),
    "SysV/POSIX IPC to another org's plugin": Row(
        "sysv_ipc", frozenset({"ipcns", "seccomp"}), run_ipc, received_or_left_behind),
    "prlimit/renice/re-pin a plugin with a colliding uid": Row(
        "prlimit_neighbour", frozenset({"uid_table", "seccomp"}), run_prlimit, victim_changed),
    "stat() the server's data directory": Row(
        "stat_server_data", frozenset({"mountns"}), run_stat, stat_succeeded),
    "load code from a zip put on __path__": Row(
        "zip_on_path", frozenset({"import_policy"}), run_zip, stole_canary),
    "reach the hardening code's libc handle from the frame": Row(
        "handle_hunt", frozenset({"import_policy"}), run_handles, handle_found),
}

ALONE = [(row, layer) for row, spec in ROWS.items() for layer in sorted(spec.stoppers)]


async def _trial(pools: Pools, host: Host, row: Row, disabled: frozenset[str]) -> Trial:
    rt = await pools.get(disabled | row.mechanics)
    trial = Trial(rt, host)
    await row.run(trial)
    return trial


@pytest.mark.parametrize(("row", "layer"), ALONE, ids=[f"{r}-{layer}" for r, layer in ALONE])
async def test_layer_alone_stops_the_attack(
    pools: Pools, host: Host, row: str, layer: str
) -> None:
    spec = ROWS[row]
    trial = await _trial(pools, host, spec, spec.stoppers - {layer})
    assert not await spec.succeeded(trial), (
        f"{row}: with only {layer} of {sorted(spec.stoppers)} on, the attack got through "
        f"(status {trial.status}, reply {str(trial.result)[:300]})"
    )


@pytest.mark.parametrize("row", list(ROWS))
async def test_attack_succeeds_when_all_its_stopping_layers_are_off(
    pools: Pools, host: Host, row: str
) -> None:
    spec = ROWS[row]
    trial = await _trial(pools, host, spec, spec.stoppers)
    assert await spec.succeeded(trial), (
        f"{row}: still stopped with {sorted(spec.stoppers)} off: another layer stops it or the "
        f"attack is broken (status {trial.status}, error {trial.error}, "
        f"reply {str(trial.result)[:300]})"
    )
