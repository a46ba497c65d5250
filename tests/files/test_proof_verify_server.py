"""`proof verify --server` against a real `proofpix-plugins serve` process: the demo walkthrough
with the committed sample photo, verified with the key the server publishes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.files.shelf_kit import EXAMPLES
from tests.plugins.real_server import RealServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server(data_dir: Path) -> Iterator[RealServer]:
    srv = RealServer(data_dir)
    srv.seed()
    try:
        yield srv
    finally:
        srv.stop()


def _verify(server: RealServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proofpix_plugins.cli.main", "proof", "verify", *args],
        env=server.env, capture_output=True, text=True, timeout=120, check=False)


def test_verify_with_the_key_a_real_server_publishes(server: RealServer, tmp_path: Path) -> None:
    server.start()
    auth = server.token()
    sample = EXAMPLES / "sample-photo.jpg"
    r = httpx.post(f"{server.base}/api/files", headers=auth, timeout=60,
                   files={"file": ("sample-photo.jpg", sample.read_bytes(), "image/jpeg")})
    assert r.status_code == 201, r.text
    file_id = r.json()["id"]
    r = httpx.post(f"{server.base}/api/files/{file_id}/proofs", headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(r.text)  # the create answer as curl would save it

    done = _verify(server, str(proof_file), "--server", server.base, "--photo", str(sample))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID" in done.stdout

    other = tmp_path / "other.jpg"
    other.write_bytes(sample.read_bytes() + b"\0")
    done = _verify(server, str(proof_file), "--server", server.base, "--photo", str(other))
    assert done.returncode == 1
    done = _verify(server, str(proof_file), "--server", server.base + "/nothing-here")
    assert done.returncode == 2
