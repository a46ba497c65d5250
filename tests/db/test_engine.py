"""Engines get the per-database settings the platform relies on; bad URLs fail clearly."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from proofpix_plugins import db as db_module
from proofpix_plugins.config import Settings
from proofpix_plugins.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    DatabaseConfigurationError,
    create_engine,
    create_engine_for_url,
    session_scope,
)
from proofpix_plugins.models import Organization


async def _pragma(engine: AsyncEngine, name: str) -> object:
    async with engine.connect() as conn:
        return await conn.scalar(text(f"PRAGMA {name}"))


async def test_sqlite_connections_use_wal(sqlite_db_url: str) -> None:
    engine = create_engine_for_url(sqlite_db_url)
    try:
        assert await _pragma(engine, "journal_mode") == "wal"
    finally:
        await engine.dispose()


async def test_sqlite_connections_enforce_foreign_keys(sqlite_db_url: str) -> None:
    engine = create_engine_for_url(sqlite_db_url)
    try:
        assert await _pragma(engine, "foreign_keys") == 1
    finally:
        await engine.dispose()


async def test_sqlite_connections_wait_for_the_write_lock(sqlite_db_url: str) -> None:
    engine = create_engine_for_url(sqlite_db_url)
    try:
        assert await _pragma(engine, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    finally:
        await engine.dispose()


async def test_default_settings_put_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE probe (x INTEGER)"))
            await conn.commit()
    finally:
        await engine.dispose()
    assert (tmp_path / "data" / "proofpix.db").is_file()


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("mysql+aiomysql://u@h/db", "unsupported database driver 'mysql+aiomysql'"),
        # Sync drivers would block the event loop.
        ("postgresql://u@h/db", "unsupported database driver 'postgresql'"),
        ("sqlite:///x.db", "unsupported database driver 'sqlite'"),
        ("not a url", "not a valid SQLAlchemy URL"),
        ("", "not a valid SQLAlchemy URL"),
    ],
)
def test_unsupported_database_urls_are_refused_with_the_rule(url: str, rule: str) -> None:
    with pytest.raises(DatabaseConfigurationError, match=re.escape(rule)):
        create_engine_for_url(url)


def test_database_error_does_not_echo_the_password() -> None:
    with pytest.raises(DatabaseConfigurationError) as info:
        create_engine_for_url("mysql://admin:hunter2@db.example/prod")
    assert "hunter2" not in str(info.value)


async def test_in_memory_sqlite_keeps_one_database_across_sessions() -> None:
    engine = create_engine_for_url("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE probe (x INTEGER)"))
            await conn.execute(text("INSERT INTO probe VALUES (1)"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM probe")) == 1
    finally:
        await engine.dispose()


async def test_concurrent_writers_all_commit(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Each task reads, then writes: the pattern of an install. On SQLite they queue on the lock.
    async def write(i: int) -> None:
        async with session_scope(session_factory) as s:
            await s.scalar(select(func.count()).select_from(Organization))
            s.add(Organization(name=f"org {i}", slug=f"org-{i}"))
            await s.flush()
            await asyncio.sleep(0.01)

    await asyncio.gather(*(write(i) for i in range(20)))
    async with session_factory() as s:
        assert await s.scalar(select(func.count()).select_from(Organization)) == 20


async def test_each_test_database_starts_empty(session: AsyncSession) -> None:
    # Paired with the writers above: per-test copies (SQLite) and TRUNCATE (PostgreSQL) isolate.
    assert await session.scalar(select(func.count()).select_from(Organization)) == 0


async def _terminate(url: str, pid: int) -> None:
    admin = create_engine_for_url(url)
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_an_idle_postgres_connection_the_server_dropped_is_replaced_before_use(
    postgres_db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool pings a connection that sat idle before handing it out: a server restart or an
    idle-session reaper costs no request. Without the ping the SELECT below fails."""
    engine = create_engine_for_url(postgres_db_url)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await _terminate(postgres_db_url, pid)
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_postgres_connection_in_steady_use_is_not_pinged(
    postgres_db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ping is a round trip before a request's first statement: only idle connections pay it."""
    engine = create_engine_for_url(postgres_db_url)
    pings: list[object] = []
    dialect = engine.sync_engine.dialect
    real = dialect._do_ping_w_event

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real(dbapi_connection)  # type: ignore[arg-type]

    monkeypatch.setattr(dialect, "_do_ping_w_event", counted)
    try:
        for _ in range(5):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert pings == []
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        await engine.dispose()
