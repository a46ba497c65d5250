"""The malicious-plugin corpus against the real runtime with every layer on.

Each test runs one plugin from ``corpus/`` through WorkerPool + HookBus + MemoryBroker, asserts
that what the attack was after is ABSENT (checked outside the sandbox wherever evidence exists:
files, listeners, processes, the broker's state), and, through ``Runtime.attack``, that a
bystander plugin of another organization still answers afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from proofpix_plugins.runtime.host.capabilities import MAX_EMIT_BYTES_PER_CALL, MAX_EMITS_PER_CALL
from proofpix_plugins.runtime.host.scratch import scratch_mb
from proofpix_plugins.runtime.limits import FRAME_MAX_DEPTH
from proofpix_plugins.runtime.sandbox.hardening.uid import plugin_uid
from tests.redteam.harness import (
    COLLIDING_VICTIM,
    HOST_SECRET_ENV,
    ORG,
    OTHER_ORG,
    Host,
    Runtime,
    hook_of,
    host_ipc_objects,
    load_victim,
    plant_zip,
    plugin_id,
    stolen,
    victim_state,
)
from tests.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _got(result: Any) -> Any:
    assert isinstance(result, dict), f"unexpected plugin reply: {result!r}"
    return result["got"]


def _marker(directory: Path, tag: str) -> Path:
    return directory / f"pwned-{tag}-{secrets.token_hex(4)}"


async def test_the_attacked_runtime_has_every_layer(rt: Runtime) -> None:
    report = rt.pool.sandbox_report()
    assert (report.level, report.missing) == ("full", [])


# -- host files --------------------------------------------------------------------------------


async def test_etc_passwd_and_shadow_are_unreadable(rt: Runtime) -> None:
    r = await rt.attack("read_etc_passwd")
    got = _got(r.result)
    assert "/etc/passwd" not in got
    assert "/etc/shadow" not in got
    assert not stolen(r.result, "root:x:0:0", "root:*:", "root:$")


async def test_server_data_directory_is_unreadable_and_unlistable(rt: Runtime, host: Host) -> None:
    paths = [str(host.secret_file), str(host.public_file), str(host.data_dir / "proofpix.db")]
    r = await rt.attack(
        "read_server_data", {"paths": paths, "dirs": [str(host.data_dir), str(host.base)]}
    )
    assert _got(r.result) == {}
    assert not stolen(_got(r.result), host.canary, "jwt_secret", "proofpix.db")


async def test_another_plugins_tree_and_scratch_are_unreadable(rt: Runtime, host: Host) -> None:
    await rt.assert_serving()  # the bystander (another org) is loaded and has a scratch dir
    victim_tree = rt.tree(OTHER_ORG, "benign") / "plugin" / "secret.txt"
    victim_tree.write_text(host.canary)
    victim_tree.chmod(0o644)
    victim_scratch = rt.scratch("benign", OTHER_ORG) / "secret.txt"
    victim_scratch.write_text(host.canary)
    victim_scratch.chmod(0o644)
    same_org = rt.tree(ORG, "env_dump") / "plugin" / "secret.txt"  # a neighbour in our org
    same_org.write_text(host.canary)
    same_org.chmod(0o644)
    r = await rt.attack(
        "read_other_plugin",
        {"paths": [str(victim_tree), str(victim_scratch), str(same_org),
                   str(rt.tree(OTHER_ORG, "benign") / "plugin" / "__init__.py")]},
    )
    assert not stolen(r.result, host.canary, "bystander")
    assert not any(k.startswith("/") for k in _got(r.result))


async def test_host_proc_entries_are_unreadable(rt: Runtime, host: Host) -> None:
    me = os.getpid()
    r = await rt.attack("proc_snoop", {"host_pid": me})
    got = _got(r.result)
    for entry in ("environ", "cmdline", "maps", "mem", "fd"):
        assert f"/proc/{me}/{entry}" not in got
    assert not stolen(r.result, host.canary, "pytest")


async def test_worker_environment_holds_no_host_secret(rt: Runtime, host: Host) -> None:
    assert os.environ[HOST_SECRET_ENV] == host.canary  # the host really holds it
    r = await rt.attack("env_dump")
    got = _got(r.result)
    assert HOST_SECRET_ENV not in got["environ"]
    assert not stolen(r.result, host.canary)


# -- writes ------------------------------------------------------------------------------------


async def test_writes_outside_scratch_leave_no_file(rt: Runtime, host: Host) -> None:
    own_tree = rt.tree(ORG, "write_outside_scratch") / "plugin"
    targets = [
        _marker(host.closed_dir, "closed"),
        _marker(host.base, "base"),
        _marker(host.data_dir, "data"),
        _marker(Path("/tmp"), "tmp"),
        _marker(own_tree, "tree"),
        _marker(rt.config.base_dir, "runtime-base"),
    ]
    r = await rt.attack("write_outside_scratch", {"targets": [str(t) for t in targets]})
    assert _got(r.result) == []
    assert [t for t in targets if t.exists()] == []


async def test_plugin_cannot_rewrite_its_own_code(rt: Runtime) -> None:
    code = rt.tree(ORG, "tamper_own_code") / "plugin" / "__init__.py"
    before = hashlib.sha256(code.read_bytes()).hexdigest(), code.stat().st_mode
    r = await rt.attack("tamper_own_code")
    assert _got(r.result) == []
    assert (hashlib.sha256(code.read_bytes()).hexdigest(), code.stat().st_mode) == before
    assert not (code.parent / "evil.py").exists()


async def test_links_from_scratch_do_not_reach_host_files(rt: Runtime, host: Host) -> None:
    r = await rt.attack(
        "link_escape", {"targets": [str(host.public_file), str(host.secret_file), "/etc/passwd"]}
    )
    assert _got(r.result) == {}
    assert not stolen(r.result, host.canary, "root:x:0:0")


# -- network -----------------------------------------------------------------------------------


async def _settle() -> None:
    await asyncio.sleep(0.2)  # let a datagram or connection that got through be recorded


async def test_tcp_to_host_loopback_reaches_no_listener(rt: Runtime, host: Host) -> None:
    before = {k: len(v) for k, v in host.listener_hits().items()}
    r = await rt.attack(
        "tcp_loopback",
        {"tcp_port": host.tcp.sock.getsockname()[1],
         "tcp6_port": host.tcp6.sock.getsockname()[1] if host.tcp6 else 0},
    )
    await _settle()
    assert _got(r.result) == []
    assert {k: len(v) for k, v in host.listener_hits().items()} == before


async def test_udp_to_host_loopback_delivers_no_datagram(rt: Runtime, host: Host) -> None:
    before = len(host.udp.hits)
    r = await rt.attack("udp_loopback", {"udp_port": host.udp.sock.getsockname()[1]})
    await _settle()
    assert _got(r.result) == []
    assert len(host.udp.hits) == before


async def test_pathname_unix_socket_of_the_host_is_unreachable(rt: Runtime, host: Host) -> None:
    before = len(host.unix.hits)
    r = await rt.attack("unix_path_socket", {"unix_path": host.unix_path})
    await _settle()
    assert _got(r.result) == []
    assert len(host.unix.hits) == before


async def test_abstract_unix_socket_of_the_host_is_unreachable(rt: Runtime, host: Host) -> None:
    before = len(host.abstract.hits)
    r = await rt.attack("unix_abstract_socket", {"abstract_name": host.abstract_name})
    await _settle()
    assert _got(r.result) == []
    assert len(host.abstract.hits) == before


async def test_netlink_packet_and_raw_sockets_cannot_be_opened(rt: Runtime) -> None:
    r = await rt.attack("raw_sockets")
    assert _got(r.result) == {}


async def test_private_and_metadata_addresses_are_unreachable_directly(rt: Runtime) -> None:
    r = await rt.attack("private_targets")
    assert _got(r.result) == []


async def test_no_new_socket_and_no_host_file_among_inherited_fds(
    rt: Runtime, host: Host
) -> None:
    r = await rt.attack("socketpair_fd_pass")
    got = _got(r.result)
    assert "socketpair" not in got
    links = list(got.get("fds", {}).values())
    assert not [link for link in links if str(host.base) in link or "TCP" in link]
    assert sum("socket:" in link for link in links) <= 1  # only the worker's own channel


async def test_http_capability_never_reaches_private_targets_or_follows_them(
    rt: Runtime, host: Host
) -> None:
    port = host.http.server_address[1]
    host.http.redirects.update({
        "meta": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/",
        "localhost": f"http://localhost:{port}/secret",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/secret",
        "decimal": f"http://2130706433:{port}/secret",
    })
    urls = [host.http_url(f"/go/{k}") for k in ("meta", "private", "localhost", "mapped",
                                                 "decimal")]
    urls += [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        f"http://localhost:{port}/secret",
        f"http://127.0.0.2:{port}/secret",
        host.http_url("/hello"),  # the control: the allowed server is reachable
    ]
    r = await rt.attack(
        "http_ssrf", {"urls": urls}, permissions=frozenset({"http"}),
        network_allow=("127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1"),
        timeout_ms=10_000,
    )
    got = _got(r.result)
    assert got == {host.http_url("/hello"): {"status": 200, "body": "hello"}}
    assert "/secret" not in host.http.hits
    assert not stolen(r.result, host.canary)


class RebindingResolver:
    """DNS beyond this machine, as an attacker runs it: a public answer, then a private one."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        rounds = self.answers[host]
        return rounds[min(len(self.asked) - 1, len(rounds) - 1)]


