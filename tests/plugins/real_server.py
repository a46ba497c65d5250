"""A real `proofpix-plugins serve` process on a data dir, for the crash-recovery tests: start it,
log in as the demo admin, SIGKILL it, start it again on the same data dir."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

CLI = [sys.executable, "-m", "proofpix_plugins.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RealServer:
    """``serve`` on ``root/data``; the system temp dir of the server is ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")},
            "PROOFPIX_DATA_DIR": str(root / "data"),
            "TMPDIR": str(root / "tmp"),
        }
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.password = ""

    def cli(self, *args: str) -> str:
        done = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def seed(self) -> None:
        self.cli("db", "upgrade")
        seeded = re.search(r"password \(shown once\): (\S+)", self.cli("demo", "seed"))
        assert seeded
        self.password = seeded.group(1)

    def start(self) -> None:
        self._log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port)], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base}/api/health", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.fail("serve never answered:\n" + self.log()[-3000:])
                time.sleep(0.1)

    def log(self) -> str:
        return (self.root / "serve.log").read_text(errors="replace")

    def token(self) -> dict[str, str]:
        r = httpx.post(f"{self.base}/api/auth/login", timeout=30,
                       json={"email": "demo@proofpix.dev", "password": self.password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def kill(self) -> None:
        """SIGKILL the server process (its children notice and follow)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
