"""The console against a real app: the plugin platform (sandbox, services) on SQLite, or without
the platform where a test only needs sign-in and the page frame."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.app import StartApp, TestUser, build_test_settings, create_test_user


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Plugin uids must traverse the data dir (pytest's tmp_path is under a 0700 directory).
    path = Path(tempfile.mkdtemp(prefix="ppx-web-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def console_app(sqlite_db_url: str, data_dir: Path,
                      start_app: StartApp) -> AsyncIterator[FastAPI]:
    settings = build_test_settings(sqlite_db_url, data_dir / "data",
                                   plugin_metrics_flush_seconds=3600)
    async with start_app(settings, platform=True) as application:
        yield application


@pytest.fixture
async def frame_app(sqlite_db_url: str, tmp_path: Path,
                    start_app: StartApp) -> AsyncIterator[FastAPI]:
    """Sign-in and page frame only: no plugin platform (fast)."""
    async with start_app(build_test_settings(sqlite_db_url, tmp_path / "data")) as application:
        yield application


def browser_client(app: FastAPI, base_url: str = "http://127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def web(console_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(console_app) as client:
        yield client


@pytest.fixture
async def frame(frame_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(frame_app) as client:
        yield client


@pytest.fixture
async def admin_user(console_app: FastAPI) -> TestUser:
    return await create_test_user(console_app, tier="enterprise", role="admin")


@pytest.fixture
async def frame_user(frame_app: FastAPI) -> TestUser:
    return await create_test_user(frame_app, tier="enterprise", role="admin")
