"""Alembic migrations, packaged with the code so an installed wheel can migrate its database.

Run them from code, never with ``create_all``::

    from proofpix_plugins.migrations import check, upgrade, upgrade_async
    await upgrade_async(settings)          # app startup (async)
    upgrade("sqlite+aiosqlite:///x.db")    # CLI, session-scoped fixtures (blocking)
    drift = check(settings)                # upgrade to head, then [] when models match

Adding a migration after a model change: migrate an empty database, then let Alembic compare::

    from proofpix_plugins.migrations import autogenerate_revision
    autogenerate_revision("postgresql+asyncpg://postgres@127.0.0.1:5432/scratch", "add x")

Review the generated file in ``versions/`` by hand: Alembic does not see renames, data moves
or changed CHECK constraints (such as a new enum value), so write those yourself. Then run
``ruff format`` on it and check both databases with ``proofpix-plugins db check``. A released
revision is never edited; until the first release, ``0001`` is regenerated the same way
(delete it, pass ``rev_id="0001"``, start from an empty database).
"""

from __future__ import annotations

from proofpix_plugins.migrations.runner import (
    autogenerate_revision,
    check,
    check_async,
    upgrade,
    upgrade_async,
)

__all__ = ["autogenerate_revision", "check", "check_async", "upgrade", "upgrade_async"]
