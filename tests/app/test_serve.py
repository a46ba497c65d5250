"""`proofpix-plugins serve` as a real process: migrates SQLite, serves health, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_root() -> Iterator[Path]:
    # The sandbox runs plugins under other uids: the data dir's ancestors must be traversable,
    # which pytest's private tmp_path (0700) is not.
    with tempfile.TemporaryDirectory(prefix="proofpix-serve-", dir="/tmp") as raw:
        root = Path(raw)
        root.chmod(0o711)
        yield root


def test_serve_answers_health_on_the_requested_port(data_root: Path) -> None:
    tmp_path = data_root
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROOFPIX_")},
        "PROOFPIX_DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
    }
    cli = [sys.executable, "-m", "proofpix_plugins.cli.main", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        response = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        if response is None:
            proc.kill()
            early = proc.communicate(timeout=10)[0].decode(errors="replace")
            pytest.fail(f"serve never answered (exit {proc.returncode}):\n{early[-3000:]}")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        assert response.headers["x-content-type-options"] == "nosniff"
        # The embedded database and the generated secrets live in the data dir.
        assert (tmp_path / "data" / "proofpix.db").exists()
        assert (tmp_path / "data" / "jwt_secret").stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output.decode(errors="replace")[-2000:]
