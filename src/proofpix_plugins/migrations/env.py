"""Alembic environment, run by :mod:`proofpix_plugins.migrations.runner` (never by an ini file).

The runner hands over an open connection in ``config.attributes["connection"]``; without one
(someone running Alembic's own commands with our config) an async engine is built from
``config.attributes["url"]``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from proofpix_plugins.migrations.runner import configure_context, create_migration_engine

config = context.config


def _run(connection: Connection) -> None:
    configure_context(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; migrate a live database")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    asyncio.run(_run_with_own_engine(config.attributes["url"]))
