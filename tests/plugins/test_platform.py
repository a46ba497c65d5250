"""The composition root starts and stops the platform without leaking what it started."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from pathlib import Path

import psutil
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from proofpix_plugins.app import create_app
from proofpix_plugins.config import Settings
from proofpix_plugins.kit.logging import reset_logging
from proofpix_plugins.plugins.event_hub import RedisEventHub
from tests.fixtures.app import StartApp, build_test_settings

LISTENER_TASK = "plugin-event-listener"


def _children() -> set[int]:
    return {
        p.pid for p in psutil.Process().children(recursive=True)
        if p.status() != psutil.STATUS_ZOMBIE
    }


def _listener_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == LISTENER_TASK and not t.done()]


async def _redis_clients_named(redis_url: str, name: str) -> list[dict[str, str]]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return [c for c in await client.client_list() if c.get("name") == name]
    finally:
        await client.aclose()


async def test_a_start_up_failure_after_the_pool_started_leaks_nothing(
    db_url: str, data_dir: Path, redis_url: str
) -> None:
    # ConfigCipher refuses the key after the hub and the pool (with its template) started.
    settings = build_test_settings(
        db_url, data_dir / "data", redis_url=redis_url,
        config_key=SecretStr("not-a-fernet-key"),
    )
    before = _children()
    app = create_app(settings, migrate=False)
    try:
        with pytest.raises(ValueError, match="Fernet key"):
            async with app.router.lifespan_context(app):
                pytest.fail("the app must not start with a malformed config key")
    finally:
        reset_logging()
    # The pool had started (its sandbox report exists only then): the failure came after it.
    assert app.state.worker_pool.sandbox_report() is not None
    hub: RedisEventHub = app.state.event_hub
    assert _children() - before == set(), "the template process outlived the failed start-up"
    assert _listener_tasks() == []
    assert await _redis_clients_named(redis_url, hub.client_name) == []


async def test_a_failing_close_does_not_skip_the_others(
    platform_settings: Settings, start_app: StartApp
) -> None:
    before = _children()
    async with start_app(platform_settings, platform=True) as app:
        assert app.state.worker_pool.template_pid in _children() - before
        stack: AsyncExitStack = app.state.platform_resources

        async def broken_close() -> None:
            raise RuntimeError("this resource fails to close")

        # Closed first (the newest), so every real resource closes after a failure.
        stack.push_async_callback(broken_close)
    assert _children() - before == set()
    assert app.state.platform_resources is None


async def test_the_blob_sweep_runs_at_start_and_then_periodically(
    sqlite_db_url: str, data_dir: Path, start_app: StartApp
) -> None:
    from proofpix_plugins.storage.blobstore import FileSystemBlobStore
    from tests.waiting import eventually

    settings = build_test_settings(sqlite_db_url, data_dir / "data",
                                   blob_gc_grace_seconds=0.5, blob_gc_interval_seconds=0.2)
    store = FileSystemBlobStore(settings.blob_dir)
    left = await store.put_bytes(b"left by a crashed install")
    path = settings.blob_dir / left.sha256[:2] / left.sha256[2:4] / left.sha256
    os.utime(path, (0, 0))
    async with start_app(settings, platform=True) as app:
        assert not await store.exists(left.sha256)  # swept during start-up
        later = await app.state.blob_store.put_bytes(b"a derived image a waterfall replaced")
        assert await store.exists(later.sha256)  # within its grace period

        async def collected() -> bool:
            return not await store.exists(later.sha256)

        await eventually(collected, what="the periodic sweep collects it")
