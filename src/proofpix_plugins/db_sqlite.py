"""An aiosqlite connection that runs reads on the event loop instead of its worker thread.

aiosqlite hands every call (make a cursor, execute, fetch, close, commit, roll back) to the
connection's own thread and wakes the event loop when it is done: two context switches per call,
about six per read statement, and each costs far more than the read itself (tens to hundreds of
microseconds on a busy machine, against a few for a SELECT served from SQLite's page cache).

What runs on the loop is what cannot wait for a lock: in WAL mode a reader never waits for a
writer, so a SELECT (and the fetches and close of its cursor) returns as fast as SQLite reads its
pages; making a cursor, and a commit or rollback outside any transaction, do nothing. Everything
that can wait (the first write of a transaction takes the write lock, and may wait up to
``busy_timeout`` for another writer, who may be a coroutine of this very loop; a commit may
checkpoint) still runs on the thread, so the loop never blocks on a lock.

The price: a read that has to go to disk (a cold cache, a scan of a large table) now holds the
loop for as long, where the thread would have let other requests run beside it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_CURSOR_READS = frozenset({"fetchone", "fetchmany", "fetchall"})


class InlineReadConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        # Daemon, as SQLAlchemy makes aiosqlite's own: a leaked connection never hangs exit.
        self._thread.daemon = True
        self._reading: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()
        #: Calls handed to the thread and not yet finished there; the loop runs nothing while any.
        self._pending = 0
        self._pending_lock = threading.Lock()
        #: Calls run on the loop and on the thread (for tests and benchmarks).
        self.inline_calls = 0
        self.thread_calls = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inline = self._inline(fn, args)  # always: it keeps the cursor bookkeeping
        with self._pending_lock:
            idle = self._pending == 0
            if not (inline and idle):
                self._pending += 1
        if inline and idle:
            self.inline_calls += 1
            return fn(*args, **kwargs)
        # Counted from submission until the thread has finished it, however its awaiter ends:
        # a cancelled await (a request or task torn down mid-call) leaves the call running on the
        # thread, and a loop-side call beside it would be concurrent use of one sqlite3
        # connection ("Recursive use of cursors not allowed", seen once in CI at shutdown).
        self.thread_calls += 1
        return await super()._execute(self._counted, fn, args, kwargs)  # type: ignore[no-untyped-call]

    def _counted(self, fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            with self._pending_lock:
                self._pending -= 1

    def _inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        owner = getattr(fn, "__self__", None)
        name = getattr(fn, "__name__", "")
        if isinstance(owner, sqlite3.Cursor):
            if name == "execute":
                sql = args[0] if args else ""
                if isinstance(sql, str) and _READ.match(sql) and ";" not in sql:
                    self._reading.add(owner)
                    return True
                self._reading.discard(owner)
                return False
            if name in _CURSOR_READS:
                return owner in self._reading
            if name == "close":
                self._reading.discard(owner)
                return True
            return False
        if isinstance(owner, sqlite3.Connection):
            if name == "cursor":
                return True
            if name in ("commit", "rollback"):
                return not owner.in_transaction
        return False


def inline_read_creator(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """An ``async_creator`` for ``create_async_engine`` on the SQLite file at ``path``."""

    async def create() -> aiosqlite.Connection:
        # The loop thread uses the connection too (never at the same time as the worker).
        conn = InlineReadConnection(lambda: sqlite3.connect(path, check_same_thread=False))
        return await conn

    return create


class DataVersion:
    """``PRAGMA data_version`` of a database file, read on the loop from a connection of its own.

    The value changes whenever any other connection — of this process, of another process
    (``serve --workers``, the CLI) or hand-written SQL in the sqlite3 shell — committed a change
    to the file since the last call. It reads the WAL index's header in shared memory: a few
    microseconds, no lock waited for. Caches keyed on it are invalidated by every commit anywhere,
    at once.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    def __call__(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()

    @classmethod
    def for_url(cls, url: Any) -> DataVersion | None:
        """For a SQLite database file (None: another database, or one in memory)."""
        if url.get_backend_name() != "sqlite":
            return None
        path = url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return cls(path)
