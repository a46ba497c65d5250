"""SQLite reads run on the event loop; writes, which can wait for a lock, on aiosqlite's thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from sqlalchemy import make_url, text

from proofpix_plugins.db import create_engine_for_url
from proofpix_plugins.db_sqlite import DataVersion, InlineReadConnection


def _raw(conn: object) -> InlineReadConnection:
    driver = conn.driver_connection  # type: ignore[attr-defined]
    assert isinstance(driver, InlineReadConnection)
    return driver


async def test_a_read_never_leaves_the_event_loop(tmp_path: Path) -> None:
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.connect() as conn:
            driver = _raw(await conn.get_raw_connection())
            before = driver.thread_calls
            value = (await conn.execute(text("SELECT 40 + 2"))).scalar_one()
            await conn.commit()
            assert value == 42
            assert driver.thread_calls == before
    finally:
        await engine.dispose()


async def test_a_writer_waiting_for_the_lock_does_not_block_the_loop(tmp_path: Path) -> None:
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
        async with engine.connect() as holder, engine.connect() as waiter:
            await holder.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock
            driver = _raw(await waiter.get_raw_connection())
            before = driver.thread_calls
            blocked = asyncio.create_task(waiter.execute(text("INSERT INTO t VALUES (2)")))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            async with engine.connect() as reader:  # the loop still serves reads
                rows = (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one()
            # Far below the 15 s busy timeout the waiting writer sits in.
            assert time.perf_counter() - started < 1.0
            assert rows == 0
            assert not blocked.done()
            await holder.commit()
            await blocked
            await waiter.commit()
            assert driver.thread_calls > before
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_data_version_changes_with_every_commit_by_any_other_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{path}")
    version = DataVersion.for_url(make_url(f"sqlite+aiosqlite:///{path}"))
    assert version is not None
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        start = version()
        async with engine.connect() as conn:  # a read commits nothing
            await conn.execute(text("SELECT * FROM t"))
        assert version() == start
        async with engine.begin() as conn:  # this process's pool
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        after_pool = version()
        shell = sqlite3.connect(path)  # the sqlite3 shell, the CLI, another worker
        try:
            with shell:
                shell.execute("INSERT INTO t VALUES (2)")
        finally:
            shell.close()
        assert len({start, after_pool, version()}) == 3
    finally:
        version.close()
        await engine.dispose()
    assert DataVersion.for_url(make_url("sqlite+aiosqlite://")) is None
    assert DataVersion.for_url(make_url("postgresql+asyncpg://u@h/db")) is None


async def test_nothing_runs_on_the_loop_while_a_cancelled_call_still_runs_on_the_thread(
    tmp_path: Path,
) -> None:
    """A cancelled await leaves its call running on the thread: a read beside it would use
    one sqlite3 connection from two threads at once, so it queues behind it instead."""
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.connect() as conn:
            driver = _raw(await conn.get_raw_connection())
            slow = asyncio.create_task(driver._execute(time.sleep, 0.4))
            await asyncio.sleep(0.05)
            slow.cancel()
            thread = driver.thread_calls
            started = time.perf_counter()
            value = (await conn.execute(text("SELECT 40 + 2"))).scalar_one()
            assert value == 42
            # Queued behind the sleeping call, not beside it on the loop (its fetch and close
            # may run on the loop once the thread is done).
            assert driver.thread_calls > thread
            assert time.perf_counter() - started >= 0.3
            await conn.commit()
            # Once the thread is idle, reads are back on the loop.
            inline = driver.inline_calls
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            assert driver.inline_calls > inline
    finally:
        await engine.dispose()
