"""SQLite reads run on the event loop; writes, which can wait for a lock, on aiosqlite's thread."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from proofpix_plugins import db_sqlite
from proofpix_plugins.db import create_engine_for_url
from proofpix_plugins.db_sqlite import DataVersion, InlineReadConnection, writer_lock


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
        assert await _rows(engine) == 2
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


async def _table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v INTEGER PRIMARY KEY)"))


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one())


@dataclass
class QueuedDb:
    """A SQLite file with a table ``t`` and its writers' lock on this test's loop."""

    engine: AsyncEngine
    lock: asyncio.Lock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[QueuedDb]:
    path = tmp_path / "db.sqlite"
    engine = create_engine_for_url(f"sqlite+aiosqlite:///{path}")
    await _table(engine)
    yield QueuedDb(engine, writer_lock(os.path.realpath(path)))
    await engine.dispose()


async def test_writers_of_one_process_take_the_write_lock_in_arrival_order(
    db: QueuedDb,
) -> None:
    """Waiting writers queue on the process's lock, not in SQLite's polling busy handler: none
    of their statements reaches SQLite while another holds the write lock, and they get it in
    the order they asked."""
    engine = db.engine
    done: list[int] = []

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": n})
        done.append(n)

    async with engine.connect() as holder:
        await holder.execute(text("INSERT INTO t VALUES (0)"))
        assert _raw(await holder.get_raw_connection())._held is not None
        lock = db.lock
        assert lock.locked()
        tasks = []
        for n in (1, 2, 3, 4):
            tasks.append(asyncio.create_task(writer(n)))
            await asyncio.sleep(0.01)  # asks in this order
        await asyncio.sleep(0.2)
        assert done == []
        # Reads still run beside the queued writers.
        assert await _rows(engine) == 0
        await holder.commit()
    await asyncio.gather(*tasks)
    assert done == [1, 2, 3, 4]
    assert not lock.locked()


async def test_the_writer_lock_is_released_however_the_transaction_ends(db: QueuedDb) -> None:
    engine = db.engine
    lock = db.lock
    # A rollback.
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert lock.locked()
        await conn.rollback()
        assert not lock.locked()
    # A failed first write (the transaction it opened stays open until rolled back).
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
    assert not lock.locked()
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    assert not lock.locked()
    # A statement outside any transaction (DDL runs in autocommit).
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TABLE u (x INTEGER)"))
        await conn.commit()
    assert not lock.locked()
    # A connection closed with its transaction open.
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))
        assert lock.locked()
        await conn.invalidate()
    await asyncio.sleep(0)
    assert not lock.locked()
    # Reads never take it.
    async with engine.connect() as conn:
        await conn.execute(text("SELECT * FROM t"))
        assert not lock.locked()
    assert await _rows(engine) == 1


async def test_a_cancelled_write_keeps_the_lock_until_its_statement_is_done(
    db: QueuedDb,
) -> None:
    """aiosqlite leaves a cancelled call running on its thread: the lock is released when the
    transaction that call opened ends, not when the await is cancelled. (SQLAlchemy terminates
    a connection whose await it sees cancelled; that path is the ``invalidate`` case above.)"""
    engine = db.engine
    lock = db.lock
    async with engine.connect() as conn:
        driver = _raw(await conn.get_raw_connection())
        cursor = await driver.cursor()
        slow = asyncio.create_task(driver._execute(time.sleep, 0.3))
        await asyncio.sleep(0.02)
        # Queued behind the sleep on the thread; its await is cancelled at once.
        write = asyncio.create_task(cursor.execute("INSERT INTO t VALUES (1)"))
        await asyncio.sleep(0.02)
        assert lock.locked()
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        assert lock.locked()
        slow.cancel()
        # The INSERT still runs on the thread and opens a transaction: the lock stays.
        await asyncio.sleep(0.5)
        assert driver._in_transaction()
        assert lock.locked()
        await driver.rollback()
        assert not lock.locked()
        await cursor.close()


async def test_a_writer_queued_too_long_goes_on_to_sqlites_own_lock(
    db: QueuedDb, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stuck queue (a writer holding one connection's transaction while writing on another)
    costs a bounded wait, then SQLite's busy handler decides as it did before the queue."""
    monkeypatch.setattr(db_sqlite, "WRITER_QUEUE_TIMEOUT_S", 0.1)
    engine = db.engine
    lock = db.lock
    await lock.acquire()  # held by nobody who writes
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            driver = _raw(await conn.get_raw_connection())
            assert driver.queue_timeouts == 1
            assert driver._held is None
    finally:
        lock.release()
    assert await _rows(engine) == 1
