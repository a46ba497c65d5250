"""What a full disk answers, without a disk to fill: the problem mapping of ``ENOSPC``/``EDQUOT``
and SQLite's SQLITE_FULL, and extraction that runs out of space (``test_full_disk.py`` makes the
disk full for real)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa

from proofpix_plugins.errors import InsufficientStorage
from proofpix_plugins.kit.problem import install_problem_handlers
from proofpix_plugins.packages import archive
from tests.plugins.builders import build_ppx, manifest


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/full/{code}")
    async def full(code: str) -> None:
        raise OSError(getattr(errno, code), "No space left on device")

    @app.get("/other")
    async def other() -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    @app.get("/sqlite-full")
    async def sqlite_full() -> None:
        raise sa.OperationalError("INSERT", {}, sqlite3.OperationalError(
            "database or disk is full"))

    @app.get("/locked")
    async def locked() -> None:
        raise sa.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


@pytest.mark.parametrize("path", ["/full/ENOSPC", "/full/EDQUOT", "/sqlite-full"])
async def test_a_full_disk_is_a_507_problem(path: str) -> None:
    r = await _get(path)
    assert r.status_code == 507
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Insufficient Storage"
    assert body["type"].endswith("/insufficient-storage")
    assert "nothing was kept" in body["detail"]
    assert "Errno" not in body["detail"]  # no library detail leaks


async def test_other_os_errors_stay_500_and_a_locked_database_503() -> None:
    assert (await _get("/other")).status_code == 500
    assert (await _get("/locked")).status_code == 503


def test_extraction_out_of_space_is_the_servers_fault_not_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ppx = build_ppx(tmp_path, manifest("acme.x"), "def f():\n    return 1\n")
    real = archive._write_at
    calls = 0

    def write_then_full(root_fd: int, parts: list[str], data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(root_fd, parts, data)

    monkeypatch.setattr(archive, "_write_at", write_then_full)
    dest = tmp_path / "tree"
    with pytest.raises(InsufficientStorage):
        archive.extract_archive(ppx, dest)
    assert not dest.exists()  # what was written before the disk filled is gone
