"""What a SIGKILLed server leaves behind, and what the next start does with it (issue 10: L2,
M5), against real `proofpix-plugins serve` processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.plugins.real_server import RealServer
from tests.waiting import eventually_sync

pytestmark = pytest.mark.slow


@pytest.fixture
def server(data_dir: Path) -> Iterator[RealServer]:
    srv = RealServer(data_dir)
    srv.seed()
    try:
        yield srv
    finally:
        srv.stop()


def spool_files(srv: RealServer) -> list[Path]:
    return sorted((srv.root / "data" / "uploads").glob("*/upload-*"))


def test_a_killed_servers_spooled_upload_is_swept_at_the_next_start(server: RealServer) -> None:
    server.start()
    auth = server.token()
    # A slow client: the headers and the first bytes of a large photo, then nothing.
    head = (b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + b"\xff\xd8" + b"\0" * 200_000)
    request = (f"POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: {auth['Authorization']}\r\n"
               "Content-Type: multipart/form-data; boundary=XYZ\r\n"
               f"Content-Length: {len(head) + 10_000_000}\r\n\r\n").encode() + head
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(request)
        [spooled] = eventually_sync(
            lambda: [p for p in spool_files(server) if p.stat().st_size > 0] or None,
            what="the upload is being spooled", seconds=30)
        server.kill()
    # Under the data dir, in the dead process's own root; nothing in the system temp dir.
    assert spooled.exists()
    assert spooled.parent.parent == server.root / "data" / "uploads"
    assert list((server.root / "tmp").glob("upload-*")) == []

    server.start()
    assert not spooled.exists()
    assert not spooled.parent.exists()
    assert "uploads.swept_dead_spools" in server.log()
    # The new process spools under a root of its own, and a finished upload leaves nothing.
    r = httpx.post(f"{server.base}/api/files", headers=auth, timeout=30,
                   files={"file": ("x.jpg", b"not an image", "image/jpeg")})
    assert r.status_code == 415
    assert spool_files(server) == []
    assert list((server.root / "tmp").glob("upload-*")) == []
