"""``INSERT … ON CONFLICT DO UPDATE`` on either engine: SQLite and PostgreSQL spell it the same,
but SQLAlchemy builds it from each dialect's own ``insert``.

An upsert is also how a read-modify-write is made safe here: it takes the row's lock on
PostgreSQL and the database's write lock on SQLite (whose driver opens the transaction at the
first write), so what the same transaction reads afterwards no concurrent writer can change
before it commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect's ``insert(table)``, which has ``on_conflict_do_update`` and ``excluded``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
