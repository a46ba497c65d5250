"""Kill a real server at a chosen moment of a request, restart it, check what it left behind.

A request's body is streamed by ``SlowUpload``: it sends the multipart head and the first half of
the file, says so (``half``) and then waits, so a SIGKILL lands mid-body deterministically,
without a test-only hook in the server. Once the whole body is sent it says so too (``sent``),
for a kill while the server works on a complete request.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.files import Blob, File
from proofpix_plugins.models.plugins import Plugin
from proofpix_plugins.storage.blobstore import FileSystemBlobStore
from tests.app.servers import Server, kill_leftovers, start_server

CHUNK = 4 * 1024


@dataclass
class SlowUpload:
    """A multipart body of one file part that pauses half-way until ``release`` (or a deadline)."""

    data: bytes
    filename: str
    field_name: str = "file"
    pause: bool = True
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)
    half: threading.Event = field(default_factory=threading.Event)
    sent: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def body(self) -> Iterator[bytes]:
        yield (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{self.field_name}\";"
               f" filename=\"{self.filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
               ).encode()
        middle = len(self.data) // 2
        for start in range(0, len(self.data), CHUNK):
            if start >= middle and not self.half.is_set():
                self.half.set()
                if self.pause:
                    self.release.wait(30)
            yield self.data[start:start + CHUNK]
        yield f"\r\n--{self.boundary}--\r\n".encode()
        self.sent.set()


@dataclass
class InFlight:
    """One request running in a thread; its answer, or the transport error the kill caused."""

    thread: threading.Thread
    response: httpx.Response | None = None
    error: BaseException | None = None

    def join(self, seconds: float = 30) -> None:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the request outlived its deadline"


def post_in_thread(url: str, headers: dict[str, str], upload: SlowUpload) -> InFlight:
    flight = InFlight(threading.Thread(daemon=True))

    def run() -> None:
        try:
            flight.response = httpx.post(
                url, headers={**headers, "Content-Type": upload.content_type},
                content=upload.body(), timeout=60)
        except BaseException as exc:  # the kill: connection reset or closed
            flight.error = exc
        finally:
            upload.half.set()
            upload.sent.set()

    flight.thread = threading.Thread(target=run, daemon=True)
    flight.thread.start()
    return flight


def wait_for(condition: Callable[[], object], what: str, seconds: float = 30,
             interval: float = 0.005) -> bool:
    """Poll until ``condition`` holds; False (not a failure) when the deadline passes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def sigkill(server: Server) -> None:
    """SIGKILL the server's whole process group, as the OOM killer or ``kill -9`` of a unit."""
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    kill_leftovers(server)


def restart(root: Path, env: dict[str, str], servers: list[Server]) -> Server:
    server = start_server(root, env)
    servers.append(server)
    server.wait_healthy(60)
    return server


def leftovers(data_dir: Path) -> list[Path]:
    """Spool files, staging dirs and blob temp files after the start-up sweep of a live server.

    The live server owns one (empty) spool root and one (empty) staging root; anything else, or
    anything in them, was half-written by a dead one.
    """
    found: list[Path] = []
    uploads = data_dir / "uploads"
    if uploads.is_dir():
        roots = list(uploads.iterdir())
        if len(roots) > 1:
            found += roots
        for root in roots:
            found += list(root.iterdir())
    staging = data_dir / "plugins" / ".staging"
    if staging.is_dir():
        roots = list(staging.iterdir())
        if len(roots) > 1:
            found += roots
        for root in roots:
            found += list(root.iterdir())
    tmp = data_dir / "blobs" / ".tmp"
    if tmp.is_dir():
        found += list(tmp.iterdir())
    return found


async def check_nothing_half_written(
    data_dir: Path, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """No row without its bytes on disk, no tree without its row, no temp or spool file."""
    blobs = FileSystemBlobStore(data_dir / "blobs")
    async with session_scope(session_factory) as session:
        plugins = (await session.execute(select(Plugin))).scalars().all()
        files = (await session.execute(select(File))).scalars().all()
        blob_rows = (await session.execute(select(Blob))).scalars().all()
    for plugin in plugins:
        assert Path(plugin.install_path).is_dir(), f"{plugin.plugin_id} has no tree"
        assert await blobs.exists(plugin.artifact_sha256), f"{plugin.plugin_id} has no artifact"
    referenced = {str(Path(p.install_path).resolve()) for p in plugins}
    for tree in (data_dir / "plugins").glob("*/*/*"):
        if not tree.parent.parent.name.startswith("."):
            assert str(tree.resolve()) in referenced, f"tree {tree} has no plugin row"
    for row in files:
        assert row.status.value != "processing", f"file {row.id} is still 'processing'"
        path = data_dir / "blobs" / row.sha256[:2] / row.sha256[2:4] / row.sha256
        assert path.is_file(), f"file {row.id}'s blob is missing"
        assert path.stat().st_size == row.size_bytes, f"file {row.id}'s blob is truncated"
    for blob in blob_rows:
        path = data_dir / "blobs" / blob.sha256[:2] / blob.sha256[2:4] / blob.sha256
        assert path.is_file(), f"blob row {blob.sha256}: no blob"
        assert path.stat().st_size == blob.size_bytes, f"blob row {blob.sha256}: truncated"
    assert leftovers(data_dir) == []


def require_root_for(what: str) -> None:
    if os.geteuid() != 0:
        if os.environ.get("PROOFPIX_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} needs root (PROOFPIX_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(f"{what} needs root")
