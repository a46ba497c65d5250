"""Real `proofpix-plugins` server processes for the multi-process tests: start, find, stop.

Each server runs in its own session (so a stray signal of the test runner never reaches it), logs
to a file in its data root, and is stopped with SIGTERM as process managers do; `stop` then
checks that nothing it started is left: no process, no scratch tmpfs mount.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from proofpix_plugins.runtime.host import procfs, scratch_fs
from tests.app.test_serve import free_port

CLI = [sys.executable, "-m", "proofpix_plugins.cli.main"]
PASSWORD = "multi-process-test-password"


def base_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a CLI run or server: only the given PROOFPIX_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")}
    env["PROOFPIX_DATA_DIR"] = str(data_dir)
    # One scan inline per install: three API processes on two cores need no warm bandit pools.
    env["PROOFPIX_SCAN_BANDIT_WORKERS"] = "0"
    env.update(settings)
    return env


def run_cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def create_admin(env: dict[str, str], email: str) -> None:
    run_cli(["admin", "create-user", "--email", email, "--password", PASSWORD, "--org", "Acme",
             "--tier", "enterprise", "--role", "owner"], env)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    data_dir: Path
    #: Every process the server started that the test saw, by pid and start time.
    seen: dict[int, str | None] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_healthy(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"serve on {self.port} never answered (exit {self.proc.poll()}):\n"
                    + self.output())

    def api_processes(self, count: int, seconds: float = 120) -> list[int]:
        """The supervisor's API children (``serve --workers N``), once all ``count`` are up."""
        deadline = time.monotonic() + seconds
        found: list[int] = []
        while time.monotonic() < deadline:
            found = [pid for pid in descendants(self.proc.pid)
                     if _ppid(pid) == self.proc.pid and "spawn_main" in cmdline(pid)
                     and "resource_tracker" not in cmdline(pid)]
            # Started: it has its sandbox template (a child of its own).
            if len(found) == count and all(descendants(pid) for pid in found):
                return found
            time.sleep(0.2)
        pytest.fail(f"expected {count} API processes, found {found}:\n{self.output()}")

    def remember_descendants(self) -> None:
        self.seen.update({pid: procfs.start_ticks(pid) for pid in descendants(self.proc.pid)})

    def survivors(self) -> list[int]:
        return [pid for pid, start in self.seen.items()
                if start is not None and procfs.start_ticks(pid) == start
                and procfs.pid_alive(pid)]

    def stop(self) -> None:
        """SIGTERM; the server must stop cleanly and leave no process and no mount behind."""
        self.remember_descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"serve on {self.port} ignored SIGTERM:\n{self.output()}")
        # uvicorn re-raises the SIGTERM it handled once it has shut down (a single process
        # then reports death by SIGTERM, as process managers expect); the supervisor exits 0.
        assert code in (0, -signal.SIGTERM), self.output()
        deadline = time.monotonic() + 15
        while (alive := self.survivors()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive == [], [cmdline(p) for p in alive]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def start_server(root: Path, env: dict[str, str], *args: str) -> Server:
    port = free_port()
    log = root / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Server(proc, port, log, Path(env["PROOFPIX_DATA_DIR"]))


def kill_leftovers(*servers: Server) -> None:
    """After a failed test: nothing may run on into the next one."""
    for server in servers:
        if server.proc.poll() is None:
            server.remember_descendants()
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
        for pid in server.survivors():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        # SIGKILLed API processes could not unmount their scratch dirs.
        for mounted in scratch_fs.mounted_under(server.data_dir):
            with contextlib.suppress(OSError):
                scratch_fs.unmount(mounted)


def mounts_under(path: Path) -> list[Path]:
    return scratch_fs.mounted_under(path)


def login(base: str, email: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD},
                   timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def install(base: str, auth: dict[str, str], ppx: Path) -> httpx.Response:
    return httpx.post(f"{base}/api/plugins/install", headers=auth, timeout=120,
                      files={"file": (ppx.name, ppx.read_bytes(), "application/zip")})


def race_installs(bases: list[str], auth: dict[str, str], ppx: Path,
                  count: int = 10) -> list[int]:
    """``count`` installs of ``ppx`` at once, alternating between ``bases``; their status codes."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(install, bases[i % len(bases)], auth, ppx) for i in range(count)]
        return [f.result().status_code for f in futures]


def trees_of(data_dir: Path, plugin_id: str) -> list[Path]:
    """Every installed tree of ``plugin_id`` on disk, in any organization."""
    return sorted(p for p in (data_dir / "plugins").glob(f"*/{plugin_id}/*") if p.is_dir())
