"""Engines, session factories, and the two places that own a transaction.

Services never commit. An HTTP request's transaction belongs to :func:`get_session` (use it
through :data:`SessionDep`); everything else (CLI, background tasks, the plugin service outside a
request) wraps its work in :func:`session_scope`. Both commit when the block succeeds and roll
back when anything escapes it.

SQLite note: the driver's default transaction handling is kept on purpose: it opens a
transaction lazily at the first write, so read-only requests never take the write lock and
concurrent writers queue on ``busy_timeout`` instead of failing. The price is that SAVEPOINTs
(``session.begin_nested()``) are not reliable on SQLite: do not use them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from proofpix_plugins.config import Settings
from proofpix_plugins.db_sqlite import inline_read_creator
from proofpix_plugins.errors import ProofPixError

# How long a SQLite writer waits for the lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 15_000


class DatabaseConfigurationError(ProofPixError):
    """The database URL names a driver or form the platform does not support."""

    status = 500
    title = "Database Misconfigured"
    slug = "database-misconfigured"


def parse_database_url(url: str | URL) -> URL:
    """Parse and validate an async database URL (``sqlite+aiosqlite`` or ``postgresql+asyncpg``)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:
        raise DatabaseConfigurationError(
            "database URL is not a valid SQLAlchemy URL"
        ) from None
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseConfigurationError(
            f"unsupported database driver {parsed.drivername!r}: "
            "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
        )
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def create_engine_for_url(url: str | URL, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` with the per-database settings the platform relies on."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    engine = create_async_engine(
        parsed,
        echo=echo,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=20,
        pool_timeout=30,
        pool_recycle=1800,
    )
    _ping_when_idle(engine)
    return engine


#: A pooled PostgreSQL connection unused this long is pinged before a request gets it.
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Drop connections the server closed (a restart, an idle-session reaper, a failover) before
    a request gets them, as ``pool_pre_ping`` does, but only for connections that sat idle.

    ``pool_pre_ping`` pings on every checkout: a round trip before every request's first
    statement, half of a one-statement read (issue #11's metrics read). A connection in steady
    use needs no ping: if the server dropped it since its last use, the request using it fails
    with a disconnect (a 503, docs/reliability.md) and SQLAlchemy invalidates the whole pool, so
    the next request opens a fresh connection.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        # What pool_pre_ping calls: False for a disconnect, raises for anything else.
        if not dialect._do_ping_w_event(dbapi_connection):
            # As pre-ping does: the pool discards every connection older than this one and
            # checks out a fresh one (a dead idle connection means the server restarted).
            raise InvalidatePoolError("pooled connection dropped while idle")


#: Connections a pool keeps open once it has needed them (overflow ones are closed): a soak
#: sees the process's fds grow up to this many connections, and no further (bench/load.py).
SQLITE_POOL_SIZE = 20
POSTGRES_POOL_SIZE = 10


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if _is_memory_sqlite(url):
        # Every connection to :memory: is a new empty database: share one.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Kept open: an overflow connection is closed when returned, and opening one costs a
        # thread, a connect and four PRAGMAs; a request can hold two (its own and a broker's).
        kwargs["pool_size"] = SQLITE_POOL_SIZE
        kwargs["max_overflow"] = 10
        # Reads run on the event loop, not through aiosqlite's thread (see db_sqlite.py).
        kwargs["async_creator"] = inline_read_creator(url.database)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers run beside one writer; NORMAL sync is durable across app crashes.
            if not _is_memory_sqlite(url):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def create_engine(settings: Settings) -> AsyncEngine:
    """The engine for ``settings.resolved_database_url`` (SQLite in the data dir by default)."""
    return create_engine_for_url(settings.resolved_database_url)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: responses are shaped after the transaction ends.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


async def read_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection for a session that only reads: on PostgreSQL outside a
    transaction (AUTOCOMMIT), so each statement is one round trip instead of three (BEGIN, the
    statement, ROLLBACK). Elsewhere, or once the session has begun, its usual connection."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return await session.connection()


@asynccontextmanager
async def session_scope(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit if the block completes, roll back if anything escapes it."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: the request's session from ``app.state.session_factory``.

    Declare it through :data:`SessionDep` so it runs with ``scope="function"``: the commit
    happens before the response is sent, and a failed commit becomes an error response instead
    of a success the client already received.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with session_scope(factory) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