async def test_http_capability_resists_dns_rebinding(
    rt: Runtime, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proofpix_plugins.runtime.egress import fetch as egress

    port = host.http.server_address[1]
    dns = RebindingResolver({
        # Accepted at check time, the secret server afterwards: only a second lookup would see
        # it. 127.0.0.3 stands in for a public address (the fixture's test switch accepts it for
        # this one name; nothing listens there), so no traffic leaves this machine.
        "rebind.example.com": [["127.0.0.3"], ["127.0.0.1"]],
        "rebind-late.example.com": [["127.0.0.1"]],
        "private.example.com": [["127.0.0.1"]],
        "mixed.example.com": [["93.184.216.34", "127.0.0.1"]],
        "meta.example.com": [["169.254.169.254"]],
        "mapped.example.com": [["::ffff:127.0.0.1"]],
    })
    monkeypatch.setattr(egress.SystemResolver, "resolve", dns.resolve)
    host.http.redirects["rebind"] = f"http://rebind-late.example.com:{port}/secret"
    urls = [
        f"http://rebind.example.com:{port}/secret",
        f"http://private.example.com:{port}/secret",
        f"http://mixed.example.com:{port}/secret",
        f"http://meta.example.com:{port}/latest/meta-data/",
        f"http://mapped.example.com:{port}/secret",
        host.http_url("/go/rebind"),
    ]
    r = await rt.attack(
        "http_ssrf", {"urls": urls}, permissions=frozenset({"http"}),
        network_allow=("127.0.0.1", "*.example.com"), timeout_ms=10_000,
    )
    assert not stolen(r.result, host.canary)
    assert "/secret" not in host.http.hits
    assert "/go/rebind" in host.http.hits  # the allowed first hop was made, its redirect refused
    # One lookup for the pinned name, never a second look that would have found the server.
    assert dns.asked.count("rebind.example.com") == 1
    assert dns.asked.count("rebind-late.example.com") == 1
    assert set(_got(r.result)) <= {urls[0]}


# -- processes ---------------------------------------------------------------------------------


async def test_os_system_runs_nothing(rt: Runtime) -> None:
    await rt.load(rt.spec("exec_os_system"))
    marker = _marker(rt.scratch("exec_os_system"), "system")
    r = await rt.attack("exec_os_system", {"marker": str(marker)})
    assert not marker.exists()
    assert _got(r.result).get("rc", 32512) != 0


async def test_subprocess_and_posix_spawn_run_nothing(rt: Runtime) -> None:
    await rt.load(rt.spec("exec_subprocess"))
    marker = _marker(rt.scratch("exec_subprocess"), "subprocess")
    r = await rt.attack("exec_subprocess", {"marker": str(marker)})
    assert not marker.exists()
    assert not Path(f"{marker}.spawn").exists()
    assert "posix_spawn" not in _got(r.result)


async def test_execv_cannot_replace_the_worker(rt: Runtime) -> None:
    await rt.load(rt.spec("exec_execv"))
    pid = rt.worker_pid("exec_execv")
    marker = _marker(rt.scratch("exec_execv"), "execv")
    r = await rt.attack("exec_execv", {"marker": str(marker)})
    assert r.status == "ok"  # every execv raised inside the plugin
    assert len(r.result["errors"]) == 3
    assert not marker.exists()
    assert rt.worker_pid("exec_execv") == pid


async def test_fork_creates_no_process(rt: Runtime) -> None:
    await rt.load(rt.spec("fork_child"))
    marker = _marker(rt.scratch("fork_child"), "fork")
    r = await rt.attack("fork_child", {"marker": str(marker)})
    assert _got(r.result) == {}
    assert not marker.exists()


async def test_threads_work_but_forking_from_a_thread_does_not(rt: Runtime) -> None:
    await rt.load(rt.spec("threads_then_fork"))
    marker = _marker(rt.scratch("threads_then_fork"), "thread-fork")
    r = await rt.attack("threads_then_fork", {"marker": str(marker)})
    assert _got(r.result) == {"threads_ran": 3}
    assert len(r.result["errors"]) == 3
    assert not marker.exists()


@pytest.fixture
def caught_signals() -> Iterator[list[int]]:
    """Catch SIGTERM/SIGUSR1 in the host so a sandbox failure shows up as data, not a dead run."""
    seen: list[int] = []
    old = {s: signal.signal(s, lambda n, _f: seen.append(n)) for s in (signal.SIGTERM,
                                                                        signal.SIGUSR1)}
    yield seen
    for s, handler in old.items():
        signal.signal(s, handler)


async def test_signals_reach_neither_host_nor_template_nor_other_processes(
    rt: Runtime, host: Host, caught_signals: list[int]
) -> None:
    victim = host.new_victim()
    r = await rt.attack(
        "signal_host", {"host_pid": os.getpid(), "victim_pid": victim.pid}
    )
    await asyncio.sleep(0.1)
    assert _got(r.result) == []
    assert caught_signals == []
    assert victim.poll() is None
    # The template survived: a plugin never loaded before still starts from it.
    after = rt.spec("benign", org="org-after-signals")
    await rt.load(after)
    res = await rt.bus.execute_hook(after.org_id, hook_of("benign"), {})
    assert res.results[0].status == "ok"


async def test_ptrace_and_process_vm_read_fail(rt: Runtime, host: Host) -> None:
    victim = host.new_victim()
    r = await rt.attack("ptrace_host", {"host_pid": os.getpid(), "victim_pid": victim.pid})
    assert _got(r.result) == {}
    assert victim.poll() is None


async def test_dangerous_syscalls_and_privilege_regain_fail(rt: Runtime) -> None:
    r = await rt.attack("dangerous_syscalls")
    assert _got(r.result) == {}


def _dead(pid: int) -> bool:
    """The process is dead: reaped, or a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # reaped between lookup and read
        return True
    return state in {"Z", "X"}


# -- resources ---------------------------------------------------------------------------------


async def test_memory_bomb_is_stopped_near_memory_mb(rt: Runtime) -> None:
    r = await rt.attack("memory_bomb", {"target_mb": 2048}, memory_mb=64)
    if r.status == "ok":
        assert _got(r.result)["mb"] < 128
    else:
        assert r.status in {"error", "crashed"}
        assert "memory" in (r.error or "").lower() or "SIGKILL" in (r.error or "")


async def test_cpu_spin_times_out_and_its_worker_is_killed(rt: Runtime) -> None:
    await rt.load(rt.spec("cpu_spin", timeout_ms=400))
    pid = rt.worker_pid("cpu_spin")
    started = time.monotonic()
    r = await rt.attack("cpu_spin", timeout_ms=400)
    assert r.status == "timeout"
    # The bounds are the behaviour: the call ran until its 400 ms deadline, not less, and was
    # cut there rather than left to spin. The upper one is generous for a loaded machine; the
    # status already says the deadline (not, say, the CPU rlimit) ended it.
    assert 0.35 < time.monotonic() - started < 10.0
    assert pid is not None
    assert rt.worker_pid("cpu_spin") != pid
    await eventually(lambda: _dead(pid), what=f"timed-out worker {pid} is killed")


async def test_slow_reply_times_out_and_the_next_call_gets_a_fresh_worker(rt: Runtime) -> None:
    await rt.load(rt.spec("slow_reply", timeout_ms=300))
    first = rt.worker_pid("slow_reply")
    r = await rt.attack("slow_reply", {"sleep_s": 3600}, timeout_ms=300)
    assert r.status == "timeout"
    assert r.result is None
    assert first is not None
    await eventually(lambda: _dead(first), what=f"timed-out worker {first} is killed")
    again = await rt.attack("slow_reply", {"sleep_s": 0}, timeout_ms=300)
    assert again.status == "ok"
    assert rt.worker_pid("slow_reply") not in {None, first}


async def test_deep_recursion_crashes_only_its_own_worker(rt: Runtime) -> None:
    r = await rt.attack("deep_recursion")
    assert r.status in {"crashed", "error"}
    assert r.result is None


async def test_fd_exhaustion_stops_at_the_open_files_limit(rt: Runtime) -> None:
    r = await rt.attack("fd_exhaustion")
    assert r.status == "ok"
    assert _got(r.result)["opened"] < 64
    again = await rt.attack("fd_exhaustion")  # the worker is still usable with all fds taken
    assert again.status == "ok"


async def test_disk_filling_stops_at_the_file_size_limit(rt: Runtime) -> None:
    await rt.load(rt.spec("disk_fill"))
    scratch = rt.scratch("disk_fill")
    r = await rt.attack("disk_fill", {"target_mb": 256})
    assert r.status == "ok"
    assert r.result["errors"] == ["errno 27"]  # EFBIG
    assert (scratch / "fill-0.bin").stat().st_size <= 64 * 1024 * 1024


async def test_disk_filling_with_many_files_stops_at_the_scratch_quota(rt: Runtime) -> None:
    await rt.load(rt.spec("disk_fill"))
    scratch = rt.scratch("disk_fill")
    for old in scratch.iterdir():  # what an earlier attack left
        old.unlink()
    r = await rt.attack("disk_fill", {"target_mb": 400, "file_mb": 32})
    assert r.status == "ok", r.error
    assert r.result["errors"] == ["errno 28"]  # ENOSPC: the tmpfs is full
    used = sum(p.stat().st_size for p in scratch.iterdir())
    cap_mb = scratch_mb(rt.pool.config, rt.spec("disk_fill"))
    assert used <= cap_mb * 1024 * 1024 == 64 * 1024 * 1024
    assert r.result["got"]["mb"] < 400


async def test_inode_exhaustion_stops_at_the_scratch_quota(rt: Runtime) -> None:
    await rt.load(rt.spec("disk_fill"))
    for old in rt.scratch("disk_fill").iterdir():
        old.unlink()
    r = await rt.attack("disk_fill", {"inodes": 20_000})
    assert r.status == "ok"
    assert r.result["errors"] == ["errno 28"]
    assert r.result["got"]["files"] < rt.config.scratch_inodes


async def test_reply_over_the_frame_cap_is_refused_without_hurting_the_host(
    rt: Runtime,
) -> None:
    r = await rt.attack("huge_reply", {"reply_mb": 4})
    assert r.status in {"crashed", "error"}
    assert r.result is None
    assert "frame" in (r.error or "").lower()


@pytest.mark.parametrize("mode", ["garbage", "huge_prefix", "bad_schema"])
async def test_raw_garbage_on_the_channel_is_a_crash_not_a_host_failure(
    rt: Runtime, mode: str
) -> None:
    r = await rt.attack("channel_garbage", {"mode": mode})
    assert r.status == "crashed"
    assert r.result is None
    assert "frame" in (r.error or "")  # the host named the broken frame, it did not just die


async def test_a_decoder_stack_bomb_is_refused_before_decoding_as_the_plugins_error(
    rt: Runtime,
) -> None:
    # A well-framed result nested a million levels deep: measured, not decoded (frame budget).
    r = await rt.attack("channel_garbage", {"mode": "deep_nesting"})
    assert r.status == "error"
    assert r.result is None
    assert f"nested deeper than {FRAME_MAX_DEPTH} levels" in (r.error or "")


async def test_half_written_frame_blocks_nobody_else(rt: Runtime) -> None:
    spec = rt.spec("channel_garbage", timeout_ms=800)
    await rt.load(spec)
    bystander = rt.spec("benign", org=OTHER_ORG)
    await rt.load(bystander)
    stuck = asyncio.ensure_future(
        rt.bus.execute_hook(ORG, hook_of("channel_garbage"), {"mode": "half_frame"})
    )
    await asyncio.sleep(0.1)
    other = await rt.bus.execute_hook(OTHER_ORG, hook_of("benign"), {"ping": 2})
    assert other.results[0].status == "ok"
    assert not stuck.done()  # answered while the half-written frame was still pending
    (res,) = (await stuck).results
    assert res.status in {"timeout", "crashed"}


async def test_forged_capability_frames_cannot_name_another_org(rt: Runtime, host: Host) -> None:
    victim_plugin = plugin_id("channel_garbage")
    await rt.broker.storage_set(OTHER_ORG, victim_plugin, "secret", host.canary)
    r = await rt.attack(
        "channel_garbage",
        {"mode": "forged_storage", "key": "secret", "org": OTHER_ORG, "plugin": victim_plugin},
        permissions=frozenset({"storage"}),
        timeout_ms=3000,
    )
    assert not stolen(r.result, host.canary)
    assert await rt.broker.storage_get(OTHER_ORG, victim_plugin, "secret") == host.canary


# -- capabilities ------------------------------------------------------------------------------


async def test_storage_is_scoped_to_org_and_plugin_whatever_the_key(
    rt: Runtime, host: Host
) -> None:
    me = plugin_id("storage_cross_org")
    await rt.broker.storage_set(OTHER_ORG, me, "k", host.canary)  # same plugin, other org
    await rt.broker.storage_set(ORG, "red.other", "k", host.canary)  # same org, other plugin
    r = await rt.attack(
        "storage_cross_org", {"key": "k", "org": OTHER_ORG, "plugin": me},
        permissions=frozenset({"storage"}),
    )
    assert r.status == "ok"
    assert _got(r.result) == {"keys": []}
    assert not stolen(r.result, host.canary)


async def test_capabilities_without_permission_are_denied_and_recorded(
    rt: Runtime, host: Host
) -> None:
    rt.broker.add_file(ORG, "f-secret", host.canary.encode())
    r = await rt.attack(
        "no_permission", {"url": host.http_url("/secret")}, file_id="f-secret",
        config={"apiKey": host.canary, "mode": "fast"}, secret_keys=frozenset({"apiKey"}),
    )
    got = _got(r.result)
    assert got["config"] == {"apiKey": "***", "mode": "fast"}
    assert [k for k in got if k != "config"] == []
    assert not stolen(r.result, host.canary)
    me = plugin_id("no_permission")
    assert (ORG, me) not in rt.broker.storage
    assert rt.broker.metadata.get("f-secret") is None
    assert [e for e in rt.broker.emitted if e.plugin_id == me] == []
    assert "/secret" not in host.http.hits
    denied = {e.details.get("permission") for e in rt.broker.events_of(me, "permission_denied")}
    assert {"files", "storage", "metadata", "http", "secrets", "events"} <= denied


def _png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge image, with a tiny (truncated) pixel stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\0" * 65536)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def test_decompression_bomb_image_is_refused_in_the_worker(rt: Runtime) -> None:
    rt.broker.add_file(ORG, "f-bomb", _png_claiming(100_000, 100_000), "image/png", "bomb.png")
    r = await rt.attack("image_bomb", file_id="f-bomb",
                        permissions=frozenset({"files", "images"}))
    assert r.status in {"ok", "error", "crashed"}
    if r.status == "ok":
        assert _got(r.result) == {}
        assert "decompression bomb" in r.result["errors"][0].lower()


async def test_storage_flood_stops_at_the_quota(rt: Runtime) -> None:
    r = await rt.attack("storage_flood", {"keys": 3000, "value_bytes": 2000},
                        permissions=frozenset({"storage"}))
    assert r.status == "ok"
    assert "quota" in r.result["errors"][0]
    me = plugin_id("storage_flood")
    assert rt.broker.storage_bytes(ORG, me) <= rt.broker.quota.max_bytes
    assert len(rt.broker.storage[(ORG, me)]) < 3000


def _tiny_png() -> bytes:
    return _png_claiming(4, 4)


async def test_derived_image_flood_stops_at_the_files_budget(rt: Runtime) -> None:
    rt.broker.add_file(ORG, "f-flood", _tiny_png(), "image/png", "flood.png")
    budget = rt.broker.derived_budget
    r = await rt.attack("derived_flood", {"count": 200, "side": 64}, file_id="f-flood",
                        permissions=frozenset({"files", "images"}), timeout_ms=20_000)
    assert r.status == "ok", r
    assert f"at most {budget.max_file_images} images" in r.result["errors"][0]
    mine = [d for d in rt.broker.derived if d.source_file_id == "f-flood"]
    assert len(mine) == budget.max_file_images
    assert sum(len(d.data) for d in mine) <= budget.max_file_bytes


async def test_derived_images_that_are_no_image_are_refused(rt: Runtime) -> None:
    rt.broker.add_file(ORG, "f-fake", _tiny_png(), "image/png", "fake.png")
    r = await rt.attack("derived_not_image", file_id="f-fake",
                        permissions=frozenset({"files", "images"}))
    assert r.status == "ok", r
    assert _got(r.result) == {}
    assert len(r.result["errors"]) == 4
    assert all("must be an image" in e for e in r.result["errors"]), r.result["errors"]
    assert [d for d in rt.broker.derived if d.source_file_id == "f-fake"] == []


async def test_event_flood_is_capped_per_call(rt: Runtime) -> None:
    me = plugin_id("emit_flood")
    r = await rt.attack("emit_flood", {"count": 3000, "bytes": 10_000},
                        permissions=frozenset({"events"}), timeout_ms=20_000)
    accepted = sum(len(orjson.dumps(e.data)) for e in rt.broker.emitted if e.plugin_id == me)
    assert r.status in {"ok", "error"}
    emitted = [e for e in rt.broker.emitted if e.plugin_id == me]
    assert len(emitted) <= MAX_EMITS_PER_CALL
    assert accepted <= MAX_EMIT_BYTES_PER_CALL


async def test_introspection_finds_no_host_object_or_secret(rt: Runtime, host: Host) -> None:
    # Only the prefix: handing the plugin the canary itself would plant it in its memory.
    r = await rt.attack("introspection", {"canaries": ["CANARY-", HOST_SECRET_ENV]})
    got = _got(r.result)
    assert got.pop("modules") == []
    got.pop("gc_available")
    assert got == {}


async def test_forbidden_modules_cannot_be_imported(rt: Runtime) -> None:
    r = await rt.attack("import_forbidden")
    assert _got(r.result) == {}
    assert len(r.result["errors"]) == 5


async def test_log_flood_neither_kills_the_worker_nor_stalls_the_host(rt: Runtime) -> None:
    started = time.monotonic()
    r = await rt.attack("log_flood", {"lines": 3000})
    assert r.status == "ok"
    assert _got(r.result) == {"sent": 3000}
    # The bound is the behaviour (the host kept up with the flood instead of stalling on it);
    # generous for a loaded machine: the call itself takes well under a second.
    assert time.monotonic() - started < 10.0


async def test_self_recursive_hook_is_refused_without_deadlock(rt: Runtime) -> None:
    name = "hook_recursion"
    started = time.monotonic()
    r = await rt.attack(
        name, {"hook": hook_of(name)}, permissions=frozenset({"events"}), timeout_ms=5000
    )
    # The bound is the behaviour: a deadlocked call would wait out its 5 s deadline. Generous
    # for a loaded machine, still below that deadline.
    assert time.monotonic() - started < 4.5
    assert r.status == "ok"
    nested = _got(r.result)
    assert nested["results"][0]["status"] == "error"
    assert "re-entrant" in nested["results"][0]["error"]


async def test_hardening_handles_are_unreachable_from_the_calling_frame(rt: Runtime) -> None:
    result = await rt.attack("handle_hunt", {})
    assert result.status == "ok", result.error
    assert result.result["frames"] > 3  # it did walk up into the worker's and template's frames
    assert result.result["got"] == {"found": {}, "used": {}}


# -- the host around the sandbox: IPC, uids, the filesystem view, nested archives ---------------


async def test_ipc_carries_nothing_between_organizations_and_nothing_outlives_the_workers(
    rt: Runtime, host: Host
) -> None:
    key = 0x5000_0000 + secrets.randbelow(1 << 24)
    sent = await rt.attack_while_serving(
        "sysv_ipc", {"role": "send", "key": key, "message": host.canary, "hold": 0.3})
    assert sent.status == "ok", sent.error
    # seccomp refuses every call (-1); the worker's own IPC namespace would hold them otherwise.
    assert {k: v for k, v in _got(sent.result).items() if v != -1} == {}
    received = await rt.attack_while_serving(
        "sysv_ipc", {"role": "receive", "key": key, "hold": 0.3}, org=OTHER_ORG)
    assert received.status == "ok", received.error
    assert _got(received.result) == {}
    assert not stolen(received.result, host.canary)
    assert host_ipc_objects(key) == []


async def test_no_plugin_can_lower_renice_or_repin_another_plugins_worker(
    rt: Runtime, host: Host
) -> None:
    attacker = plugin_id("prlimit_neighbour")
    # The public hash puts both plugins on one uid: the attack's premise, checked.
    assert plugin_uid(OTHER_ORG, COLLIDING_VICTIM) == plugin_uid(ORG, attacker)
    victim = await load_victim(rt)
    before = victim_state(victim)
    result = await rt.attack_while_serving("prlimit_neighbour", {"victim_pid": victim,
                                                                 "hold": 0.3})
    assert result.status == "ok", result.error
    assert _got(result.result) == {}, result.result
    assert victim_state(victim) == before
    # The uid table gave them different uids (seccomp alone stops it too: the layer matrix).
    assert _uid_of(victim) != _uid_of(rt.worker_pid("prlimit_neighbour"))


def _uid_of(pid: int | None) -> str:
    text = Path(f"/proc/{pid}/status").read_text()
    return next(line for line in text.splitlines() if line.startswith("Uid:"))


async def test_the_server_data_directory_cannot_even_be_stat_ed(rt: Runtime, host: Host) -> None:
    paths = [str(host.data_dir), str(host.secret_file), str(host.data_dir / "proofpix.db"),
             str(host.public_file)]
    result = await rt.attack_while_serving("stat_server_data", {"paths": paths})
    assert result.status == "ok", result.error
    assert _got(result.result) == {}
    assert all("FileNotFoundError" in e for e in result.result["errors"])


async def test_a_zip_hidden_in_the_package_loads_no_code(rt: Runtime, host: Host) -> None:
    plant_zip(rt, ORG, host.canary)
    result = await rt.attack_while_serving("zip_on_path", {})
    assert result.status == "ok", result.error
    assert _got(result.result) == {}
    assert not stolen(result.result["got"], host.canary)
