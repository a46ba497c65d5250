"""Alembic migrations, packaged with the code so an installed wheel can migrate its database.

Run them from code, never with ``create_all``::

    from proofpix_plugins.migrations import upgrade_async
    await upgrade_async(settings)          # app startup
    upgrade("sqlite+aiosqlite:///x.db")    # CLI, fixtures (blocking)
    drift = check(settings)                # [] when models and migrations agree
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
