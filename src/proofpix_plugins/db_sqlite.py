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

Writers of one process queue on an asyncio lock per database file, taken at a transaction's
first write and released when it ends, instead of in SQLite's busy handler. That handler polls:
it sleeps 1, 2, 5 … 100 ms between tries, so under steady write traffic a waiting writer keeps
waking to find the lock taken again by someone who came later, and a short transaction can wait
half a second or more (the soak's upload-counter calls, docs/reliability.md). The lock hands the
write lock over in arrival order. It covers what SQLite's own write lock covers (from the first
write statement until the commit or rollback starts), so it adds no wait SQLite would not have
imposed; writers in other processes still meet at SQLite's lock.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
#: Statements that never take the write lock (a WITH may front an INSERT, so it counts as one).
_NO_WRITE = re.compile(r"\s*(SELECT|PRAGMA)\b", re.IGNORECASE)
_CURSOR_READS = frozenset({"fetchone", "fetchmany", "fetchall"})
_STATEMENTS = frozenset({"execute", "executemany", "executescript"})

#: How long a writer queues on the process's lock before it goes on to SQLite's own lock (and
#: its busy timeout) anyway: only a writer holding one connection's transaction open while it
#: writes on another could make it wait this long, and SQLite would refuse that one regardless.
WRITER_QUEUE_TIMEOUT_S = 5.0

_writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _ends_transaction(fn: Callable[..., Any]) -> bool:
    return (isinstance(getattr(fn, "__self__", None), sqlite3.Connection)
            and getattr(fn, "__name__", "") in ("commit", "rollback"))


def writer_lock(path: str) -> asyncio.Lock:
    """The running loop's lock for writers of the database file at ``path``."""
    locks = _writer_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(path)
    if lock is None:
        lock = locks[path] = asyncio.Lock()
    return lock


class InlineReadConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection],
                 path: str | None = None) -> None:
        super().__init__(connector, iter_chunk_size=64)
        #: The file whose writers queue together (None: no queue, SQLite's busy handler only).
        self._path = path
        #: The writer lock this connection holds for its open transaction, if any.
        self._held: asyncio.Lock | None = None
        #: Thread calls submitted so far, and the number of the first one the lock covers: a
        #: call queued before the write (and left running by a cancelled await) finishing
        #: outside a transaction says nothing about the transaction the write opens after it.
        self._submitted = 0
        self._held_from = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Writes that went on to SQLite's lock after queueing ``WRITER_QUEUE_TIMEOUT_S``.
        self.queue_timeouts = 0
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
        if self._path is not None and self._held is None and self._starts_write(fn, args):
            await self._queue_for_write()
        elif self._held is not None and _ends_transaction(fn):
            # Handed on as the commit (or rollback) starts, not when it returns: SQLite frees
            # its write lock at the end of the commit and may then run the auto-checkpoint
            # (copying the WAL into the database file) in this same call, which must not hold
            # up the next writer. That writer, if it gets to SQLite first, waits out the rest
            # of this commit in the busy handler: in WAL mode with synchronous=NORMAL a commit
            # does not sync, so that wait is well under a millisecond.
            self._release_write()
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
        self._submitted += 1
        return await super()._execute(  # type: ignore[no-untyped-call]
            self._counted, self._submitted, fn, args, kwargs)

    def _counted(self, number: int, fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            with self._pending_lock:
                self._pending -= 1
            # Here, on the thread, and not after the await: a cancelled await must not hand the
            # lock on while its statement still runs. Scheduled before aiosqlite wakes the
            # awaiter, so the release comes first.
            if (self._held is not None and number >= self._held_from
                    and not self._in_transaction()):
                self._release_soon()

    # the writer queue ------------------------------------------------------------
    def _starts_write(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        owner = getattr(fn, "__self__", None)
        if not isinstance(owner, sqlite3.Cursor) or getattr(fn, "__name__", "") not in _STATEMENTS:
            return False
        sql = args[0] if args else ""
        # Inside a transaction this connection already holds SQLite's write lock or has read
        # only so far; queueing then could wait on a writer who waits on us.
        return isinstance(sql, str) and not _NO_WRITE.match(sql) and not self._in_transaction()

    def _in_transaction(self) -> bool:
        conn = self._connection
        try:
            return conn is not None and conn.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False

    async def _queue_for_write(self) -> None:
        assert self._path is not None
        lock = writer_lock(self._path)
        try:
            await asyncio.wait_for(lock.acquire(), WRITER_QUEUE_TIMEOUT_S)
        except TimeoutError:
            self.queue_timeouts += 1
            return
        self._loop = asyncio.get_running_loop()
        self._held_from = self._submitted + 1  # the write, submitted next
        self._held = lock

    def _release_soon(self) -> None:
        """Release on the lock's loop, from any thread."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._release_write)
        except RuntimeError:  # the loop is closed, and its locks with it
            self._held = None

    def _release_write(self) -> None:
        lock, self._held = self._held, None
        if lock is not None:
            lock.release()

    def stop(self) -> asyncio.Future[Any] | None:
        # A forced close (SQLAlchemy terminating a connection) ends its transaction unseen by
        # ``_counted``; closing the sqlite3 connection rolls back and frees SQLite's lock.
        if self._held is not None:
            self._release_soon()
        return super().stop()

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
    real = os.path.realpath(path)  # one writer queue per file, however it is named

    async def create() -> aiosqlite.Connection:
        # The loop thread uses the connection too (never at the same time as the worker).
        conn = InlineReadConnection(lambda: sqlite3.connect(path, check_same_thread=False),
                                    real)
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
