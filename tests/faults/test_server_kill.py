"""SIGKILL a real server mid-install, mid-upload and mid-submission; restart it on the same data
dir: nothing half-written, and the same request succeeds (issue #17).

Each test kills at several moments of one request (mid-body, once the body is sent, while the
server works on it) and restarts in between; see ``killing.py`` for how a moment is reached
without a hook in the server.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proofpix_plugins.db import session_scope
from proofpix_plugins.models.files import File, FileStatus
from proofpix_plugins.models.marketplace import MarketplaceVersion, Submission
from proofpix_plugins.models.plugins import Plugin
from tests.app.servers import Server, base_env, create_admin, install, login
from tests.app.test_serve import data_root
from tests.faults.killing import (
    InFlight,
    SlowUpload,
    check_nothing_half_written,
    leftovers,
    post_in_thread,
    restart,
    sigkill,
    wait_for,
)
from tests.marketplace.publishing.test_live_server import CLEAN, developer, status, submit
from tests.plugins.builders import build_ppx, manifest

pytestmark = pytest.mark.slow

__all__ = ["data_root"]

EMAIL = "faults@example.com"
SLOW_HOOK = """
import time

from proofpix_sdk import HookContext, Plugin

plugin = Plugin()


@plugin.hook("file:uploaded")
def on_upload(event: dict, ctx: HookContext) -> dict:
    time.sleep(2)
    return {"slow": True}
