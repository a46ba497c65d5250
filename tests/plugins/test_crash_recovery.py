"""What a SIGKILLed server leaves behind, and what the next start does with it (issue 10: L2,
M5), against real `proofpix-plugins serve` processes."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.plugins.builders import build_ppx, gps_jpeg
from tests.plugins.builders import manifest as mk
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
        def spooling() -> list[Path] | None:
            return [p for p in spool_files(server) if p.stat().st_size > 0] or None

        found = eventually_sync(spooling, what="the upload is being spooled", seconds=30)
        assert found is not None
        [spooled] = found
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


SLOW_ONCE = """
import time


def on_upload(event, ctx):
    # Slow the first time only: the run the server is killed in.
    if ctx.storage.get("slept") is None:
        ctx.storage.set("slept", True)
        time.sleep(25)
    ctx.metadata.set({"seen": True})
    return {"slow": False}
"""


def test_a_photo_whose_server_died_during_its_hooks_is_incomplete_and_can_be_reprocessed(
    server: RealServer, ppx_dir: Path
) -> None:
    meta = mk("acme.slow-once", hooks=[{"name": "file:uploaded", "handler": "on_upload"}],
              permissions=["files", "storage", "metadata"], resources={"timeout_ms": 30_000})
    ppx = build_ppx(ppx_dir, meta, SLOW_ONCE)
    server.start()
    auth = server.token()
    with httpx.Client(base_url=server.base, headers=auth, timeout=60) as http:
        assert http.post("/api/plugins/install", files={"file": (ppx.name, ppx.read_bytes())}
                         ).status_code == 201
        assert http.post("/api/plugins/acme.slow-once/load").status_code == 200
    photo = gps_jpeg(ppx_dir / "p.jpg").read_bytes()
    db = server.root / "data" / "proofpix.db"

    def upload() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server dies under it
            httpx.post(f"{server.base}/api/files", headers=auth, timeout=60,
                       files={"file": ("p.jpg", photo, "image/jpeg")})

    uploading = threading.Thread(target=upload)
    uploading.start()

    def processing_file() -> str | None:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            row = conn.execute("SELECT id, status FROM files").fetchone()
            slept = conn.execute("SELECT count(*) FROM plugin_storage").fetchone()[0]
        return str(uuid.UUID(row[0])) if row and row[1] == "processing" and slept else None

    file_id = eventually_sync(processing_file, what="the plugin is running", seconds=30)
    server.kill()
    uploading.join(timeout=30)

    server.start()
    assert "files.marked_interrupted_pipelines_incomplete" in server.log()
    auth = server.token()
    with httpx.Client(base_url=server.base, headers=auth, timeout=60) as http:
        record = http.get(f"/api/files/{file_id}").json()
        assert record["status"] == "incomplete", record
        assert record["pluginResults"] == []
        r = http.post(f"/api/files/{file_id}/reprocess")
        assert r.status_code == 200, r.text
        record = r.json()
        assert record["status"] == "complete"
        [result] = record["pluginResults"]
        assert (result["pluginId"], result["status"]) == ("acme.slow-once", "ok")
        assert record["metadata"] == {"plugins": {"acme.slow-once": {"seen": True}}}
        assert http.get(f"/api/files/{file_id}").json()["status"] == "complete"
