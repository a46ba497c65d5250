"""`serve`'s child processes die with it, and Ctrl-C stops it without tracebacks.

A SIGKILLed server (OOM kill, crash) used to leave its bandit scan workers and the
multiprocessing resource tracker running, reparented to PID 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.app.test_serve import data_root, free_port

pytestmark = pytest.mark.slow

__all__ = ["data_root"]  # the fixture, imported for this module's tests


def start_serve(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")},
        "PROOFPIX_DATA_DIR": str(root / "data"),
        "PROOFPIX_SCAN_BANDIT_WORKERS": "2",
    }
    cli = [sys.executable, "-m", "proofpix_plugins.cli.main", "serve", "--host", "127.0.0.1",
           "--port", str(port)]
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port


def wait_ready(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    output = proc.communicate(timeout=10)[0].decode(errors="replace")
    pytest.fail(f"serve never answered (exit {proc.returncode}):\n{output[-3000:]}")


def scan_workers(pid: int) -> list[psutil.Process]:
    """The server's two bandit pool workers, once both finished starting (SIGINT ignored)."""
    deadline = time.monotonic() + 60
    found: list[psutil.Process] = []
    while time.monotonic() < deadline:
        found = [p for p in psutil.Process(pid).children(recursive=True)
                 if "spawn_main" in " ".join(_cmdline(p))]
        if len(found) >= 2 and all(_ignores_sigint(p.pid) for p in found):
            return found
        time.sleep(0.2)
    pytest.fail(f"the bandit pool never started: {[_cmdline(p) for p in found]}")


def _ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ignored = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(ignored.split()[1], 16) & (1 << (signal.SIGINT - 1)))


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def served(data_root: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc, port = start_serve(data_root)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_no_descendant_outlives_a_sigkilled_server(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    wait_ready(proc, port)
    scan_workers(proc.pid)
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert any("resource_tracker" in " ".join(_cmdline(p)) for p in descendants)

    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in descendants):
        time.sleep(0.2)

    survivors = [(p.pid, _cmdline(p)) for p in descendants if alive(p)]
    for pid, _ in survivors:  # leave nothing behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def test_ctrl_c_stops_serve_without_tracebacks_from_its_children(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    wait_ready(proc, port)
    scan_workers(proc.pid)

    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    output = proc.communicate(timeout=60)[0].decode(errors="replace")

    assert "KeyboardInterrupt" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert proc.returncode == 0, output[-3000:]
