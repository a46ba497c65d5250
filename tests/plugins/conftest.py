"""A running app with the real plugin platform: worker pool, sandbox, hook bus, services.

The data dir lives under a directory every plugin uid can traverse (pytest's tmp_path sits under
a 0700 directory, which a sandboxed worker running as its own uid could not enter).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from proofpix_plugins.config import Settings
from tests.fixtures.app import StartApp, TestUser, build_test_settings, client_for, create_test_user


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ppx-e2e-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103 - plugin uids traverse, never list
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def platform_settings(db_url: str, data_dir: Path) -> Settings:
    return build_test_settings(db_url, data_dir / "data", plugin_metrics_flush_seconds=3600)


@pytest.fixture
async def platform(platform_settings: Settings, start_app: StartApp) -> AsyncIterator[FastAPI]:
    async with start_app(platform_settings, platform=True) as application:
        yield application


@pytest.fixture
async def api(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(platform) as c:
        yield c


@pytest.fixture
async def admin(platform: FastAPI) -> TestUser:
    return await create_test_user(platform, tier="enterprise", role="admin")


@pytest.fixture
def ppx_dir(data_dir: Path) -> Path:
    path = data_dir / "packages"
    path.mkdir()
    return path
