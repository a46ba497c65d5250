"""The jobs package's own background job: retention of finished jobs."""

from __future__ import annotations

from datetime import timedelta

from proofpix_plugins.db import session_scope
from proofpix_plugins.jobs.registry import JobContext, JobRegistry
from proofpix_plugins.jobs.repository import JobRepository
from proofpix_plugins.models.base import utcnow

PRUNE = "jobs.prune"


def register(registry: JobRegistry, *, retention: timedelta) -> None:
    """Hourly: delete succeeded jobs finished more than ``retention`` ago.

    Failed and dead jobs stay until an operator retries them: they are the evidence.
    """

    async def prune(ctx: JobContext) -> None:
        async with session_scope(ctx.session_factory) as session:
            await JobRepository(session).prune(finished_before=utcnow() - retention)

    registry.register(PRUNE, prune, max_attempts=3, every=timedelta(hours=1))
