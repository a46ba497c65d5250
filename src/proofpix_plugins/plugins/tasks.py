"""The plugins domain's background jobs: retention of per-minute call metrics.

``plugin_metrics`` gains one row per plugin and minute in which it was called; without
retention the table grows for ever (a busy organization: 1,440 rows a day per plugin). The
job runs hourly through the durable queue (``jobs/``), once per hour across every process.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import delete, select

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs.registry import JobContext, JobRegistry
from proofpix_plugins.models.base import utcnow
from proofpix_plugins.models.plugins import PluginMetric

METRICS_RETENTION = "plugins.metrics_retention"
#: Rows deleted per transaction, so a first run on a large table never holds a long lock.
BATCH = 10_000
#: Pause between batches: without it the next batch takes the write lock again at once, and on
#: SQLite a writer waiting in its busy handler (sleeping 1-100 ms between tries) rarely gets in,
#: so a first run over a large table starved every other write for its whole length.
BATCH_PAUSE_SECONDS = 0.05


def register(registry: JobRegistry, *, retention: timedelta) -> None:
    """Hourly: delete metric buckets that started more than ``retention`` ago."""

    async def prune(ctx: JobContext) -> None:
        cutoff = utcnow() - retention
        while True:
            async with session_scope(ctx.session_factory) as session:
                ids = select(PluginMetric.id).where(PluginMetric.bucket_start < cutoff).limit(BATCH)
                result = await session.execute(
                    delete(PluginMetric).where(PluginMetric.id.in_(ids.scalar_subquery()))
                    .execution_options(synchronize_session=False))
            if (result.rowcount or 0) < BATCH:  # type: ignore[attr-defined]
                return
            await asyncio.sleep(BATCH_PAUSE_SECONDS)

    registry.register(METRICS_RETENTION, prune, max_attempts=3, every=timedelta(hours=1))