"""


def _env(data_root: Path, db_url: str) -> dict[str, str]:
    return base_env(data_root / "data", PROOFPIX_DATABASE_URL=db_url,
                    PROOFPIX_JOBS_POLL_SECONDS="0.1", PROOFPIX_JOBS_LEASE_SECONDS="2")


def _padded_package(root: Path, plugin_id: str, version: str, source: str) -> Path:
    """A package of many modules: its body takes many chunks and its scan about a second."""
    body = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(300))
    extra = {f"plugin/m{j}.py": body for j in range(10)}
    return build_ppx(root, manifest(plugin_id, version, hooks=[
        {"name": "file:uploaded", "handler": "on_upload"}]), source, extra=extra)


def _photo(size: int = 1200) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buf, format="PNG")
    return buf.getvalue()


async def test_a_server_killed_mid_install_leaves_no_half_install_and_installs_again(
    data_root: Path, servers: list[Server], db_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env = _env(data_root, db_url)
    data = data_root / "data"
    create_admin(env, EMAIL)
    ppx = _padded_package(data_root, "acme.killed", "1.0.0", SLOW_HOOK)
    server = restart(data_root, env, servers)
    staging = data / "plugins" / ".staging"

    def in_staging() -> bool:
        return any(any(root.iterdir()) for root in staging.iterdir()) if staging.is_dir() else False

    # Mid-body; once the body is sent (spooled, being vetted); while it is extracted/published.
    outcomes = []
    for moment in ("body", "sent", "staging"):
        auth = login(server.base, EMAIL)
        upload = SlowUpload(ppx.read_bytes(), ppx.name, pause=moment == "body")
        flight = post_in_thread(f"{server.base}/api/plugins/install", auth, upload)
        if moment == "body":
            assert upload.half.wait(30)
        elif moment == "sent":
            assert upload.sent.wait(30)
        else:
            # Best effort: the kill lands inside extract/publish/commit or just after the commit.
            def started(flight: InFlight = flight) -> bool:
                return in_staging() or flight.response is not None

            wait_for(started, "staging", seconds=30, interval=0.001)
        sigkill(server)
        upload.release.set()
        flight.join()
        outcomes.append(flight.response.status_code if flight.response else "killed")
        server = restart(data_root, env, servers)
        await check_nothing_half_written(data, session_factory)
    # A kill after the commit would leave the plugin installed, whole: then 409 duplicate.
    async with session_scope(session_factory) as session:
        installed = (await session.execute(select(func.count()).select_from(Plugin))).scalar_one()
    auth = login(server.base, EMAIL)
    r = install(server.base, auth, ppx)
    assert r.status_code == (409 if installed else 201), (outcomes, r.text)
    if installed:
        async with httpx.AsyncClient(base_url=server.base, headers=auth, timeout=30) as http:
            assert (await http.delete("/api/plugins/acme.killed")).status_code == 204
        r = install(server.base, auth, ppx)
        assert r.status_code == 201, r.text
    await check_nothing_half_written(data, session_factory)
    server.stop()


async def test_a_server_killed_mid_upload_leaves_no_half_file_and_marks_the_pipeline_incomplete(
    data_root: Path, servers: list[Server], db_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env = _env(data_root, db_url)
    data = data_root / "data"
    create_admin(env, EMAIL)
    server = restart(data_root, env, servers)
    auth = login(server.base, EMAIL)
    # file:uploaded reaches only holders of `files`.
    slow = build_ppx(data_root, manifest("acme.slow", "1.0.0", permissions=["files"], hooks=[
        {"name": "file:uploaded", "handler": "on_upload"}]), SLOW_HOOK)
    r = install(server.base, auth, slow)
    assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=server.base, headers=auth, timeout=60) as http:
        r = await http.post("/api/plugins/acme.slow/load")
    assert r.status_code == 200, r.text
    photo = _photo()

    async def processing() -> bool:
        async with session_scope(session_factory) as session:
            found = (await session.execute(select(func.count()).select_from(File).where(
                File.status == FileStatus.processing))).scalar_one()
        return bool(found)

    for moment in ("body", "sent", "pipeline"):
        upload = SlowUpload(photo, "photo.png", pause=moment == "body")
        flight = post_in_thread(f"{server.base}/api/files", login(server.base, EMAIL), upload)
        if moment == "body":
            assert upload.half.wait(30)
        elif moment == "sent":
            assert upload.sent.wait(30)
        else:
            deadline = time.monotonic() + 30
            while not await processing() and time.monotonic() < deadline:
                assert flight.response is None, flight.response.text
                await asyncio.sleep(0.01)
            assert await processing(), "the upload never reached its plugins"
        sigkill(server)
        upload.release.set()
        flight.join()
        server = restart(data_root, env, servers)
        await check_nothing_half_written(data, session_factory)

    # The killed pipeline was marked incomplete at the start (not re-run: see files/service.py).
    async with session_scope(session_factory) as session:
        rows = (await session.execute(select(File))).scalars().all()
    # One from the kill in the pipeline; the kill once the body was sent may have left one too,
    # if the server got as far as the row in that instant.
    assert rows, "the pipeline kill left no file row"
    assert {row.status for row in rows} == {FileStatus.incomplete}
    auth = login(server.base, EMAIL)
    async with httpx.AsyncClient(base_url=server.base, headers=auth, timeout=60) as http:
        redo = await http.post(f"/api/files/{rows[0].id}/reprocess")
        assert redo.status_code == 200, redo.text
        assert redo.json()["status"] == "complete"
        again = await http.post("/api/files",
                                files={"file": ("photo.png", photo, "image/png")})
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "complete"
    await check_nothing_half_written(data, session_factory)
    server.stop()


async def test_a_server_killed_mid_submission_resumes_its_job_to_the_end(
    data_root: Path, servers: list[Server], db_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    env = _env(data_root, db_url)
    data = data_root / "data"
    server = restart(data_root, env, servers)
    key = await developer(session_factory, env, "acme")
    headers = {"X-API-Key": key}
    url = f"{server.base}/api/developers/plugins"

    # 1. Mid-body: no submission row at all.
    first = _padded_package(data_root, "acme.sub", "1.0.0", CLEAN)
    upload = SlowUpload(first.read_bytes(), first.name)
    flight = post_in_thread(url, headers, upload)
    assert upload.half.wait(30)
    sigkill(server)
    upload.release.set()
    flight.join()
    server = restart(data_root, env, servers)
    async with session_scope(session_factory) as session:
        assert (await session.execute(select(func.count()).select_from(Submission))
                ).scalar_one() == 0
    assert leftovers(data) == []

    # 2. Right after the 202: the job is queued (or just claimed) when the server dies.
    # 3. While it is scanned.
    ids = []
    for version, moment in (("1.0.0", "queued"), ("1.0.1", "scanning")):
        ppx = _padded_package(data_root, "acme.sub", version, CLEAN)
        sid = submit(server.base, key, ppx)
        ids.append(sid)
        if moment == "scanning":
            def scanning(base: str = server.base, sid: str = sid) -> bool:
                return status(base, key, sid) == "scanning"

            wait_for(scanning, "scanning", seconds=60, interval=0.02)
        sigkill(server)
        server = restart(data_root, env, servers)
        # The first must be published before the second can be (versions in order).
        def published(base: str = server.base, sid: str = sid) -> bool:
            return status(base, key, sid) == "published"

        assert wait_for(published, "published", seconds=90, interval=0.1), server.output()

    async with session_scope(session_factory) as session:
        versions = (await session.execute(select(MarketplaceVersion))).scalars().all()
        subs = (await session.execute(select(Submission))).scalars().all()
    assert sorted(v.version for v in versions) == ["1.0.0", "1.0.1"]
    assert sorted(str(s.id) for s in subs) == sorted(ids)
    for v in versions:
        sha = v.artifact_sha256
        assert (data / "blobs" / sha[:2] / sha[2:4] / sha).is_file()
    assert leftovers(data) == []
    assert uuid.UUID(ids[0])
    server.stop()
